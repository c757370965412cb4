"""The command line introduces itself: --version, defaults in --help, a described demo."""

import pytest

from cdmtehr import __version__
from cdmtehr.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"cdmtehr {__version__}"


@pytest.mark.parametrize(
    "command, shown",
    [
        ("fit", ["(default: 300)", "(default: 600.0)", "(default: 0.1)", "(default: 10)"]),
        ("sample", ["(default: 50)", "(default: euler)", "(default: 1.0)"]),
        ("demo", ["(default: output)", "(default: 600.0)", "(default: 1000)"]),
    ],
)
def test_help_shows_the_defaults(command, shown, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per option
    text = build_parser()._subparsers._group_actions[0].choices[command].format_help()
    for default in shown:
        assert default in text
    assert "(default: None)" not in text


def test_demo_has_a_description():
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    assert "held out" in demo.description and "report.html" in demo.description


def test_demo_refuses_too_few_patients(capsys):
    assert main(["demo", "--patients", "12"]) == 2
    assert "--patients" in capsys.readouterr().err
