"""The documentation tells the truth: its code runs, its outputs are what it prints, its
command lines parse, its links resolve, and its generated parts match the code.

The code blocks of a page (```python and ```bash) run in page order in a temporary folder,
which stands in for a fresh clone after the README's setup: it holds links to the
repository's `.venv` and `examples/` and nothing else, so every file a command reads must be
written by an earlier block of the same page. Python blocks share one namespace (like a
notebook); a ```text block that follows a ```python block (nothing but blank lines between)
is that block's expected standard output. Bash blocks run line by line (``&&`` splits a
line); what is not run, and why, is in `run_command`. Training runs on a tiny budget: `fit`
is forced to one epoch of a tiny network, the bundled data is cut to a few dozen patients,
and sampling uses two solver steps, for the Python blocks and for the `.venv/bin/cdmtehr`
commands alike (those run in this process, so that the same budget applies; `--max-time 600`
stays as written); outputs shown in the docs therefore never depend on the training.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
TINY_FIT = {"epochs": 1, "max_time": None, "hidden_size": 8, "num_layers": 1}
N_PATIENTS = 60
# Pages whose code blocks run with the tiny budget; data.md runs on the full bundled data.
# Not run: benchmarks.md's blocks remake its figures on checkouts of earlier commits (hours
# of training), and api.md's are docstring examples.
TINY_PAGES = ["../README.md", "index.md", "getting_started.md", "hospital_export.md",
              "report.md", "privacy.md"]
EXACT_PAGES = ["data.md"]
SHELL = ("bash", "sh", "console")
# The README's setup, and its by-hand equivalent: creating .venv and installing into it is
# what the temporary folder takes as done (it links the repository's .venv).
SETUP = ("./scripts/setup.sh", "python -m venv .venv", ".venv/bin/pip install")


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


def shell_commands(code):
    """The commands of a bash block: continuation lines joined, comments dropped, and a line
    split at ``&&`` (each part must succeed, as the shell would require)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for raw in joined.splitlines():
        raw = raw.split(" #", 1)[0].strip()
        if raw and not raw.startswith("#"):
            commands += [part.strip() for part in raw.split("&&") if part.strip()]
    return commands


_COLLECTED = {}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_command(command, where):
    """Run one documented shell command in the folder `where`; fail with its output if it
    fails. Left out: the setup (`SETUP`). Rewritten: the test-suite commands collect the
    tests without running them (running the suite from inside it would take its whole time
    again), and the examples train on their tiny budget (CDMTEHR_QUICK=1)."""
    if command.startswith(SETUP):
        return
    words = shlex.split(command)
    if words[0] == ".venv/bin/cdmtehr":
        from cdmtehr.cli import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(words[1:])
        assert code == 0, f"'{command}' exited with {code}:\n{err.getvalue()[-3000:]}"
        return
    if words[:3] == [".venv/bin/python", "-m", "pytest"]:
        # The suite lives in the clone: collect it there.
        argv = tuple(words[3:])
        if argv not in _COLLECTED:
            _COLLECTED[argv] = subprocess.run(
                [sys.executable, "-m", "pytest", *argv, "--collect-only", "-q",
                 "-p", "no:cacheprovider"],
                cwd=ROOT, capture_output=True, text=True, timeout=300,
            )
        done = _COLLECTED[argv]
        assert done.returncode == 0, f"'{command}' does not collect:\n{done.stdout[-3000:]}"
        return
    if words[0] in (".venv/bin/torchrun", ".venv/bin/python"):
        env = {**os.environ, "CDMTEHR_QUICK": "1", "OMP_NUM_THREADS": "1",
               "PET_MASTER_PORT": str(_free_port())}
        done = subprocess.run(command, shell=True, cwd=where, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (
            f"'{command}' exited with {done.returncode}:\n{done.stderr[-3000:]}"
        )
        return
    pytest.fail(f"'{command}': the documentation test does not know how to run it; commands "
                "start with .venv/bin/ (as in the README) or are the setup")


def _as_clone(where):
    """Make `where` stand in for a fresh clone after the setup (see the module docstring)."""
    for name in (".venv", "examples"):
        link = Path(where) / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)


def run_page(name, commands=False):
    """Run the Python blocks of docs/`name` in order (and, with `commands`, the bash blocks
    between them, in the current folder); check the outputs shown after Python blocks."""
    namespace = {"__name__": "__docs__"}
    text = (DOCS / name).read_text(encoding="utf-8")
    kinds = ("python", *SHELL) if commands else ("python",)
    blocks = [b for b in code_blocks(text) if b[0] in kinds]
    assert blocks, f"{name} has no code blocks"
    if commands:
        _as_clone(Path.cwd())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lang, code, expected, line in blocks:
            if lang in SHELL:
                for command in shell_commands(code):
                    run_command(command, Path.cwd())
                continue
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
    """Train for one epoch of a tiny network on a few dozen patients; sample, forecast and
    impute in two steps."""
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

    # The command line reads its defaults from the estimator's signatures when first imported:
    # import it before they are patched, or a page run alone would see the wrappers'.
    importlib.import_module("cdmtehr.cli")
    fit, sample, to_parquet = (CDMTSynthesizer.fit, CDMTSynthesizer.sample,
                               CDMTSynthesizer.sample_to_parquet)

    def tiny_fit(self, *args, **kwargs):
        self.set_params(**TINY_FIT)
        return fit(self, *args, **kwargs)

    def few_steps(self, n, *args, steps=None, **kwargs):  # None: sample's own default
        return sample(self, n, *args, steps=min(steps or 2, 2), **kwargs)

    def few_patients(self, n, path, *, steps=8, condition=None, **kwargs):
        n = min(n, 300) if condition is None else n
        return to_parquet(self, n, path, steps=min(steps, 2), condition=condition, **kwargs)

    monkeypatch.setattr(cdmtehr.datasets, "load_physionet2012", small_load)
    monkeypatch.setattr(CDMTSynthesizer, "fit", tiny_fit)
    monkeypatch.setattr(CDMTSynthesizer, "sample", few_steps)
    monkeypatch.setattr(CDMTSynthesizer, "sample_to_parquet", few_patients)
    for name in ("forecast", "impute"):  # completion, as the command line calls it
        monkeypatch.setattr(CDMTSynthesizer, name, _few_steps(getattr(CDMTSynthesizer, name)))


def _few_steps(method):
    def wrapped(self, *args, steps=50, **kwargs):
        return method(self, *args, steps=min(steps, 2), **kwargs)

    return wrapped


@pytest.mark.slow
@pytest.mark.parametrize("page", TINY_PAGES)
def test_code_blocks_run(page, tiny_budget, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_page(page, commands=True)


def _pages():
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", _pages(), ids=lambda p: p.name)
def test_commands_call_the_virtual_environment(path):
    """As in the README: `.venv/bin/cdmtehr`, not a bare `cdmtehr` that is not on the PATH
    after the setup."""
    if path.name == "benchmarks.md":
        return  # its blocks run on checkouts of earlier commits, in their own environment
    for lang, code, _, line in code_blocks(path.read_text(encoding="utf-8")):
        if lang not in SHELL:
            continue
        for command in shell_commands(code):
            if command.startswith(SETUP):
                continue
            program = shlex.split(command)[0]
            assert program.startswith(".venv/bin/"), (
                f"{path.name}, block at line {line}: '{command}' calls {program!r}; call it "
                "from .venv/bin/, as the README does"
            )


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
        if lang not in SHELL:
            continue
        for command in shell_commands(code):
            for part in command.split(";"):
                words = shlex.split(part)
                if words and words[0].endswith("cdmtehr"):
                    commands.append((line, words[1:]))
    return commands


@pytest.mark.parametrize("path", _pages(), ids=lambda p: p.name)
def test_command_lines_parse(path):
    from cdmtehr.cli import build_parser

    parser = build_parser()
    for line, argv in _command_lines(path.read_text(encoding="utf-8")):
        try:
            parser.parse_args(argv)
        except SystemExit:  # argparse reports the error on stderr and exits
            pytest.fail(f"{path.name}, block at line {line}: 'cdmtehr {' '.join(argv)}' "
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
