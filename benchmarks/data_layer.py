"""Benchmark: time of the data layer on all 4,000 patients of PhysioNet 2012 set a.

Times each stage of the hand-off between DataFrame and model on the bundled set a (192,000
rows, 47 columns): reading the bundled file, ``SequencePreprocessor.fit``, ``transform``,
``fit_transform`` and ``inverse_transform``; each the best and the median of `--repeats`
runs. Then checks the round trip of the last run: NaN patterns, categories and lengths must be
exact, numeric values equal up to the quantile transform's float32 interpolation (the largest
relative error is reported). No training, so no ``--max-time``, ``--model`` or ``-n``.

Writes ``benchmarks/results/data_layer.json`` and the ``data_layer`` section of
docs/benchmarks.md.

    python benchmarks/data_layer.py
    python benchmarks/data_layer.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd

import _common as C
from cdmtehr.datasets import load_physionet2012
from cdmtehr.preprocessing import SequencePreprocessor

NAME = "data_layer"


def timed(function, repeats):
    """(best seconds, median seconds, last result) of `repeats` calls of `function`."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds), result


def round_trip_check(df, out, roles, preprocessor) -> dict:
    """Exactness of inverse_transform(transform(df)) against the input (rows in the same order)."""
    numeric = [*roles["num_cols"], *preprocessor.static_numeric_names_]
    others = [c for c in df.columns if c not in numeric]
    nan_mismatches, worst_relative = 0, 0.0
    for col in numeric:
        a = out[col].to_numpy(dtype=float)
        b = df[col].to_numpy(dtype=float)
        nan_mismatches += int((np.isnan(a) != np.isnan(b)).sum())
        both = ~np.isnan(a) & ~np.isnan(b)
        if both.any():
            relative = np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-12)
            worst_relative = max(worst_relative, float(relative.max()))
    id_col, time_col = roles["id_col"], roles["time_col"]
    return {
        "columns_and_dtypes_equal": bool(list(out.columns) == list(df.columns)
                                         and (out.dtypes == df.dtypes).all()),
        "nan_pattern_mismatches": nan_mismatches,
        "other_columns_exact": bool(out[others].equals(df[others])),
        "lengths_exact": bool(out.groupby(id_col, sort=False)[time_col].size().equals(
            df.groupby(id_col, sort=False)[time_col].size())),
        "numeric_max_relative_error": worst_relative,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test on the first 40 patients, 1 repeat; never writes docs")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--output", default=None, help="JSON path (default benchmarks/results/)")
    p.add_argument("--docs-from", default=None, metavar="JSON",
                   help="only rewrite this script's section of docs/benchmarks.md from a "
                        "results file of a full run, then exit")
    args = p.parse_args(argv)
    if args.docs_from:
        return C.docs_from(args.docs_from, write_docs)
    repeats = 1 if args.quick else args.repeats

    load_best, load_median, (df, roles) = timed(
        lambda: load_physionet2012(return_roles=True), repeats)
    n_loaded = int(df[roles["id_col"]].nunique())
    if args.quick:
        keep = df[roles["id_col"]].drop_duplicates().to_numpy()[:C.QUICK["n_train"]]
        df = df[df[roles["id_col"]].isin(keep)].reset_index(drop=True)
        thin = C.thin_columns(df, roles)
        roles = {**roles, "num_cols": [c for c in roles["num_cols"] if c not in thin]}
        df = df.drop(columns=thin)
    n_patients = int(df[roles["id_col"]].nunique())
    before = df.copy(deep=True)

    fit_best, fit_median, preprocessor = timed(
        lambda: SequencePreprocessor().fit(df, roles), repeats)
    transform_best, transform_median, (cohort, ids) = timed(
        lambda: preprocessor.transform(df, return_ids=True), repeats)
    fit_transform_best, fit_transform_median, _ = timed(
        lambda: SequencePreprocessor().fit_transform(df, roles), repeats)
    inverse_best, inverse_median, out = timed(
        lambda: preprocessor.inverse_transform(cohort, ids=ids), repeats)

    # The bundled rows are sorted by (id, time), as the round trip returns them.
    check = round_trip_check(df, out, roles, preprocessor)
    check["input_unchanged"] = bool(df.equals(before))
    stages = pd.DataFrame(
        [
            ["load_physionet2012()", load_best, load_median],
            ["SequencePreprocessor.fit", fit_best, fit_median],
            ["transform", transform_best, transform_median],
            ["fit_transform", fit_transform_best, fit_transform_median],
            ["inverse_transform", inverse_best, inverse_median],
        ],
        columns=["stage", "best_seconds", "median_seconds"],
    )
    # The file is read whole, also in quick mode.
    per_stage_patients = [n_loaded] + [n_patients] * (len(stages) - 1)
    stages["ms_per_patient"] = stages["best_seconds"] / per_stage_patients * 1000
    print(f"{n_patients} patients, {len(df):,} rows x {df.shape[1]} columns; "
          f"tensors {tuple(cohort.numeric.shape)}; best / median of {repeats}")
    C.print_table(stages)
    for key, value in check.items():
        print(f"  {key}: {value}")
    result = {
        "command": C.command(),
        "machine": C.machine(),
        "quick": args.quick,
        "repeats": repeats,
        "n_patients": n_patients,
        "rows": len(df),
        "columns": df.shape[1],
        "numeric_shape": list(cohort.numeric.shape),
        "round_trip": check,
        "peak_rss_mb": C.peak_rss_mb(),
        "tables": {"stages": C.table_to_json(stages)},
    }
    path = C.save_result(NAME, result, args.quick, args.output)
    print(f"results: {path}")
    if not args.quick:
        write_docs(result)
    if not (check["columns_and_dtypes_equal"] and check["other_columns_exact"]
            and check["lengths_exact"] and check["input_unchanged"]
            and check["nan_pattern_mismatches"] == 0):
        print("round trip NOT exact", file=sys.stderr)
        return None
    return result


def write_docs(result, docs=None):
    """Rewrite the data_layer section of docs/benchmarks.md."""
    stages = C.table_from_json(result["tables"]["stages"])
    check = result["round_trip"]
    lines = [
        f"Command: `{result['command']}` — machine: {C.machine_line(result['machine'])}.",
        "",
        f"{result['n_patients']:,} patients, {result['rows']:,} rows × {result['columns']} "
        f"columns, encoded to numeric tensors of shape {tuple(result['numeric_shape'])}; best "
        f"and median of {result['repeats']} runs:",
        "",
        *C.markdown_table(stages),
        "",
        f"* Round trip `inverse_transform(transform(df))`: columns and dtypes equal: "
        f"{check['columns_and_dtypes_equal']}; NaN-pattern mismatches: "
        f"{check['nan_pattern_mismatches']}; categories, ids, times and statics exact: "
        f"{check['other_columns_exact']}; lengths exact: {check['lengths_exact']}; largest "
        f"relative error of a numeric value: {check['numeric_max_relative_error']:.1e} "
        "(float32 scores between quantile knots); the input frame unchanged: "
        f"{check['input_unchanged']}.",
        f"* Peak memory (RSS) of the whole script: {result['peak_rss_mb']:.0f} MB.",
    ]
    C.update_docs(NAME, "Data layer on all of set a", lines, docs)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
