"""The command line reports user errors in one line, before any training, without a traceback."""

import logging

import pytest
from helpers.frames import cohort

from cdmtehr.cli import main


@pytest.fixture()
def data(tmp_path):
    path = tmp_path / "data.csv"
    cohort(n_patients=4, length=3).to_csv(path, index=False)
    return path


def test_fit_checks_its_output_path_before_training(data, tmp_path, capsys, monkeypatch):
    from cdmtehr import synthesizer

    monkeypatch.setattr(synthesizer.CDMTSynthesizer, "fit", lambda *a, **k: pytest.fail("fit"))
    folder = tmp_path / "a_folder"
    folder.mkdir()
    code = main(["fit", str(data), "--id-col", "pid", "--time-col", "t", "--output", str(folder)])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot write the model" in err and "Traceback" not in err


def test_fit_reports_an_unwritable_folder_in_one_line(data, tmp_path, capsys, monkeypatch):
    from cdmtehr import cli

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", refuse)
    code = main(["fit", str(data), "--id-col", "pid", "--time-col", "t",
                 "--output", str(tmp_path / "out" / "m.cdmt")])
    assert code == 2
    assert "Permission denied" in capsys.readouterr().err


def test_a_count_that_is_not_a_number_is_a_user_error(tmp_path, capsys):
    code = main(["sample", str(tmp_path / "missing.cdmt"), "-n", "2", "--condition", "0:a",
                 "--output", str(tmp_path / "out.csv")])
    assert code == 2
    assert "not a whole number" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["sample", "forecast", "impute"])
def test_an_output_format_it_cannot_write_is_refused_before_any_work(
        command, data, tmp_path, capsys, monkeypatch):
    from cdmtehr import synthesizer

    monkeypatch.setattr(synthesizer.CDMTSynthesizer, "load",
                        lambda *a, **k: pytest.fail("loaded the model"))
    inputs = {"sample": ["-n", "2"], "forecast": [str(data)], "impute": [str(data)]}[command]
    output = tmp_path / "out.xlsx"
    code = main([command, str(tmp_path / "model.cdmt"), *inputs, "--output", str(output)])
    assert code == 2
    err = capsys.readouterr().err
    assert "use a .parquet or .csv file" in err and "Traceback" not in err
    assert not output.exists()


@pytest.mark.parametrize("option, wrong", [("--id-col", "patient"), ("--time-col", "hour")])
def test_a_wrong_column_name_gives_one_error_naming_it(
        option, wrong, data, tmp_path, capsys, caplog, recwarn):
    caplog.set_level(logging.INFO)
    roles = {"--id-col": "pid", "--time-col": "t", option: wrong}
    code = main(["fit", str(data), *(w for item in roles.items() for w in item), "--epochs", "1",
                 "--quiet", "--output", str(tmp_path / "m.cdmt")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("error") == 1 and f"'{wrong}'" in err
    assert len(err.strip().splitlines()) == 2  # the error and its one problem
    # Nothing said before it about roles inferred around the misspelt column.
    assert "Inferred roles" not in caplog.text + err
    assert not [w for w in recwarn if "column" in str(w.message)]


def test_csv_codes_read_back_as_numbers_are_the_fitted_levels():
    from cdmtehr.cli import _level_of

    # A CSV column of '0'/'1' codes with gaps comes back as floats.
    level_of = _level_of(["0", "1"])
    assert [level_of(v) for v in (1.0, 0.0, 1, "1", "x")] == ["1", "0", "1", "1", "x"]
