"""Shared by the examples: the training budget, tiny when CDMTEHR_QUICK=1 (the smoke test)."""

import os

QUICK = os.environ.get("CDMTEHR_QUICK") == "1"


def budget():
    """Keyword arguments of CDMTSynthesizer that bound training."""
    if QUICK:
        return {"epochs": 1, "max_time": None, "hidden_size": 16}
    return {"max_time": 600}


def subset(df, id_col, n=60):
    """In quick mode the first `n` patients and 16 who measure each numeric variable (a
    model refuses a column that fewer than 5 training patients have); everything otherwise."""
    if not QUICK:
        return df
    keep = set(df[id_col].drop_duplicates().iloc[:n])
    for column in df.columns.drop(id_col):
        if df[column].dtype.kind == "f":
            keep |= set(df.loc[df[column].notna(), id_col].drop_duplicates()[:16])
    return df[df[id_col].isin(keep)]
