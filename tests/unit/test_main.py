"""``python -m cdmtehr`` runs the command line with the process's arguments and exit status."""

import runpy
import sys

import pytest

import cdmtehr
import cdmtehr.cli


def run_module(monkeypatch, *argv):
    """Run ``python -m cdmtehr *argv`` in this process; return the SystemExit it raises."""
    monkeypatch.setattr(sys, "argv", ["python -m cdmtehr", *argv])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("cdmtehr", run_name="__main__")
    return exit_info.value


def test_version(monkeypatch, capsys):
    assert run_module(monkeypatch, "--version").code == 0
    assert capsys.readouterr().out.strip() == f"cdmtehr {cdmtehr.__version__}"


def test_exit_status_and_arguments_are_those_of_the_command_line(monkeypatch):
    seen = []

    def main():
        seen.append(sys.argv[1:])
        return 3

    monkeypatch.setattr(cdmtehr.cli, "main", main)
    assert run_module(monkeypatch, "sample", "model.cdmt").code == 3
    assert seen == [["sample", "model.cdmt"]]


def test_an_unknown_command_is_a_usage_error(monkeypatch, capsys):
    assert run_module(monkeypatch, "no-such-command").code == 2
    assert "no-such-command" in capsys.readouterr().err
