"""The documentation tells the truth: its code runs, its outputs are what it prints, its
command lines parse, its links resolve, and its generated parts match the code.

Python blocks of a page run in order in one namespace (like a notebook) in a temporary folder.
A ```text block that follows a ```python block (nothing but blank lines between) is that
block's expected standard output. Training runs on a tiny budget: `fit` is forced to one epoch
of a tiny network, the bundled data is cut to a few dozen patients, and sampling uses two
solver steps; outputs shown in the docs therefore never depend on the training.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
TINY_FIT = {"epochs": 1, "max_time": None, "hidden_size": 8, "num_layers": 1}
N_PATIENTS = 60
# Pages whose Python blocks run with the tiny budget; data.md runs on the full bundled data.
TINY_PAGES = ["index.md", "getting_started.md", "report.md", "privacy.md"]
EXACT_PAGES = ["data.md"]


def _build_api_docs():
    path = ROOT / "tools" / "build_api_docs.py"
    spec = importlib.util.spec_from_file_location("build_api_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_blocks(text):
    """(language, code, expected output or None, line number) of each fenced block."""
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    blocks = []
    for i, (lang, code, start, end) in enumerate(found):
        expected = None
        if lang == "python" and i + 1 < len(found):
            next_lang, next_code, next_start, _ = found[i + 1]
            if next_lang == "text" and not text[end:next_start].strip():
                expected = next_code
        blocks.append((lang, code, expected, text.count("\n", 0, start) + 1))
    return blocks


def run_page(name):
    """Run the Python blocks of docs/`name` in order; check the outputs shown after them."""
    namespace = {"__name__": "__docs__"}
    text = (DOCS / name).read_text(encoding="utf-8")
    python = [b for b in code_blocks(text) if b[0] == "python"]
    assert python, f"{name} has no python blocks"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, code, expected, line in python:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"docs/{name}:{line}", "exec"), namespace)  # noqa: S102
            if expected is not None:
                assert out.getvalue().rstrip() == expected.rstrip(), (
                    f"docs/{name}, block at line {line}: the printed output differs from the "
                    f"text block after it.\n--- printed ---\n{out.getvalue()}"
                )


@pytest.fixture
def tiny_budget(monkeypatch):
    """Train for one epoch of a tiny network on a few dozen patients; sample in two steps."""
    import cdmtehr.datasets
    from cdmtehr import CDMTSynthesizer

    load = cdmtehr.datasets.load_physionet2012

    def small_load(path=None, **kwargs):
        out = load(path, **kwargs)
        df = out[0] if isinstance(out, tuple) else out
        keep = set(df["patient_id"].drop_duplicates().iloc[:N_PATIENTS])
        # And 16 patients who measure each variable: a model refuses a numeric column
        # that fewer than 5 of its training patients have (min_patients_per_value).
        for column in df.columns.drop(["patient_id", "hour"]):
            if df[column].dtype.kind == "f":
                keep |= set(df.loc[df[column].notna(), "patient_id"].drop_duplicates()[:16])
        df = df[df["patient_id"].isin(keep)].reset_index(drop=True)
        return (df, out[1]) if isinstance(out, tuple) else df

    fit, sample, to_parquet = (CDMTSynthesizer.fit, CDMTSynthesizer.sample,
                               CDMTSynthesizer.sample_to_parquet)

    def tiny_fit(self, *args, **kwargs):
        self.set_params(**TINY_FIT)
        return fit(self, *args, **kwargs)

    def few_steps(self, n, *args, steps=50, **kwargs):
        return sample(self, n, *args, steps=min(steps, 2), **kwargs)

    def few_patients(self, n, path, *, steps=50, condition=None, **kwargs):
        n = min(n, 300) if condition is None else n
        return to_parquet(self, n, path, steps=min(steps, 2), condition=condition, **kwargs)

    monkeypatch.setattr(cdmtehr.datasets, "load_physionet2012", small_load)
    monkeypatch.setattr(CDMTSynthesizer, "fit", tiny_fit)
    monkeypatch.setattr(CDMTSynthesizer, "sample", few_steps)
    monkeypatch.setattr(CDMTSynthesizer, "sample_to_parquet", few_patients)


@pytest.mark.slow
@pytest.mark.parametrize("page", TINY_PAGES)
def test_python_blocks_run(page, tiny_budget, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_page(page)


@pytest.mark.parametrize("page", EXACT_PAGES)
def test_python_blocks_print_what_the_page_says(page, tmp_path, monkeypatch):
    from cdmtehr.datasets import load_physionet2012

    # data.md loads "the full table" from a file: the bundled set a stands in for it.
    load_physionet2012().to_parquet(tmp_path / "physionet2012_long.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    run_page(page)


def test_api_reference_is_up_to_date():
    expected = _build_api_docs().render_api()
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == expected, "docs/api.md is out of date: run python tools/build_api_docs.py"


def test_score_table_matches_the_glossary():
    builder = _build_api_docs()
    current = (DOCS / "report.md").read_text(encoding="utf-8")
    assert builder.METRICS_START in current and builder.METRICS_END in current
    assert builder.render_report(current) == current, (
        "the score table of docs/report.md is out of date: run python tools/build_api_docs.py"
    )


def _command_lines(text):
    """Every `cdmtehr ...` command in the bash blocks, continuation lines joined."""
    commands = []
    for lang, code, _, line in code_blocks(text):
        if lang not in ("bash", "sh", "console"):
            continue
        joined = re.sub(r"\\\n\s*", " ", code)
        for raw in joined.splitlines():
            raw = raw.split(" #", 1)[0].strip()
            for part in re.split(r"&&|;", raw):
                words = shlex.split(part)
                if words and words[0].endswith("cdmtehr"):
                    commands.append((line, words[1:]))
    return commands


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_command_lines_parse(page):
    from cdmtehr.cli import build_parser

    parser = build_parser()
    for line, argv in _command_lines((DOCS / page).read_text(encoding="utf-8")):
        try:
            parser.parse_args(argv)
        except SystemExit:  # argparse reports the error on stderr and exits
            pytest.fail(f"docs/{page}, block at line {line}: 'cdmtehr {' '.join(argv)}' "
                        "does not parse")


def test_options_in_the_cli_table_exist():
    from cdmtehr.cli import build_parser

    parser = build_parser()
    known = set()
    for action in parser._subparsers._group_actions:  # the sub-commands
        for sub in action.choices.values():
            for option in sub._actions:
                known.update(option.option_strings)
    text = (DOCS / "getting_started.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `cdmtehr ")]
    assert rows
    mentioned = {flag for row in rows for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", row)}
    assert mentioned <= known, sorted(mentioned - known)


def _anchors(path):
    text = path.read_text(encoding="utf-8")
    text = FENCE.sub("", text)
    slug = _build_api_docs().slug
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_resolve(page):
    text = FENCE.sub("", (DOCS / page).read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        path = (DOCS / file).resolve() if file else DOCS / page
        if file == "benchmarks.md" and not path.exists():
            continue  # written by another hand; may not exist yet
        assert path.exists(), f"docs/{page} links to missing {file}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"docs/{page} links to missing anchor {target}"
