"""Conditional completion from one fitted model: imputation, forecasting, sampling given statics.

On the 1,000 unseen patients of PhysioNet 2012 set a (the split of ``physionet_cpu.py``), with
the default model (``max_time`` 600 s on the 3,000 training patients, or ``--model``):

* **imputation**: 10 % and 50 % of the observed temporal numeric values hidden at random
  (the cells marked "measured, value unknown"); MAE of the median of ``--draws`` draws on the
  hidden values, in each variable's units and normalised by the variable's training standard
  deviation (pooled over all hidden values, as CSDI reports it), and CSDI's normalised CRPS
  from the draws; against the per-variable training mean, last observation carried forward
  with backward fill, and scikit-learn's IterativeImputer and KNNImputer on the flattened
  stays (one row per patient-hour: the 36 variables, the hour and the numeric statics,
  z-scored; fitted on the training patient-hours, KNN on a random subset of them;
  IterativeImputer clipped to the training range);
* **forecast**: hours 0-23 given (the outcome column left out: it is not known on day 1), hours
  24-47 drawn ``--forecast-draws`` times; MAE where the real value is measured (each draw's
  values carried forward within the stay, then the median over draws), the share of real
  values inside the 10-90 % band of the draws, and the measurement-rate error (per patient and
  variable, share of measured hours) against carrying the last value (and day 1's
  measurement rate) forward;
* **given statics**: the real test patients aged >= 75 against as many patients sampled with
  their ages given and as many sampled unconditionally (mean per-variable KS, mean
  missing-rate error), and whether the given ages come back exactly;
* per-patient cost of each, with the step count (every completion at `impute`'s and
  `forecast`'s defaults, 50 Euler steps, unless `--steps`/`--sampler` say otherwise).

Writes ``benchmarks/results/completion.json`` and the ``completion`` section of
docs/benchmarks.md.

    python benchmarks/completion.py                      # fit (600 s) and evaluate
    python benchmarks/completion.py --model MODEL.cdmt   # evaluate a saved default model
"""

from __future__ import annotations

import sys
import time

import _common as C
import numpy as np
import pandas as pd
import torch

from cdmtehr.sampling.inpainting import REPLACEMENT_SAMPLER, REPLACEMENT_STEPS

NAME = "completion"
TITLE = "Conditional completion: imputation, forecast, given statics"
RATES = (0.1, 0.5)
SHOWN = ("HR", "MAP", "Temp", "Glucose", "Creatinine")  # variables with their MAE in units
QUANTILES = np.arange(0.05, 0.96, 0.05)
AGE, OLD = "Age", 75


# -- scores --------------------------------------------------------------------------------------
def crps(draws, target):
    """CSDI's normalised CRPS: quantile losses of the draws summed over cells, / sum |target|.

    draws (D, n) and target (n,) are normalised values (Tashiro et al. 2021, Sec. 6.1).
    """
    total = np.abs(target).sum()
    losses = []
    for q in QUANTILES:
        predicted = np.quantile(draws, q, axis=0)
        indicator = (target <= predicted).astype(float)
        losses.append(2 * np.abs((target - predicted) * (indicator - q)).sum() / total)
    return float(np.mean(losses))


def point_scores(point, truth, scale, variables, draws=None):
    """MAE in units (shown variables), pooled normalised MAE, and CRPS (a point is 1 draw)."""
    error = np.abs(point - truth)
    row = {"nMAE": float(np.mean(error / scale))}
    for name in SHOWN:
        chosen = variables == name
        row[f"MAE {name}"] = float(error[chosen].mean()) if chosen.any() else np.nan
    normalised_draws = (point if draws is None else draws) / scale
    row["CRPS"] = crps(np.atleast_2d(normalised_draws), truth / scale)
    return row


# -- imputation ----------------------------------------------------------------------------------
def hide_cells(test, num_cols, rate, seed):
    """Boolean frame: each observed temporal value hidden with probability `rate`."""
    rng = np.random.default_rng(seed)
    observed = test[num_cols].notna().to_numpy()
    return pd.DataFrame(observed & (rng.random(observed.shape) < rate), columns=num_cols,
                        index=test.index)


def flat(frame, roles, statics):
    """Patient-hours as rows: the temporal numeric variables, the hour and numeric statics."""
    return frame[[*roles["num_cols"], roles["time_col"], *statics]].astype(float)


def baselines(train, masked, roles, statics, seed, knn_rows):
    """Each baseline's completed temporal values (a frame like `masked[num_cols]`)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    num, id_col = roles["num_cols"], roles["id_col"]
    means = train[num].mean()
    out = {"mean": masked[num].fillna(means)}
    carried = masked.groupby(id_col, sort=False)[num].transform(lambda s: s.ffill().bfill())
    out["LOCF + backward fill"] = carried.fillna(means)
    reference = flat(train, roles, statics)
    center, spread = reference.mean(), reference.std().replace(0, 1)
    reference = (reference - center) / spread
    target = (flat(masked, roles, statics) - center) / spread
    seconds = {}
    for name, imputer, rows in [
        # Clipped to the training range: unclipped linear fits run away on rare variables.
        ("IterativeImputer", IterativeImputer(max_iter=10, random_state=seed,
                                              min_value=reference.min().to_numpy(),
                                              max_value=reference.max().to_numpy()), None),
        ("KNNImputer", KNNImputer(n_neighbors=5), knn_rows),
    ]:
        started = time.perf_counter()
        fit_on = reference if rows is None or rows >= len(reference) else reference.sample(
            rows, random_state=seed)
        filled = imputer.fit(fit_on).transform(target)
        filled = pd.DataFrame(filled[:, : len(num)], columns=num, index=masked.index)
        out[name] = filled * spread[num] + center[num]
        seconds[name] = time.perf_counter() - started
    return out, seconds


def imputation(synth, train, test, roles, rate, args):
    num = roles["num_cols"]
    hidden = hide_cells(test, num, rate, args.seed)
    masked = test.copy()
    masked[num] = masked[num].mask(hidden)
    cells = hidden.to_numpy()
    rows, cols = np.nonzero(cells)
    truth = test[num].to_numpy()[rows, cols]
    variables = np.asarray(num)[cols]
    scale = train[num].std().to_numpy()[cols]
    started = time.perf_counter()
    completed = synth.impute(masked, mask=hidden, n_draws=args.draws, steps=args.steps,
                             sampler=args.sampler,
                             random_state=args.seed)
    model_seconds = time.perf_counter() - started
    draws = np.stack([completed.loc[completed["draw"] == d, num].to_numpy()[rows, cols]
                      for d in range(args.draws)]).astype(float)
    table = [{"method": "cdmtehr (median of draws)",
              **point_scores(np.median(draws, axis=0), truth, scale, variables, draws)}]
    statics = [c for c in roles["static_cols"] if c in synth.preprocessor_.static_numeric_names_]
    filled, seconds = baselines(train, masked, roles, statics, args.seed, args.knn_rows)
    for name, frame in filled.items():
        point = frame.to_numpy()[rows, cols]
        table.append({"method": name, **point_scores(point, truth, scale, variables)})
    n_patients = test[roles["id_col"]].nunique()
    cost = {"hidden_values": int(cells.sum()), "draws": args.draws, "steps": args.steps,
            "sampler": args.sampler,
            "seconds": model_seconds,
            "ms_per_patient_per_draw": 1000 * model_seconds / (n_patients * args.draws),
            "baseline_seconds": seconds}
    return table, cost


# -- forecast ------------------------------------------------------------------------------------
def carried_forward(frame, roles):
    num = roles["num_cols"]
    return frame.groupby(roles["id_col"], sort=False)[num].ffill()


def forecast(synth, train, test, roles, args):
    num, id_col, time_col = roles["num_cols"], roles["id_col"], roles["time_col"]
    test = test.sort_values([id_col, time_col]).reset_index(drop=True)
    prefix = test[test[time_col] < 24].drop(columns=roles["condition_col"])
    future = test[test[time_col] >= 24].reset_index(drop=True)
    started = time.perf_counter()
    drawn = synth.forecast(prefix, horizon=24, n_draws=args.forecast_draws, steps=args.steps,
                           sampler=args.sampler,
                           random_state=args.seed)
    model_seconds = time.perf_counter() - started
    values, measured = [], []
    for d in range(args.forecast_draws):
        one = drawn[drawn["draw"] == d].drop(columns="draw").reset_index(drop=True)
        filled = carried_forward(one, roles)
        later = (one[time_col] >= 24).to_numpy()
        values.append(filled[later].to_numpy(dtype=float))
        measured.append(one.loc[later, num].notna().to_numpy())
    values, measured = np.stack(values), np.stack(measured)
    truth = future[num].to_numpy(dtype=float)
    seen = ~np.isnan(truth)
    means = train[num].mean()
    scale = np.broadcast_to(train[num].std().to_numpy(), truth.shape)
    day_one_only = test.copy()
    day_one_only.loc[day_one_only[time_col] >= 24, num] = np.nan
    locf = carried_forward(day_one_only, roles)[test[time_col] >= 24].fillna(means)
    locf = locf.to_numpy(dtype=float)
    # Variables never measured in a draw's stay have no value to carry: the training mean.
    values = np.where(np.isnan(values), means.to_numpy(), values)
    point = np.median(values, axis=0)
    low, high = np.quantile(values, 0.1, axis=0), np.quantile(values, 0.9, axis=0)
    real_rate = seen.reshape(-1, 24, len(num)).mean(axis=1)
    day_one = prefix[num].notna().to_numpy().reshape(-1, 24, len(num)).mean(axis=1)
    model_rate = measured.reshape(args.forecast_draws, -1, 24, len(num)).mean(axis=2).mean(0)
    rows = []
    for name, guess, band, rate in [
        ("cdmtehr (median of draws)", point, (low, high), model_rate),
        ("LOCF (and day 1's measurement rate)", locf, None, day_one),
    ]:
        error = np.abs(guess - truth)[seen]
        rows.append({
            "method": name,
            "nMAE": float(np.mean(error / scale[seen])),
            **{f"MAE {v}": float(np.nanmean(np.abs(guess - truth)[:, num.index(v)]))
               for v in SHOWN},
            "10-90% coverage": (float(((truth >= band[0]) & (truth <= band[1]))[seen].mean())
                                if band is not None else np.nan),
            "rate MAE (patient)": float(np.mean(np.abs(rate - real_rate))),
            "rate error (cohort)": float(np.mean(np.abs(rate.mean(0) - real_rate.mean(0)))),
        })
    n_patients = prefix[id_col].nunique()
    cost = {"draws": args.forecast_draws, "steps": args.steps, "sampler": args.sampler,
            "seconds": model_seconds,
            "ms_per_patient_per_draw": 1000 * model_seconds / (n_patients * args.forecast_draws),
            "measured_future_values": int(seen.sum())}
    return rows, cost


# -- given statics -------------------------------------------------------------------------------
def distribution_scores(real, synthetic, roles):
    from scipy.stats import ks_2samp

    ks, rate = [], []
    for column in roles["num_cols"]:
        a, b = real[column].dropna(), synthetic[column].dropna()
        if len(a) and len(b):
            ks.append(ks_2samp(a, b).statistic)
        rate.append(abs(real[column].isna().mean() - synthetic[column].isna().mean()))
    return {"ks_mean": float(np.mean(ks)), "missing_rate_diff": float(np.mean(rate))}


def given_statics(synth, test, roles, args):
    id_col = roles["id_col"]
    old = test[test[AGE] >= OLD]
    ages = old.groupby(id_col, sort=True)[AGE].first().reset_index(drop=True)
    n = len(ages)
    started = time.perf_counter()
    conditional = synth.sample(n, given=pd.DataFrame({AGE: ages}), steps=args.steps,
                               sampler=args.sampler,
                               random_state=args.seed)
    given_seconds = time.perf_counter() - started
    unconditional = synth.sample(n, steps=args.steps, sampler=args.sampler,
                                 random_state=args.seed)
    back = conditional.groupby(id_col, sort=True)[AGE].first().to_numpy()
    rows = [
        {"sample": "given the real ages (>= 75)", **distribution_scores(old, conditional, roles),
         "share aged >= 75": float(np.mean(back >= OLD))},
        {"sample": "unconditional", **distribution_scores(old, unconditional, roles),
         "share aged >= 75": float(np.mean(
             unconditional.groupby(id_col)[AGE].first() >= OLD))},
    ]
    exact = bool(np.array_equal(back, ages.to_numpy()))
    cost = {"patients": n, "steps": args.steps, "sampler": args.sampler,
            "seconds": given_seconds, "ms_per_patient": 1000 * given_seconds / n}
    return rows, exact, cost


# -- docs ----------------------------------------------------------------------------------------
def write_docs(result, path=None):
    lines = [
        f"`{result['command']}` (model: {result['model']}"
        + (f"; {C.machine_line(result['machine'])})" if "machine" in result else ")"),
        "",
        "One fitted model completes patients with no retraining (replacement conditioning in "
        "the sampler, docs/method.md). Imputation hides a share of the observed temporal "
        "values of the 1,000 unseen patients; MAE is that of the median of the draws "
        "(in units for a few variables; nMAE pooled over all hidden values in units of each "
        "variable's training standard deviation, as CSDI reports it), CRPS is CSDI's "
        "normalised CRPS (a point imputation counts as one draw). KNN and IterativeImputer "
        "see one row per patient-hour (variables, hour, numeric statics; z-scored; "
        "IterativeImputer clipped to the training range, KNN searching "
        f"{result['knn_rows']:,} training patient-hours).",
        "",
    ]
    for rate in result["imputation"]:
        cost = result["imputation"][rate]["cost"]
        lines += [f"**Imputation, {float(rate):.0%} of the observed values hidden** "
                  f"({cost['hidden_values']:,} values; {cost['draws']} draws of "
                  f"{cost['steps']} {cost['sampler']} steps, "
                  f"{cost['ms_per_patient_per_draw']:.0f} ms per patient and draw)", ""]
        lines += C.markdown_table(C.table_from_json(result["imputation"][rate]["table"]))
        lines.append("")
    if "forecast" not in result:  # a run stopped early: what finished
        lines.append("(The forecast and given-statics parts did not run.)")
        return C.update_docs(NAME, TITLE, lines, path)
    cost = result["forecast"]["cost"]
    lines += [f"**Forecast**: hours 0-23 given, hours 24-47 drawn ({cost['draws']} draws of "
              f"{cost['steps']} {cost['sampler']} steps, "
              f"{cost['ms_per_patient_per_draw']:.0f} ms per patient and draw); MAE on the "
              f"{cost['measured_future_values']:,} measured values (each draw carried forward "
              "within the stay, then the median); coverage: share of them inside the 10-90 % "
              "band of the draws (80 % is calibrated); measurement-rate error per patient and "
              "variable, and of the cohort's rates.", ""]
    lines += C.markdown_table(C.table_from_json(result["forecast"]["table"]))
    if "given" not in result:
        lines += ["", "(The given-statics part did not run.)"]
        return C.update_docs(NAME, TITLE, lines, path)
    cost = result["given"]["cost"]
    lines += ["", f"**Given statics**: the {cost['patients']} unseen patients aged >= 75 "
              "against as many patients sampled with their ages given and as many sampled "
              f"unconditionally ({cost['steps']} {cost['sampler']} steps, "
              f"{cost['ms_per_patient']:.0f} ms per patient); given ages returned exactly: "
              f"{result['given']['exact']}.", ""]
    lines += C.markdown_table(C.table_from_json(result["given"]["table"]))
    C.update_docs(NAME, TITLE, lines, path)


# -- main ----------------------------------------------------------------------------------------
def main(argv=None):
    p = C.parser(__doc__.splitlines()[0])
    # every completion at impute's and forecast's defaults (and sample's given ones)
    C.add_sampling_arguments(p, steps=REPLACEMENT_STEPS, sampler=REPLACEMENT_SAMPLER)
    p.add_argument("--draws", type=int, default=10, help="imputation draws per patient")
    p.add_argument("--forecast-draws", type=int, default=20, help="forecast draws per patient")
    p.add_argument("--knn-rows", type=int, default=10000,
                   help="training patient-hours KNNImputer searches")
    p.add_argument("--fit-only", action="store_true",
                   help="fit the default model, write it to --save-model and stop")
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    torch.set_num_threads(1)
    if args.quick:
        args.steps, args.draws, args.forecast_draws, args.knn_rows = 3, 10, 5, 200
    train, test, roles = C.load_split(args.quick, args.seed)
    synth = C.default_model(args, train, roles, NAME)
    if args.fit_only:
        return
    result = {"quick": args.quick, "command": C.command(argv), "steps": args.steps,
              "model": args.model or f"fitted here, max_time {args.max_time:g} s",
              "fit": C.training_summary(synth.history_, synth.batch_size, synth.n_patients_,
                                        getattr(synth, "fit_seconds_", 0.0)),
              "knn_rows": args.knn_rows, "machine": C.machine(), "imputation": {}}
    for rate in RATES:
        print(f"[{NAME}] imputation, {rate:.0%} hidden ...", flush=True)
        table, cost = imputation(synth, train, test, roles, rate, args)
        frame = pd.DataFrame(table)
        C.print_table(frame)
        result["imputation"][str(rate)] = {"table": C.table_to_json(frame), "cost": cost}
        C.save_result(NAME, result, args.quick, args.output)  # what finished, if stopped
    print(f"[{NAME}] forecast ...", flush=True)
    table, cost = forecast(synth, train, test, roles, args)
    frame = pd.DataFrame(table)
    C.print_table(frame)
    result["forecast"] = {"table": C.table_to_json(frame), "cost": cost}
    C.save_result(NAME, result, args.quick, args.output)
    print(f"[{NAME}] given statics ...", flush=True)
    table, exact, cost = given_statics(synth, test, roles, args)
    frame = pd.DataFrame(table)
    C.print_table(frame)
    result["given"] = {"table": C.table_to_json(frame), "exact": exact, "cost": cost}
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"wrote {path}")
    if not args.quick:
        write_docs(result)


if __name__ == "__main__":
    sys.exit(main())
