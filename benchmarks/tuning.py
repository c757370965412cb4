"""Quick quality runs used to choose the defaults (one configuration per call).

Fits on 3,000 PhysioNet 2012 set-a patients, samples 1,000 at 50 Euler steps and scores them
against the 1,000 unseen patients with a compact set of checks (mean KS, missing-rate error,
a gradient-boosting real-vs-synthetic AUROC on per-patient summaries, TSTR and TRTR mortality
AUROC, and a real-data mortality model's mean risk by synthetic class). Appends one JSON line
to benchmarks/results/tuning.jsonl. The runs quoted in docs/benchmarks.md were single-threaded
(OMP_NUM_THREADS=1) on a shared 2-core machine, e.g.

    OMP_NUM_THREADS=1 python benchmarks/tuning.py --hidden 64 --epochs 100 --tag h64e100
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

RESULTS = Path(__file__).parent / "results" / "tuning.jsonl"


def summary(frame, roles):
    groups = frame.groupby(roles["id_col"])
    num = roles["num_cols"]
    parts = [
        groups[num].mean().add_suffix("_mean"),
        groups[num].std().add_suffix("_std"),
        groups[num].count().add_suffix("_n"),
        groups[["Age", "Height", "Weight_admit"]].first(),
        (groups["MechVent"].count()).rename("mechvent_n"),
    ]
    for col in ["Gender", "ICUType", "MechVent_any"]:
        parts.append(pd.get_dummies(groups[col].first().astype(str), prefix=col).astype(float))
    return pd.concat(parts, axis=1).fillna(-999)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-time", type=float, default=None)
    parser.add_argument("--schedule", default="factorized")
    parser.add_argument("--weighting", default="uniform")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--tag", default="run")
    args = parser.parse_args()

    df, roles = load_physionet2012(return_roles=True)
    label = roles["condition_col"]
    ids = df[roles["id_col"]].drop_duplicates().sample(frac=1, random_state=0).to_numpy()
    train = df[df[roles["id_col"]].isin(ids[:3000])]
    test = df[df[roles["id_col"]].isin(ids[3000:])]

    start = time.time()
    synth = CDMTSynthesizer(
        epochs=args.epochs or 100_000, max_time=args.max_time, hidden_size=args.hidden,
        num_layers=args.layers, schedule=args.schedule, loss_weighting=args.weighting,
        learning_rate=args.lr, batch_size=args.batch, random_state=0,
    ).fit(train, **roles)
    fit_seconds = time.time() - start
    start = time.time()
    syn = synth.sample(1000, steps=args.steps, random_state=0)
    sample_seconds = time.time() - start

    num = roles["num_cols"]
    ks = np.mean([
        ks_2samp(test[c].dropna(), syn[c].dropna()).statistic if syn[c].notna().any() else 1.0
        for c in num
    ])
    missing = np.mean([abs(test[c].isna().mean() - syn[c].isna().mean()) for c in num])
    real_s, syn_s = summary(test, roles), summary(syn, roles)
    real_s, syn_s = real_s.align(syn_s, join="outer", axis=1, fill_value=0)
    x = pd.concat([real_s, syn_s]).to_numpy(float)
    y = np.r_[np.zeros(len(real_s)), np.ones(len(syn_s))]
    boost = HistGradientBoostingClassifier(max_iter=200, random_state=0)
    disc = roc_auc_score(y, cross_val_predict(boost, x, y, cv=5, method="predict_proba")[:, 1])

    first = lambda frame: frame.groupby(roles["id_col"])[label].first()  # noqa: E731
    train_s = summary(train, roles).reindex(columns=real_s.columns, fill_value=0)
    syn_s = syn_s.reindex(columns=real_s.columns, fill_value=0)
    real_model = HistGradientBoostingClassifier(max_iter=200, random_state=0)
    real_model.fit(train_s, first(train).loc[train_s.index])
    trtr = roc_auc_score(first(test).loc[real_s.index], real_model.predict_proba(real_s)[:, 1])
    syn_model = HistGradientBoostingClassifier(max_iter=200, random_state=0)
    syn_model.fit(syn_s, first(syn).loc[syn_s.index])
    tstr = roc_auc_score(first(test).loc[real_s.index], syn_model.predict_proba(real_s)[:, 1])
    risk = real_model.predict_proba(syn_s)[:, 1]
    syn_class = first(syn).loc[syn_s.index].to_numpy()

    history = synth.history_[-1]
    result = {
        "tag": args.tag, "args": vars(args), "fit_s": round(fit_seconds),
        "epochs": history["epoch"], "optimizer_steps": history["steps"],
        "ms_per_patient": round(1000 * sample_seconds / 1000, 1), "ks_mean": round(ks, 4),
        "missing_rate_diff": round(missing, 4), "disc_summary_auroc": round(disc, 4),
        "trtr_auroc": round(trtr, 4), "tstr_auroc": round(tstr, 4),
        "risk_condition_1": round(float(risk[syn_class == 1].mean()), 3),
        "risk_condition_0": round(float(risk[syn_class == 0].mean()), 3),
    }
    print(json.dumps(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
