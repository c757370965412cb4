"""The command line introduces itself: --version, defaults in --help, a described demo; it reads
times written as text."""

import pandas as pd
import pytest

from cdmtehr import __version__
from cdmtehr.cli import _command_line_warning, _sampling_options, build_parser, main
from cdmtehr.exceptions import DataWarning


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"cdmtehr {__version__}"


@pytest.mark.parametrize(
    "command, shown",
    [
        ("fit", ["(default: 300)", "(default: 600.0)", "(default: 0.1)", "(default: 10)"]),
        ("sample", ["(default: 8 for sample, 50 for forecast and impute)",
                    "(default: dpmpp_2m for sample, euler for forecast and impute)",
                    "(default: 1.0)"]),
        ("demo", ["(default: output)", "(default: 600.0)", "(default: 1000)"]),
    ],
)
def test_help_shows_the_defaults(command, shown, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per option
    text = build_parser()._subparsers._group_actions[0].choices[command].format_help()
    for default in shown:
        assert default in text
    assert "(default: None)" not in text


def test_the_defaults_are_the_estimators():
    import inspect

    from cdmtehr import CDMTSynthesizer

    def defaults(function):
        return {name: p.default for name, p in inspect.signature(function).parameters.items()}

    estimator, fit = defaults(CDMTSynthesizer), defaults(CDMTSynthesizer.fit)
    args = build_parser().parse_args(["fit", "data.csv", "--id-col", "i", "--time-col", "t",
                                      "--output", "m.cdmt"])
    options = {"epochs": "epochs", "max_time": "max_time", "patience": "n_iter_no_change",
               "validation_fraction": "validation_fraction", "dp_delta": "dp_delta",
               "dp_epsilon": "dp_epsilon", "dp_max_grad_norm": "dp_max_grad_norm",
               "max_grad_norm": "max_grad_norm", "random_state": "random_state",
               "min_patients_per_value": "min_patients_per_value"}
    assert {name: getattr(args, name) for name in options} == {
        name: estimator[parameter] for name, parameter in options.items()
    }
    assert args.early_stopping is estimator["early_stopping"]
    assert args.no_profile is not estimator["profile"]
    assert (args.checkpoint, args.checkpoint_interval) == (
        fit["checkpoint_path"], fit["checkpoint_interval"]
    )
    for command, method, extra in [("sample", CDMTSynthesizer.sample, ["-n", "3"]),
                                   ("forecast", CDMTSynthesizer.forecast, ["prefix.csv"]),
                                   ("impute", CDMTSynthesizer.impute, ["data.csv"])]:
        args = build_parser().parse_args([command, "m.cdmt", *extra, "--output", "o.csv"])
        expected = defaults(method)
        for name in ("guidance_scale", "random_state", "n_draws", "horizon", "nan"):
            if hasattr(args, name):
                assert getattr(args, name) == expected[name], (command, name)
        # Steps and sampler are left to the method: only what the command line gives is passed.
        assert (args.steps, args.sampler) == (None, None)
        assert "steps" not in _sampling_options(args) and "sampler" not in _sampling_options(args)
    given = build_parser().parse_args(["impute", "m.cdmt", "data.csv", "--output", "o.csv",
                                       "--steps", "7", "--sampler", "heun"])
    assert _sampling_options(given)["steps"] == 7 and _sampling_options(given)["sampler"] == "heun"


def test_demo_has_a_description():
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    assert "held out" in demo.description and "report.html" in demo.description


def test_demo_refuses_too_few_patients(capsys):
    assert main(["demo", "--patients", "12"]) == 2
    assert "--patients" in capsys.readouterr().err


def test_times_read_from_text():
    from cdmtehr.cli import _text_to_times

    naive = pd.Series(["2024-03-09 23:00:00", "2024-03-10 01:30:00"])
    aware = pd.Series(["2024-03-09 23:00:00-05:00", "2024-03-10 04:00:00-04:00"])
    new_york = pd.DatetimeTZDtype("ns", "America/New_York")

    assert _text_to_times(naive).dtype.kind == "M" and _text_to_times(naive).dt.tz is None
    assert str(_text_to_times(aware).dt.tz) == "UTC"
    as_fitted = _text_to_times(aware, new_york)
    assert as_fitted.dtype == new_york
    assert list(as_fitted.dt.hour) == [23, 4]  # the zone's clock, across the DST change
    assert _text_to_times(pd.Series(["0 days 01:00:00", "1 days"])).dtype.kind == "m"
    text = pd.Series(["admission", "day 2"])
    assert _text_to_times(text) is text


def test_warnings_read_as_the_command_s_own_lines():
    line = _command_line_warning("fit")("2 columns are static", DataWarning, "x.py", 3, "code")

    assert line == "cdmtehr fit: DataWarning: 2 columns are static\n"
