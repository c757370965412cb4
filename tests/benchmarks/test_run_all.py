"""docs/benchmarks.md is the page that benchmarks/run_all.py renders from the saved results,
and every command it gives names a file that exists where the command runs."""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
DOCS = ROOT / "docs" / "benchmarks.md"
# A file a command runs or reads: a path of the repository ending in .py, .txt or .patch,
# optionally as COMMIT:PATH (``git show COMMIT:PATH``).
FILE = re.compile(r"(?:\b([0-9a-f]{7,40}):)?(?<![\w/.-])((?:benchmarks|cdmtehr|scripts|tests)"
                  r"/[\w./-]+\.(?:py|txt|patch))")
# Modules of benchmarks/ that are not scripts of their own.
NOT_SCRIPTS = {"ddpm_baseline.py"}


@pytest.fixture(scope="module")
def run_all():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("run_all")
    finally:
        sys.path.remove(str(BENCHMARKS))


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def has_history(commits):
    """Whether git can read these commits here (a shallow clone or an export cannot)."""
    try:
        return all(git("cat-file", "-e", f"{c}^{{commit}}").returncode == 0 for c in commits)
    except OSError:
        return False


def files_named(command, commit=None):
    """(commit or None for the tree, path) of each file a command names."""
    return [(pinned or commit, path) for pinned, path in FILE.findall(command)]


def commands_by_commit(run_all):
    """(commit or None, command) of every design-choice row and every section's remake."""
    data = run_all.design_choices()
    found = []
    for row in data["rows"]:
        for step in row["commands"]:
            for command in step["run"]:
                found.append((step.get("commit"), run_all.expand(command, data["definitions"])))
    for section in run_all.SECTIONS:
        for command in section.before.get("remake", []):
            found.append((section.before["commit"], command))
    for spec in run_all.RUNS:
        for args in (spec.full, spec.quick or []):
            found.append((None, " ".join(args)))
    return found


def test_the_page_is_rendered_from_the_results(run_all):
    assert DOCS.read_text() == run_all.render(), (
        "docs/benchmarks.md differs from what its results give; it is written only by "
        "`python benchmarks/run_all.py` (`--render-only` rewrites it from benchmarks/results/)")


def test_every_design_choice_has_a_command(run_all):
    data = run_all.design_choices()
    assert data["rows"]
    for row in data["rows"]:
        assert row["choice"].strip() and row["evidence"].strip(), row
        assert row["commands"], f"{row['choice']}: no command"
        for step in row["commands"]:
            assert step["run"] and all(c.strip() for c in step["run"]), row["choice"]
            for command in step["run"]:
                names = set(re.findall(r"\$(\w+)", command))
                assert names <= set(data["definitions"]), f"{command}: undefined {names}"


def test_commands_of_the_tree_name_files_of_the_tree(run_all):
    missing = [f"{path} (in `{command}`)"
               for commit, command in commands_by_commit(run_all)
               for pinned, path in files_named(command, commit)
               if pinned is None and not (ROOT / path).is_file()]
    assert not missing, "commands name files the tree lacks:\n" + "\n".join(missing)


def test_commands_at_a_commit_name_files_of_that_commit(run_all):
    named = [(pinned, path, command) for commit, command in commands_by_commit(run_all)
             for pinned, path in files_named(command, commit) if pinned is not None]
    assert named
    if not has_history({pinned for pinned, _, _ in named}):
        pytest.skip("git history is not available here (shallow clone or no git)")
    missing = [f"{pinned}:{path} (in `{command}`)" for pinned, path, command in named
               if git("cat-file", "-e", f"{pinned}:{path}").returncode != 0]
    assert not missing, "commands name files their commit lacks:\n" + "\n".join(missing)


def test_no_command_on_the_page_names_a_missing_script(run_all):
    at_commits = {path for commit, command in commands_by_commit(run_all)
                  for pinned, path in files_named(command, commit) if pinned is not None}
    spans = re.findall(r"`([^`\n]+)`", DOCS.read_text())
    missing = sorted({path for span in spans for _, path in files_named(span)
                      if not (ROOT / path).is_file() and path not in at_commits})
    assert not missing, f"the page names scripts that nothing provides: {missing}"
    assert "CDMT_PROFILE" not in "\n".join(s for s in spans if "profile_probe.py" not in s)


def test_every_script_is_run_and_every_result_has_a_section(run_all):
    listed = git("ls-files", "benchmarks/*.py")
    scripts = ({Path(p).name for p in listed.stdout.split()} if listed.returncode == 0
               else {p.name for p in BENCHMARKS.glob("*.py")})
    scripts = {s for s in scripts if not s.startswith("_")} - NOT_SCRIPTS - {"run_all.py"}
    run = {Path(spec.full[0]).name for spec in run_all.RUNS}
    assert scripts <= run, f"scripts that run_all.py does not run: {sorted(scripts - run)}"
    outputs = {spec.output for spec in run_all.RUNS if spec.output}
    read = {f"{s.name}.json" for s in run_all.SECTIONS if s.name != "backbone_probe"}
    read |= {file for _, file in run_all.BACKBONES}
    assert outputs <= read, f"results no section shows: {sorted(outputs - read)}"
    for spec in run_all.RUNS:
        assert spec.quick is not None or spec.why, f"{spec.full}: no quick run and no reason"


def test_a_section_without_results_says_so_and_a_stamped_one_names_its_commit(run_all,
                                                                             tmp_path):
    section = next(s for s in run_all.SECTIONS if s.name == "data_layer")
    empty = "\n".join(run_all.section_lines(section, tmp_path))
    assert "Not measured yet." in empty
    result = json.loads((BENCHMARKS / "results" / "data_layer.json").read_text())
    result.update(commit="abc1234", date="2030-01-01")
    (tmp_path / "data_layer.json").write_text(json.dumps(result))
    text = "\n".join(run_all.section_lines(section, tmp_path))
    assert "commit `abc1234` (2030-01-01)" in text and "Remake" not in text
    assert "<!-- data_layer:start -->" in text and "| stage |" in text


def test_check_mode_compares_without_writing(run_all, capsys):
    before = DOCS.read_text()
    assert run_all.main(["--check"]) == 0
    assert DOCS.read_text() == before
    assert "up to date" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["physionet_cpu.py", "--quick"],
    ["robustness_memory.py", "--steps", "10", "--long", "100"],
], ids=["physionet_cpu", "robustness_memory"])
def test_quick_runs_that_run_all_adds_leave_the_docs_alone(run_all, tmp_path, args):
    spec = next(s for s in run_all.RUNS if s.quick and Path(s.quick[0]).name == args[0])
    assert spec.quick[1:] == args[1:], "the quick command run_all.py runs"
    output = tmp_path / "result.json"
    before = DOCS.read_text()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / args[0]), *args[1:], "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert DOCS.read_text() == before, "a quick run never touches docs/benchmarks.md"
    result = json.loads(output.read_text())
    assert result["command"] and result["machine"]
    if "cases" in result:
        assert {case["kind"] for case in result["cases"]} == {"load", "fit_long", "sample"}
    else:
        assert result["quick"] is True and 0 <= result["scores"]["disc_summary_auroc"] <= 1
