"""Profile models: which tabular generator draws realistic per-patient measurement profiles.

The first stage of ``CDMTSynthesizer(profile=True)`` draws each patient's profile (how many
hours measure each variable; the mean and sd of its measurements) before the stay. This
script fits candidate generators on the profiles of the 3,000 training patients of the
headline split (set a), draws 1,000 profiles from each, and scores them against the 1,000
unseen patients' profiles with the summary discriminator's gradient boosting (5-fold AUROC,
0.5 ideal):

* ``copies``: 1,000 training patients' own profiles (the floor, and not a generator);
* ``independent``: each column drawn from its own marginal;
* ``gaussian copula``: normal scores of the ranks, one covariance;
* ``copula mixture K``: a K-component Gaussian mixture in the same space;
* ``trees``: `cdmtehr.profiles.ProfileTrees` (sequential CART, leaves of 20 patients), in the
  library's column order; also the share of drawn rows equal to a training row.

Writes ``benchmarks/results/profile_models.json`` and a section of docs/benchmarks.md.

    python benchmarks/profile_models.py
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy import stats
from sklearn.mixture import GaussianMixture

import _common as C
from cdmtehr.profiles import ProfileTrees
from separating_features import cross_validated_auroc

NAME = "profile_models"


def profiles(frame, roles, levels: bool) -> np.ndarray:
    """Per patient: measured hours of each variable (and their mean and sd, NaN when absent)."""
    groups = frame.groupby(roles["id_col"], sort=False)[roles["num_cols"]]
    parts = [groups.count().to_numpy(float)]
    if levels:
        parts += [groups.mean().to_numpy(float), groups.std().to_numpy(float)]
    return np.hstack(parts)


def copula(train, n, rng, components=None):
    """Draws of a Gaussian copula (or a mixture in copula space) over the columns of `train`."""
    filled = np.nan_to_num(train, nan=-1e6)
    ranks = np.column_stack([stats.rankdata(c + rng.uniform(0, 1e-6, len(c))) for c in filled.T])
    z = stats.norm.ppf(ranks / (len(train) + 1))
    if components is None:
        draws = rng.multivariate_normal(np.zeros(z.shape[1]), np.cov(z.T), n)
    else:
        mixture = GaussianMixture(components, reg_covar=1e-3, random_state=0).fit(z)
        draws = mixture.sample(n)[0]
    u = stats.norm.cdf(draws)
    return np.column_stack([np.quantile(train[:, j], u[:, j], method="inverted_cdf")
                            for j in range(train.shape[1])])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    train, test, roles = C.load_split(False, args.seed)
    rng = np.random.default_rng(args.seed)
    rows = []
    for levels in (False, True):
        real_train, real_test = profiles(train, roles, levels), profiles(test, roles, levels)

        def score(drawn):
            x = np.r_[real_test, drawn]
            y = np.r_[np.zeros(len(real_test)), np.ones(len(drawn))]
            return cross_validated_auroc(x, y, args.seed)

        features = "counts, means and sds" if levels else "counts"
        candidates = {"copies": real_train[rng.choice(len(real_train), args.n, replace=False)]}
        if not levels:  # a copula has no place for a mean that does not exist
            candidates["independent"] = np.column_stack(
                [rng.choice(c, args.n) for c in real_train.T])
            candidates["gaussian copula"] = copula(real_train, args.n, rng)
            for k in (10, 40):
                candidates[f"copula mixture {k}"] = copula(real_train, args.n, rng, k)
        k = len(roles["num_cols"])
        gates = {}
        if levels:
            gates = {k + j: (j, 0) for j in range(k)} | {2 * k + j: (j, 1) for j in range(k)}
        trees = ProfileTrees(min_leaf=20).fit(real_train, gates, random_state=args.seed)
        candidates["trees"] = trees.sample(args.n, rng)
        for name, drawn in candidates.items():
            copies = (np.nan_to_num(drawn)[:, None, :] == np.nan_to_num(real_train)[None]).all(-1)
            rows.append({"features": features, "model": name, "auroc": score(drawn),
                         "copies_of_training_rows": float(copies.any(axis=1).mean())})
            print(f"{features:22s} {name:20s} AUROC {rows[-1]['auroc']:.3f}  "
                  f"copies {rows[-1]['copies_of_training_rows']:.3f}", flush=True)
    result = {"command": C.command(argv), "machine": C.machine(), "rows": rows}
    path = args.output or C.RESULTS / f"{NAME}.json"
    with open(path, "w") as f:
        json.dump(C.to_jsonable(result), f, indent=2)
    if args.output is None:
        write_docs(result)


def write_docs(result):
    lines = [f"Command: `{result['command']}`.", "",
             "| profile features | generator | AUROC against unseen real | drawn rows equal to a training row |",
             "|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['features']} | {row['model']} | {row['auroc']:.3f} | "
                     f"{row['copies_of_training_rows']:.3f} |")
    C.update_docs(NAME, "Profile models", lines)


if __name__ == "__main__":
    main()
