"""Shared by the examples: the training budget, tiny when CDMTEHR_QUICK=1 (the smoke test)."""

import os

QUICK = os.environ.get("CDMTEHR_QUICK") == "1"


def budget():
    """Keyword arguments of CDMTSynthesizer that bound training."""
    if QUICK:
        return {"epochs": 1, "max_time": None, "hidden_size": 16}
    return {"max_time": 600}


def subset(df, id_col, n=60):
    """The first `n` patients in quick mode, everything otherwise."""
    if not QUICK:
        return df
    keep = df[id_col].drop_duplicates().iloc[:n]
    return df[df[id_col].isin(keep)]
