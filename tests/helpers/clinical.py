"""A three-patient frame that uses every column role once, for validation tests."""

import numpy as np
import pandas as pd

ROLES = {
    "id_col": "pid",
    "time_col": "hour",
    "num_cols": ["HR", "Temp"],
    "cat_cols": ["Vent"],
    "static_cols": ["Age", "Sex"],
    "condition_col": "died",
}


def good_frame(died=("0", "0", "0", "1", "1", "0")):
    """Three patients with 3, 2 and 1 hourly rows; `died` gives the condition's six values."""
    return pd.DataFrame(
        {
            "pid": [101, 101, 101, 102, 102, 103],
            "hour": np.array([0, 1, 2, 0, 1, 0], dtype="int16"),
            "HR": [80.0, np.nan, 85.0, 110.0, 112.0, np.nan],
            "Temp": [37.0, 37.2, np.nan, 38.1, np.nan, 36.5],
            "Vent": pd.Categorical(["0", "1", None, "0", "0", "1"]),
            "Age": [54.0, 54.0, 54.0, 71.0, 71.0, 33.0],
            "Sex": ["F", "F", "F", "M", "M", None],
            "died": died,
        }
    )
