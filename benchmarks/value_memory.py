"""How much memory the generated values keep from one hour to the next, per sampler setting.

A stay whose values have the right level and spread can still move too freely (or too
little) from hour to hour; the summary and sequence discriminators read it in each stay's
extremes and steps. Per hourly vital (and the scores charted every few hours), this script
gives the lag-1 autocorrelation of each stay's deviations from its own mean
(``second_stage.movement``: consecutive measurements, the pairs of all stays pooled), for the
unseen real patients and for patients sampled from one fitted model at several sampler
settings, with the same seed.

Beside each setting it gives the noise level that the sampler's last network evaluation sees
(the median over the hours of the learned schedule's sigma at the grid's last non-zero
step): the last step jumps from that level to the network's estimate of the clean value, a
posterior mean, so where that level is large compared with a variable's hour-to-hour
movement, the step smooths its hours.

    python benchmarks/value_memory.py --model benchmarks/results/models/default_600s.cdmt
"""

from __future__ import annotations

import _common as C
import numpy as np
import pandas as pd
from second_stage import TELLS, movement

# (steps, sampler): `sample`'s default first.
SETTINGS = ((C.DEFAULT_STEPS, C.DEFAULT_SAMPLER), (16, "dpmpp_2m"), (50, "euler"))
QUICK_SETTINGS = ((2, C.DEFAULT_SAMPLER), (3, "euler"))


def label(steps, sampler) -> str:
    return f"{steps} {sampler}"


def last_step_sigma(synth, steps: int, column: str) -> float:
    """Median over the hours of `column`'s noise level at the last non-zero row of the
    `steps`-step grid."""
    grid = synth.schedule_.sigma_grid(steps)
    width = synth.layout_.temporal.n_features
    feature = synth.preprocessor_.numeric_names_.index(column)
    hours = np.arange(synth.layout_.max_length) * width + feature
    return float(grid[max(steps - 1, 0), hours].median())


def memory_table(synth, test, roles, settings, n, seed) -> pd.DataFrame:
    """One row per variable: the real lag-1 autocorrelation, and per setting the sampled one
    and the last step's noise level."""
    sampled = {label(*setting): synth.sample(n, steps=setting[0], sampler=setting[1],
                                             random_state=seed)
               for setting in settings}
    rows = []
    for column in [c for c in TELLS if c in roles["num_cols"]]:
        row = {"variable": column, "lag1_real": movement(test, roles, column)["lag1"]}
        for (steps, sampler), (name, frame) in zip(settings, sampled.items()):
            row[f"lag1 {name}"] = movement(frame, roles, column)["lag1"]
            row[f"sigma {name}"] = last_step_sigma(synth, steps, column)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    p = C.parser(__doc__.splitlines()[0], n=1000)
    args = p.parse_args(argv)
    if args.docs_from:
        C.docs_from(args.docs_from, write_docs)
        return
    train, test, roles = C.load_split(args.quick, args.seed)
    n = C.QUICK["n"] if args.quick else args.n
    synth = C.default_model(args, train, roles, "value_memory")
    settings = QUICK_SETTINGS if args.quick else SETTINGS
    table = memory_table(synth, test, roles, settings, n, args.seed)
    result = {"command": C.command(), "machine": C.machine(), "quick": args.quick,
              "model": args.model, "n": n,
              "optimizer_steps": int(synth.get_loss_values()["steps"].iloc[-1]),
              "settings": [list(setting) for setting in settings],
              "table": C.table_to_json(table)}
    C.print_table(readable(table, settings))
    C.finish("value_memory", result, args, write_docs)


def readable(table, settings) -> pd.DataFrame:
    """The table with one column per setting: 'lag-1 (last step's sigma)'."""
    out = table[["variable", "lag1_real"]].rename(columns={"lag1_real": "real"})
    for setting in settings:
        name = label(*setting)
        out[name] = [f"{C.fmt(float(a))} ({C.fmt(float(s), 2)})"
                     for a, s in zip(table[f"lag1 {name}"], table[f"sigma {name}"])]
    return out


def write_docs(result, path=None):
    settings = [tuple(setting) for setting in result["settings"]]
    table = C.table_from_json(result["table"])
    lines = [f"Command: `{result['command']}` ({result['optimizer_steps']} optimizer steps) — "
             f"machine: {C.machine_line(result['machine'])}.", "",
             f"Lag-1 autocorrelation of each stay's deviations from its own mean: the 1,000 "
             f"unseen patients (*real*), and {result['n']} patients sampled from the model at "
             "each sampler setting (the first is `sample`'s default), the noise level of the "
             "setting's last network evaluation in brackets (median over the hours).", "",
             *C.markdown_table(readable(table, settings))]
    C.update_docs("value_memory", "How the values move from hour to hour", lines, path)


if __name__ == "__main__":
    main()
