"""Smoke tests of the benchmark scripts (their --quick mode) and of the DDPM baseline."""

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
DOCS = ROOT / "docs" / "benchmarks.md"
SDV_PYTHON = os.environ.get("CDMTEHR_SDV_PYTHON")


def run_quick(script, tmp_path, *extra, section=None):
    """Run `benchmarks/<script> --quick` in a subprocess; return its JSON result and stdout.

    `section` names the script's docs section when it is not the script's name.
    """
    output = tmp_path / f"{Path(script).stem}.json"
    docs_before = DOCS.read_text() if DOCS.exists() else None
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--output", str(output), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=170,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    docs_after = DOCS.read_text() if DOCS.exists() else None
    assert docs_after == docs_before, "quick mode must never touch docs/benchmarks.md"
    result = json.loads(output.read_text())
    assert result["quick"] is True
    check_docs_section(Path(script).stem, result, tmp_path, section)
    return result, done.stdout


def rows_of(table):
    """The rows of a saved table (`_common.table_to_json`) as dicts."""
    return [dict(zip(table["columns"], row)) for row in table["rows"]]


def benchmark_module(name):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        # _common imports from physionet_cpu, which imports _common: _common goes first.
        importlib.import_module("_common")
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def check_docs_section(name, result, tmp_path, section=None):
    """The full-run docs writer works on this result, into a scratch copy of the docs."""
    section = section or name
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n")
    module = benchmark_module(name)
    module.write_docs(result, docs)
    module.write_docs(result, docs)  # a second run replaces the section, never appends
    text = docs.read_text()
    assert text.count(f"<!-- {section}:start -->") == 1
    assert text.count(f"<!-- {section}:end -->") == 1
    assert "keep me" in text and result["command"] in text and "|---|" in text


@pytest.mark.slow
def test_peers_quick(tmp_path):
    result, stdout = run_quick("peers.py", tmp_path)
    methods = result["methods"]
    for label in ("cdmtehr", "DDPM 1000-step"):
        assert 0 <= methods[label]["scores"]["disc_auroc"] <= 1
        assert methods[label]["sampling_ms_per_patient"] > 0
    par = methods["PAR (SDV)"]
    if SDV_PYTHON and Path(SDV_PYTHON).exists():
        assert "skipped" not in par, par.get("skipped")
        assert par["epochs"] == 1 and "ks_mean" in par["scores"]
    else:
        assert "skipped" in par
    assert "real vs real (floor)" in stdout


def test_peers_full_run_without_sdv_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.delenv("CDMTEHR_SDV_PYTHON", raising=False)
    module = benchmark_module("peers")
    with pytest.raises(SystemExit):
        module.main(["--max-time", "1"])
    message = capsys.readouterr().err
    assert "--sdv-python" in message and "CDMTEHR_SDV_PYTHON" in message
    assert "--skip par" in message


@pytest.mark.slow
def test_steps_sweep_quick(tmp_path):
    result, _ = run_quick("steps_sweep.py", tmp_path)
    runs = result["runs"]
    assert {r["sampler"] for r in runs} == {"euler", "heun", "dpmpp_2m"}
    # Two steps of DPM-Solver++(2M) are two Euler steps (first and last steps are first order).
    by_sampler = {r["sampler"]: r for r in runs}
    assert by_sampler["dpmpp_2m"]["solver_error"] == by_sampler["euler"]["solver_error"]
    for run in runs:  # Heun at N steps: 2N - 1 network evaluations
        assert run["evaluations"] == run["expected_evaluations"]
        assert set(run["scores"]) == {"disc_summary_auroc", "disc_sequence_auroc", "ks_mean"}
        assert set(run["solver_error"]) == {"value_error", "mask_disagreement"}
    assert "evaluation_count_mismatch" not in result
    # Every candidate is scored against the reference cohort, beside a second one (the floor).
    assert result["reference"]["steps"] > max(r["steps"] for r in runs)
    assert 0 <= result["floor"]["scores"]["disc_sequence_auroc"] <= 1
    assert result["candidate_seed"] not in (result["reference"]["seed"], result["floor"]["seed"])


@pytest.mark.slow
def test_ablations_quick(tmp_path):
    result, _ = run_quick("ablations.py", tmp_path)
    assert set(result["models"]) == set(benchmark_module("ablations").MODELS)
    single = result["models"]["single stage (the paper's model)"]
    assert single["parameters"] == {"profile": False}
    for entry in result["models"].values():
        assert 0 <= entry["scores"]["disc_sequence_masks_auroc"] <= 1
    assert set(result["guidance"]) == {"1.0", "2.0", "3.0"}
    for entry in result["guidance"].values():
        assert 0 <= entry["mean_risk"] <= 1


@pytest.mark.slow
def test_speed_quick(tmp_path):
    result, _ = run_quick("speed.py", tmp_path)
    assert result["flops_per_patient_per_evaluation"] > 0
    assert result["matmul"]["gflops_per_second"] > 0
    streams = result["streaming"]["runs"]
    assert [s["n"] for s in streams] == [0, 10, 100, 1000]
    assert [s["rows"] for s in streams[1:]] == [480, 4800, 48000]
    # Flat memory: 100x the patients may not cost 100x the memory (generous bound).
    assert streams[-1]["peak_rss_mb"] < 1.5 * streams[1]["peak_rss_mb"]


@pytest.mark.slow
def test_separating_features_quick_with_a_saved_model(tmp_path):
    model = tmp_path / "default.cdmt"
    fitted, _ = run_quick("separating_features.py", tmp_path, "--save-model", str(model))
    reused, stdout = run_quick("separating_features.py", tmp_path, "--model", str(model))
    assert "loading" in stdout and "fitting" not in stdout
    assert fitted["tables"] == reused["tables"]  # same model, same seed: the same patients
    ranking = reused["tables"]["ranking"]
    column = ranking["columns"].index("auroc_alone")
    values = [row[column] for row in ranking["rows"]]
    assert values == sorted(values, reverse=True) and all(0.5 <= v <= 1 for v in values)
    groups = {row[0]: row for row in reused["tables"]["groups"]["rows"]}
    assert {"all", "mean", "sd", "measured share", "statics and length"} <= set(groups)
    auroc = reused["tables"]["groups"]["columns"].index("auroc_alone")
    assert all(0 <= row[auroc] <= 1 for row in groups.values())
    schedule = reused["tables"]["schedule"]
    never = [schedule["columns"].index(c) for c in ("never_real", "never_synthetic")]
    assert schedule["rows"] and all(0 <= row[i] <= 1 for row in schedule["rows"] for i in never)


@pytest.mark.slow
@pytest.mark.parametrize("cohort", ["setb", "variable"])
def test_generalization_quick(tmp_path, cohort):
    result, stdout = run_quick("generalization.py", tmp_path, "--cohort", cohort,
                               section=f"generalization_{cohort}")
    assert result["cohort"] == cohort
    assert (result["n_train"], result["n_test"]) == (40, 20)
    assert 0 <= result["scores"]["disc_auroc"] <= 1 and "ks_mean" in result["real_vs_real"]
    yardstick = ("disc_summary_auroc", "disc_sequence_auroc", "disc_sequence_masks_auroc")
    assert all(0 <= row[name] <= 1 for row in rows_of(result["tables"]["scores"])
               for name in yardstick)
    lengths = result["lengths"]
    assert 0 <= lengths["ks"] <= 1 and "Stay lengths" in stdout
    if cohort == "setb":
        assert lengths["real_test"]["min"] == lengths["synthetic"]["max"] == 48
    else:
        assert 12 <= lengths["real_test"]["min"] <= lengths["real_test"]["max"] <= 48
        assert lengths["synthetic"]["min"] < lengths["synthetic"]["max"]  # lengths vary


# -- DDPM baseline (fast) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ddpm():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import ddpm_baseline
    finally:
        sys.path.remove(str(BENCHMARKS))
    return ddpm_baseline


class _Layout:
    n_features = 3


def test_cosine_schedule_levels(ddpm):
    schedule = ddpm.DiscreteCosineSchedule(_Layout())
    sigma = schedule.level_sigma
    assert sigma.shape == (1000,) and bool((sigma.diff() > 0).all())
    # abar_t = 1 / (1 + sigma_t^2): the VP / VE correspondence.
    assert torch.allclose(schedule.alpha_bar, 1 / (1 + sigma**2))
    u = torch.tensor([0.0, 0.0005, 0.001, 0.5, 0.9999])
    assert schedule.step(u).tolist() == [1, 1, 2, 501, 1000]
    assert schedule.sigma(u).shape == (5, 3)
    grid = schedule.sigma_grid(1000)
    assert grid.shape == (1001, 3) and grid[-1].eq(0).all()
    assert torch.equal(grid[:-1, 0], sigma.flip(0))
    assert schedule.sigma_grid(50).shape == (51, 3)
    assert float(schedule.loss(grid, None, None)) == 0.0


def test_sde_step_is_the_ddpm_posterior(ddpm):
    """sample_sde(eta=1) between two levels draws from DDPM's q(x_{t-1} | x_t, x0)."""
    from cdmtehr.sampling import sample_sde

    alpha_bar = ddpm.cosine_alpha_bar()
    t = 400
    a_t, a_prev = alpha_bar[t - 1], alpha_bar[t - 2]
    beta = 1 - a_t / a_prev
    s, s_prev = math.sqrt((1 - a_t) / a_t), math.sqrt((1 - a_prev) / a_prev)
    x0 = torch.tensor([[0.7, -1.2]], dtype=torch.float64)
    x_vp = torch.tensor([[0.3, 0.1]], dtype=torch.float64)
    sigmas = torch.tensor([[s, s], [s_prev, s_prev], [0.0, 0.0]], dtype=torch.float64)
    captured = {}

    def keep_first(info):
        captured.setdefault("x", info["x"].clone())

    sample_sde(lambda x, sigma, c: x0.to(x.dtype), x_vp / a_t.sqrt(), sigmas,
               generator=torch.Generator().manual_seed(3), eta=1.0, callback=keep_first,
               dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mean = a_prev.sqrt() * beta / (1 - a_t) * x0 + (a_t / a_prev).sqrt() * (1 - a_prev) / (
        1 - a_t) * x_vp
    std = ((1 - a_prev) / (1 - a_t) * beta).sqrt()
    assert torch.allclose(captured["x"] * a_prev.sqrt(), mean + std * noise, atol=1e-10)


def test_data_layer_quick(tmp_path):
    result, stdout = run_quick("data_layer.py", tmp_path)
    check = result["round_trip"]
    assert check["nan_pattern_mismatches"] == 0 and check["lengths_exact"]
    assert check["other_columns_exact"] and check["input_unchanged"]
    assert result["numeric_shape"][:2] == [40, 48]  # less the columns too few patients measure
    assert "transform" in stdout


def test_headline_section_is_rebuilt_from_its_results(tmp_path):
    module = benchmark_module("physionet_cpu")
    result = json.loads((BENCHMARKS / "results" / "physionet_cpu.json").read_text())
    docs = tmp_path / "benchmarks.md"
    docs.write_text("<!-- physionet_cpu:start -->\nold\n<!-- physionet_cpu:end -->\n")
    module.write_markdown(result, path=docs)
    text = docs.read_text()
    assert "old" not in text and result["command"] in text
    assert text.count("| real-vs-synthetic AUROC (summaries) |") == 1


def test_the_headline_gives_the_spread_of_its_discriminators_over_repeated_samples(tmp_path):
    module = benchmark_module("physionet_cpu")
    result = json.loads((BENCHMARKS / "results" / "physionet_cpu.json").read_text())
    result["repeats"] = {
        "seeds": [0, 2],
        "samples": [{"disc_summary_auroc": 0.8}, {"disc_summary_auroc": 0.9}],
        "mean": {"disc_summary_auroc": 0.85},
        "sd": {"disc_summary_auroc": 0.0707},
    }
    docs = tmp_path / "benchmarks.md"
    docs.write_text("<!-- physionet_cpu:start -->\nold\n<!-- physionet_cpu:end -->\n")
    module.write_markdown(result, path=docs)
    text = docs.read_text()
    assert "| mean ± sd over samples |" in text
    summary = next(line for line in text.splitlines() if "AUROC (summaries)" in line)
    assert "| 0.850 ± 0.071 |" in summary
    masks = next(line for line in text.splitlines() if "masks alone" in line)
    assert "| – |" in masks  # scores without repeats say so
    result["repeats"] = None  # results saved before the repeats: the old table
    module.write_markdown(result, path=docs)
    assert "mean ± sd" not in docs.read_text()


def test_other_protocols_get_their_own_section(tmp_path):
    module = benchmark_module("physionet_cpu")
    result = json.loads((BENCHMARKS / "results" / "physionet_cpu.json").read_text())
    result["training"]["budget_seconds"] = 3600.0
    docs = tmp_path / "benchmarks.md"
    docs.write_text("<!-- physionet_cpu:start -->\nheadline\n<!-- physionet_cpu:end -->\n")
    module.write_markdown(result, path=docs, name="physionet_cpu_1h")
    text = docs.read_text()
    assert "headline" in text and "## Default model on PhysioNet 2012, 3600-s budget" in text
    assert "<!-- physionet_cpu_1h:start -->" in text and "<!-- physionet_cpu_1h:end -->" in text


def test_plots_are_drawn_from_the_saved_results(tmp_path):
    pytest.importorskip("matplotlib")
    module = benchmark_module("plots")
    written = module.main(["--results", str(BENCHMARKS / "results"), "--out", str(tmp_path),
                           "--no-docs"])
    assert [name for name, _, _ in written] == ["peers", "steps_sweep", "ablations", "speed"]
    for _, _, path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n")
    module.write_docs(written, docs)
    assert docs.read_text().count("![") == 4


def test_plots_skip_missing_results_and_refuse_quick_ones_for_the_docs(tmp_path):
    pytest.importorskip("matplotlib")
    module = benchmark_module("plots")
    results = tmp_path / "results"
    results.mkdir()
    (results / "speed.json").write_text(json.dumps({"quick": True}))
    with pytest.raises(SystemExit, match="quick"):
        module.main(["--results", str(results), "--out", str(tmp_path / "img")])
    (results / "speed.json").unlink()
    assert module.main(["--results", str(results), "--out", str(tmp_path / "img"),
                        "--no-docs"]) == []


@pytest.mark.slow
def test_completion_quick(tmp_path):
    result, stdout = run_quick("completion.py", tmp_path)
    assert result["given"]["exact"] is True
    methods = [row[0] for row in result["imputation"]["0.1"]["table"]["rows"]]
    assert methods[0].startswith("cdmtehr") and "KNNImputer" in methods
    coverage = result["forecast"]["table"]["rows"][0][-3]
    assert 0 <= coverage <= 1
    assert "forecast" in stdout


@pytest.mark.slow
def test_privacy_quick(tmp_path):
    pytest.importorskip("opacus")
    result, stdout = run_quick("privacy.py", tmp_path, "--epsilons", "3", "--no-baseline")
    runs = result["runs"]
    assert set(runs) == {"epsilon=3", "overfitted (30 patients)"}
    assert runs["overfitted (30 patients)"]["privacy"] is None
    assert 0 < runs["epsilon=3"]["privacy"]["epsilon"] <= 3.0
    for entry in runs.values():
        assert 0 <= entry["scores"]["domias_auroc"] <= 1
    assert "| epsilon=3 |" in stdout


@pytest.mark.slow
def test_profile_decoding_quick(tmp_path):
    result, _ = run_quick("profile_decoding.py", tmp_path)
    table = result["table"]
    rows = rows_of(table)
    assert len(rows) == 6 and rows[0]["variant"].endswith("(default)")
    for row in rows:
        assert all(0 <= row[k] <= 1 for k in ("summary_auroc", "sequence_auroc", "masks_auroc"))


@pytest.mark.slow
def test_model_file_quick(tmp_path):
    result, _ = run_quick("model_file.py", tmp_path)
    stages = result["first_stage"]
    # The default keeps no encoder number of fewer than 5 patients; keeping every value does.
    assert stages["5"]["encoder_values_of_fewer_than_5_patients"] == 0
    assert stages["1"]["encoder_values_of_fewer_than_5_patients"] > 0
    assert stages["5"]["draws_rebuilding_a_training_profile"] == 0
    for audit in result["membership"].values():
        assert all(0 <= value <= 1 for value in audit.values())
    assert set(result["sizes"]) == {"20", "40"}


@pytest.mark.slow
def test_schedule_of_care_quick(tmp_path):
    result, stdout = run_quick("schedule_of_care.py", tmp_path)
    table = result["table"]
    rows = rows_of(table)
    assert [row["model"] for row in rows] == ["bits", "nearest", "edits"]
    for row in rows:
        assert 0 <= row["masks_auroc"] <= 1 and row["vocabulary"] >= 1
    assert rows[1]["cover"] == rows[2]["cover"] == 1.0  # rare patterns mapped to shared ones
    assert "real vs real, masks only" in stdout


@pytest.mark.slow
def test_schedule_first_stage_quick(tmp_path):
    result, stdout = run_quick("schedule_first_stage.py", tmp_path)
    table = result["table"]
    rows = rows_of(table)
    assert [row["first stage"] for row in rows] == [
        "profile trees (default)", "edits", "budget", "real vs real (floor)"]
    for row in rows:
        assert 0 <= row["disc_sequence_masks_auroc"] <= 1
        assert 0 <= row["disc_summary_auroc"] <= 1
    assert result["fits"]["budget"]["count_error"] >= 0


@pytest.mark.slow
def test_second_stage_quick(tmp_path):
    result, stdout = run_quick("second_stage.py", tmp_path)
    table = result["table"]
    rows = rows_of(table)
    assert [row["cohort"] for row in rows] == ["default", "real first stage",
                                               "real vs real (floor)"]
    for row in rows:
        assert 0 <= row["disc_sequence_values_auroc"] <= 1
    tells = result["tells"]
    tells = [dict(zip(tells["columns"], row)) for row in tells["rows"]]
    assert {row["variable"] for row in tells} >= {"HR", "Temp"}
    for row in tells:
        assert 0 <= row["values_auroc"] <= 1 and 0 <= row["floor"] <= 1
        assert row["median_step_real"] >= 0 and 0 <= row["repeats_synthetic"] <= 1
        assert -1 <= row["lag1_real"] <= 1
    gain = result["gain"]
    cells = [dict(zip(gain["columns"], row)) for row in gain["rows"]]
    assert {cell["variable"] for cell in cells} >= {"HR", "Temp"}
    assert all(cell["sigma"] > 0 and cell["error_over_sigma2"] >= 0 for cell in cells)
    assert "real first stage" in stdout


@pytest.mark.slow
def test_distributed_quick(tmp_path):
    result, stdout = run_quick("distributed.py", tmp_path)
    table = result["table"]
    rows = rows_of(table)
    assert [(row["run"], row["processes"]) for row in rows] == [
        ("1 process", 1), ("2 processes (torchrun)", 2), ("1 process, seed 1", 1)]
    # The same epochs are the same optimizer steps, whatever the number of processes.
    assert len({row["optimizer steps"] for row in rows}) == 1
    for row in rows:
        assert 0 <= row["masks AUROC"] <= 1 and 0 <= row["KS"] <= 1
    assert "2 processes (torchrun)" in stdout


@pytest.mark.slow
def test_scale_quick(tmp_path):
    result, stdout = run_quick("scale.py", tmp_path)
    fits = result["fits"]
    assert [fit["patients"] for fit in fits] == [40, 80, 160, 40]
    # 40 bundled stays, then stays drawn by the model, each with an id of its own
    assert [fit["rows"] for fit in fits] == [40 * 48, 80 * 48, 160 * 48, 40 * 48]
    for fit in fits:
        assert fit["peak_rss_mb"] >= fit["rss_with_data_mb"] > 0
        assert fit["patients_per_second"] > 0 and fit["optimizer_steps"] >= 1
        assert fit["training_seconds"] >= fit["train_loop_seconds"] > 0
    assert set(result["slopes"]) >= {"peak", "fit_adds", "frame", "throughput_min_over_max",
                                     "repeat_throughput_ratio"}
    stream = result["stream"]
    assert stream["n"] == 300 and stream["rows"] == 300 * 48
    assert stream["trace"] and stream["peak_rss_mb"] > 0
    assert "mean RSS, 5th tenth" in stdout


@pytest.mark.slow
def test_measurement_timing_quick(tmp_path):
    result, stdout = run_quick("measurement_timing.py", tmp_path)
    table = result["table"]
    rows = rows_of(table)
    assert [row["masks"] for row in rows[:2]] == ["all", "numeric variables"]
    assert {row["masks"] for row in rows[2:]} >= {"HR", "GCS"}
    for row in rows:
        assert 0 <= row["masks_auroc"] <= 1 and 0 <= row["floor"] <= 1
    for row in rows[2:]:
        assert 0 <= row["gap_ks"] <= 1
        for cohort in ("real", "synthetic"):
            shares = [row[f"{cohort}_{hours}"] for hours in ("1h", "2h", "3h", "4h", "5h+")]
            assert all(0 <= share <= 1 for share in shares)
            assert sum(shares) == pytest.approx(1.0)  # every gap is a whole number of hours
    assert [row["masks_auroc"] for row in rows[2:]] == sorted(
        (row["masks_auroc"] for row in rows[2:]), reverse=True)


@pytest.mark.slow
def test_value_memory_quick(tmp_path):
    result, stdout = run_quick("value_memory.py", tmp_path)
    rows = rows_of(result["table"])
    assert {row["variable"] for row in rows} >= {"HR", "Temp"}
    names = [f"{steps} {sampler}" for steps, sampler in result["settings"]]
    for row in rows:
        for name in names:
            lag1 = row[f"lag1 {name}"]
            assert lag1 is None or -1 <= lag1 <= 1
            assert row[f"sigma {name}"] > 0
    # Fewer steps leave a larger noise level for the last one to jump from.
    (few, _), (more, _) = result["settings"]
    assert few < more
    assert all(row[f"sigma {names[0]}"] > row[f"sigma {names[1]}"] for row in rows)
    assert names[0] in stdout
