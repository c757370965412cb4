"""The command line: fit, sample, evaluate on parquet and CSV files; exit code 2 on bad input."""

import json

import pandas as pd
import pytest

from cdmtehr.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory, physionet_small):
    folder = tmp_path_factory.mktemp("cli")
    small = physionet_small[0][
        ["patient_id", "hour", "HR", "MAP", "Temp", "Age", "ICUType", "in_hospital_death"]
    ]
    small.to_parquet(folder / "real.parquet", index=False)
    small.to_csv(folder / "real.csv", index=False)
    return folder


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_fit_sample_evaluate(files, suffix, capsys):
    model = files / f"model_{suffix}.cdmt"
    roles = ["--id-col", "patient_id", "--time-col", "hour"]
    code = main([
        "fit", str(files / f"real.{suffix}"), *roles, "--static-cols", "Age", "ICUType",
        "--condition-col", "in_hospital_death", "--epochs", "1", "--max-time", "60",
        "--random-state", "0", "--quiet", "--output", str(model),
    ])
    assert code == 0 and model.exists()
    out = files / f"synthetic.{suffix}"
    assert main(["sample", str(model), "-n", "12", "--condition", "0:5,1:7", "--steps", "3",
                 "--random-state", "1", "--output", str(out)]) == 0
    synthetic = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
    assert synthetic["patient_id"].nunique() == 12
    assert sorted(synthetic.groupby("patient_id")["in_hospital_death"].first()) == [0] * 5 + [1] * 7
    report = files / f"report_{suffix}.html"
    capsys.readouterr()
    assert main(["evaluate", str(files / f"real.{suffix}"), str(out), "--model", str(model),
                 "--report", str(report)]) == 0
    printed = capsys.readouterr()
    scores = json.loads(printed.out)  # the scores alone on stdout
    assert report.exists() and "disc_auroc" in scores
    headline = printed.err.splitlines()[0]
    assert headline.startswith("headline: ") and "--baseline" in headline
    assert f" discriminator AUROC {scores['disc_auroc']:.3f}, against " in headline


@pytest.mark.slow
def test_evaluate_with_a_baseline_prints_and_reports_each_floor(files, tmp_path, capsys):
    real = files / "real.parquet"
    roles = ["--id-col", "patient_id", "--time-col", "hour", "--static-cols", "Age", "ICUType",
             "--condition-col", "in_hospital_death"]
    report = tmp_path / "report.html"
    assert main(["evaluate", str(real), str(real), *roles, "--baseline",
                 "--report", str(report)]) == 0
    printed = capsys.readouterr()
    scores = json.loads(printed.out)
    floor = scores["real_vs_real"]["disc_summary_auroc"]
    assert f"summary discriminator AUROC {scores['disc_summary_auroc']:.3f} " \
        f"(real vs real {floor:.3f})" in printed.err
    assert "against the real training patients (no holdout given)" in printed.err
    page = report.read_text(encoding="utf-8")
    assert "<th>real vs real</th>" in page and "(real vs real " in page


@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_datetime_times_read_from_a_csv(physionet_small, tmp_path, tz, capsys):
    small = physionet_small[0][["patient_id", "hour", "HR", "Age", "in_hospital_death"]].copy()
    admitted = pd.Timestamp("2024-03-01", tz=tz) + pd.to_timedelta(
        small["patient_id"].rank(method="dense") * 7, unit="h")
    small["charttime"] = admitted + pd.to_timedelta(small["hour"], unit="h")
    small = small.drop(columns="hour")
    small.to_csv(tmp_path / "stays.csv", index=False)  # times become text
    roles = ["--id-col", "patient_id", "--time-col", "charttime", "--static-cols", "Age",
             "--condition-col", "in_hospital_death"]
    model, out = tmp_path / "model.cdmt", tmp_path / "synthetic.csv"

    assert main(["fit", str(tmp_path / "stays.csv"), *roles, "--epochs", "1", "--quiet",
                 "--random-state", "0", "--output", str(model)]) == 0
    assert main(["sample", str(model), "-n", "12", "--steps", "3", "--output", str(out)]) == 0
    assert main(["evaluate", str(tmp_path / "stays.csv"), str(out), "--model", str(model)]) == 0

    from cdmtehr import CDMTSynthesizer

    # A CSV keeps each time's offset, not its zone's name: aware times come back in UTC.
    read_as = small["charttime"] if tz is None else small["charttime"].dt.tz_convert("UTC")
    assert CDMTSynthesizer.load(model).preprocessor_.time_grid_.dtype_ == read_as.dtype
    times = pd.to_datetime(pd.read_csv(out)["charttime"], format="ISO8601", utc=True)
    first = admitted.min().tz_localize("UTC") if tz is None else admitted.min()
    assert times.notna().all() and times.min() >= first - pd.Timedelta("7D")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "missing.parquet", "--id-col", "a", "--time-col", "b", "--output", "m"],
         "No such file"),
        (["fit", "{real}", "--id-col", "nope", "--time-col", "hour", "--epochs", "1",
          "--output", "{folder}/m.cdmt"], "nope"),
        (["sample", "{real}", "-n", "3", "--output", "{folder}/x.parquet"], "not a cdmtehr model"),
        (["evaluate", "{real}", "{real}"], "--id-col"),
    ],
)
def test_bad_input_exits_with_code_2(files, argv, message, capsys):
    argv = [a.format(real=files / "real.parquet", folder=files) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_fit_with_early_stopping(files, capsys):
    model = files / "model_early.cdmt"
    code = main([
        "fit", str(files / "real.parquet"), "--id-col", "patient_id", "--time-col", "hour",
        "--static-cols", "Age", "ICUType", "--epochs", "3", "--early-stopping",
        "--validation-fraction", "0.2", "--patience", "1", "--random-state", "0",
        "--output", str(model),
    ])
    assert code == 0
    from cdmtehr import CDMTSynthesizer

    losses = CDMTSynthesizer.load(model).get_loss_values()
    assert len(losses) == 3 and losses["val_loss"].notna().all()
    assert "no_change=0/1" in capsys.readouterr().err  # the held-out loss still falls


@pytest.fixture
def tiny_files(tmp_path, tiny_conditional):
    df = tiny_conditional[0]
    df.to_csv(tmp_path / "stays.csv", index=False)
    df[df["t"] == 0].to_parquet(tmp_path / "prefix.parquet", index=False)
    return tmp_path, df


def test_forecast_writes_the_draws(tiny_model_file, tiny_files, capsys):
    folder, df = tiny_files
    out = folder / "future.csv"
    assert main(["forecast", str(tiny_model_file), str(folder / "prefix.parquet"), "--horizon",
                 "2", "--n-draws", "3", "--steps", "2", "--random-state", "0", "--output",
                 str(out)]) == 0
    future = pd.read_csv(out)
    assert sorted(future["draw"].unique()) == [0, 1, 2] and len(future) == 3 * 6 * 3
    assert "3 forecast(s) of 6 patients" in capsys.readouterr().out


def test_impute_by_mask_file_and_by_unknown_value(tiny_model_file, tiny_files, capsys):
    folder, df = tiny_files
    marked = df.assign(x=df["x"].where(df["t"] != 1, -1.0))
    marked.to_csv(folder / "marked.csv", index=False)
    out = folder / "imputed.parquet"
    assert main(["impute", str(tiny_model_file), str(folder / "marked.csv"), "--unknown-value",
                 "-1", "--steps", "2", "--random-state", "0", "--output", str(out)]) == 0
    imputed = pd.read_parquet(out)
    assert (imputed["x"] != -1).all() and imputed["x"].notna().all()
    assert "6 cells drawn 1 time(s)" in capsys.readouterr().out
    pd.DataFrame({"x": df["t"] == 2}).to_csv(folder / "mask.csv", index=False)
    assert main(["impute", str(tiny_model_file), str(folder / "stays.csv"), "--mask",
                 str(folder / "mask.csv"), "--steps", "2", "--output", str(out)]) == 0
    imputed = pd.read_parquet(out)
    unchanged = (df["t"] != 2).to_numpy()
    assert imputed.loc[unchanged, "x"].tolist() == df.loc[unchanged, "x"].tolist()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mask", "{folder}/short.csv"], "has 2 rows; the data has 18"),
        (["--mask", "{folder}/words.csv"], "must hold true/false"),
        (["--nan", "sometimes"], None),
    ],
)
def test_impute_bad_masks_exit_with_code_2(tiny_model_file, tiny_files, extra, message, capsys):
    folder, _ = tiny_files
    pd.DataFrame({"x": [True, False]}).to_csv(folder / "short.csv", index=False)
    pd.DataFrame({"x": ["maybe"] * 18}).to_csv(folder / "words.csv", index=False)
    argv = ["impute", str(tiny_model_file), str(folder / "stays.csv"), "--output",
            str(folder / "o.csv"), *[a.format(folder=folder) for a in extra]]
    if message is None:
        with pytest.raises(SystemExit):  # argparse refuses an unknown choice
            main(argv)
        return
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_forecast_of_a_too_long_prefix_exits_with_code_2(tiny_model_file, tiny_files, capsys):
    folder, _ = tiny_files
    assert main(["forecast", str(tiny_model_file), str(folder / "stays.csv"), "--horizon", "1",
                 "--output", str(folder / "f.csv")]) == 2
    assert "minus the horizon of 1" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_with_differential_privacy_reports_the_epsilon(files, capsys):
    pytest.importorskip("opacus")
    model, report = files / "model_dp.cdmt", files / "report_dp.html"
    code = main([
        "fit", str(files / "real.parquet"), "--id-col", "patient_id", "--time-col", "hour",
        "--static-cols", "Age", "ICUType", "--epochs", "2", "--dp-epsilon", "2",
        "--random-state", "0", "--quiet", "--output", str(model),
    ])
    assert code == 0
    assert "differentially private: epsilon" in capsys.readouterr().out
    assert main(["evaluate", str(files / "real.parquet"), str(files / "real.parquet"),
                 "--holdout", str(files / "real.parquet"), "--model", str(model),
                 "--report", str(report)]) == 0
    assert "Trained with differential privacy" in report.read_text()


def test_differential_privacy_without_opacus_says_the_pip_command(files, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "opacus", None)
    code = main(["fit", str(files / "real.parquet"), "--id-col", "patient_id", "--time-col",
                 "hour", "--dp-epsilon", "1", "--output", str(files / "never.cdmt")])
    assert code == 2 and 'pip install "cdmtehr[privacy]"' in capsys.readouterr().err
