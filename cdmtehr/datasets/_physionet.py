"""The PhysioNet/CinC Challenge 2012 ICU cohort, hourly long format (sets a and b bundled)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from ..exceptions import InvalidDataError, InvalidParameterError

# One file per challenge set: the same columns, dtypes and row order (patient_id, hour).
_BUNDLED = {"a": "physionet2012_seta_long.parquet", "b": "physionet2012_setb_long.parquet"}

_STATIC_COLS = ["set", "Age", "Gender", "Height", "ICUType", "Weight_admit", "MechVent_any"]
_NUM_COLS = [
    "Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine",
    "DiasABP", "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP",
    "Na", "NIDiasABP", "NIMAP", "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate",
    "SaO2", "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC", "Weight",
]  # fmt: skip

# Dtypes of the published table; a CSV copy is read back into them.
_CATEGORIES = {
    "set": ["a", "b", "c"],
    "Gender": ["female", "male"],
    "ICUType": ["CCU", "CSRU", "MICU", "SICU"],
    "MechVent_any": ["0", "1"],
    "MechVent": ["0", "1"],
}
_DTYPES = {"patient_id": "int64", "hour": "int16", "in_hospital_death": "int8"}

# Units of the challenge's variables (its documentation), for axis labels and tables.
PHYSIONET2012_UNITS = {
    "Age": "years", "Height": "cm", "Weight_admit": "kg", "Weight": "kg",
    "Albumin": "g/dL", "ALP": "IU/L", "ALT": "IU/L", "AST": "IU/L", "Bilirubin": "mg/dL",
    "BUN": "mg/dL", "Cholesterol": "mg/dL", "Creatinine": "mg/dL", "DiasABP": "mmHg",
    "FiO2": "fraction", "GCS": "points", "Glucose": "mg/dL", "HCO3": "mmol/L", "HCT": "%",
    "HR": "bpm", "K": "mEq/L", "Lactate": "mmol/L", "Mg": "mmol/L", "MAP": "mmHg",
    "Na": "mEq/L", "NIDiasABP": "mmHg", "NIMAP": "mmHg", "NISysABP": "mmHg", "PaCO2": "mmHg",
    "PaO2": "mmHg", "Platelets": "10^3/uL", "RespRate": "breaths/min", "SaO2": "%",
    "SysABP": "mmHg", "Temp": "degC", "TroponinI": "ug/L", "TroponinT": "ug/L",
    "Urine": "mL", "WBC": "10^3/uL", "hour": "h",
}  # fmt: skip

# Physiologically possible values, generously wide: outside them a value is a recording or
# unit error (pH 735 for 7.35, a temperature of -17.8, a weight of 0 kg), not a patient.
PHYSIONET2012_RANGES = {
    "Age": (15, 120), "Height": (100, 250), "Weight_admit": (20, 350), "Weight": (20, 350),
    "Albumin": (0.5, 7), "ALP": (1, 5000), "ALT": (1, 20000), "AST": (1, 30000),
    "Bilirubin": (0, 60), "BUN": (0, 250), "Cholesterol": (20, 1000), "Creatinine": (0.05, 30),
    "DiasABP": (5, 200), "FiO2": (0.21, 1), "GCS": (3, 15), "Glucose": (10, 2000),
    "HCO3": (1, 60), "HCT": (5, 75), "HR": (1, 300), "K": (1, 12), "Lactate": (0.1, 40),
    "Mg": (0.3, 10), "MAP": (10, 250), "Na": (90, 200), "NIDiasABP": (5, 200),
    "NIMAP": (10, 250), "NISysABP": (20, 300), "PaCO2": (5, 150), "PaO2": (10, 700),
    "pH": (6.5, 8.0), "Platelets": (1, 2000), "RespRate": (0, 80), "SaO2": (20, 100),
    "SysABP": (20, 300), "Temp": (25, 45), "TroponinI": (0, 100), "TroponinT": (0, 50),
    "Urine": (0, 5000), "WBC": (0.1, 300),
}  # fmt: skip


def physionet2012_roles() -> dict:
    """Column roles of the PhysioNet 2012 long table, as keyword arguments of ``fit``.

    Returns
    -------
    dict
        ``id_col``, ``time_col``, ``num_cols`` (36 temporal numeric variables), ``cat_cols``
        (``["MechVent"]``), ``static_cols`` and ``condition_col`` (``"in_hospital_death"``).
        A new dict each call, so callers may edit it.
    """
    return {
        "id_col": "patient_id",
        "time_col": "hour",
        "num_cols": list(_NUM_COLS),
        "cat_cols": ["MechVent"],
        "static_cols": list(_STATIC_COLS),
        "condition_col": "in_hospital_death",
    }


PHYSIONET2012_ROLES = physionet2012_roles()


def load_physionet2012(path=None, *, part="a", return_roles=False, clean=False):
    """Load the PhysioNet/Computing in Cardiology Challenge 2012 ICU cohort, one row per hour.

    By default reads a copy bundled with cdmtehr, which works offline: set a (the default)
    or set b of the challenge, each 4,000 ICU stays of 48 hours (192,000 rows, 47 columns).
    The 37 time series (36 numeric and the categorical ``MechVent``) are re-binned hourly;
    unmeasured cells are NaN. Static descriptors and the label ``in_hospital_death`` (554
    deaths in set a, 568 in set b) are repeated on every row of the patient.

    Parameters
    ----------
    path : str or path-like, optional
        A parquet (``.parquet``) or CSV file of the same table, e.g. the full sets a+b+c
        (12,000 patients). CSV columns are cast back to the published dtypes.
    part : {"a", "b"}, default="a"
        Which bundled set to read: set a (patients 132539 to 142673) or set b (patients
        142675 to 152864). The two sets hold different patients from the same source, so
        set b is an unseen cohort for a model fitted on set a. Applies to the bundled data
        only; with `path`, select a set through the ``set`` column instead.
    return_roles : bool, default=False
        Also return the column roles, ready for ``synth.fit(df, **roles)``.
    clean : bool, default=False
        Repair or remove values that cannot be physiological: a pH between 650 and 800 was
        recorded without its decimal point and is divided by 100 (735 becomes 7.35); every
        other value outside ``PHYSIONET2012_RANGES`` (a temperature of -17.8, a weight of
        0 kg, a potassium of 22.9) becomes NaN. In set a this changes about 2,300 of the
        1.9 million recorded values, most of them blood pressures of 0. Off by default: the
        table is then the published one, the data that published results on this challenge
        (and cdmtehr's benchmarks) use, and the report of ``cdmtehr demo`` flags those
        values instead. Turn it on to train on plausible data.

    Returns
    -------
    df : pandas.DataFrame
        The long table: ``patient_id`` (int64), ``hour`` (int16, 0..47), categorical columns
        as pandas ``category``, measurements as float64, ``in_hospital_death`` (int8).
    roles : dict
        Only when `return_roles`; see :func:`physionet2012_roles`.

    Raises
    ------
    InvalidParameterError
        If `part` is neither ``"a"`` nor ``"b"``, if `part` is ``"b"`` together with `path`,
        or if `path` is neither a parquet nor a CSV file.
    InvalidDataError
        If the file lacks columns of the table, or a categorical column holds a value outside
        its published levels.

    Notes
    -----
    The data is distributed by PhysioNet under the Open Data Commons Attribution License
    v1.0 (ODC-By 1.0). Cite both references below when you use it.

    References
    ----------
    .. [1] Silva I, Moody G, Scott DJ, Celi LA, Mark RG. Predicting In-Hospital Mortality of
       ICU Patients: The PhysioNet/Computing in Cardiology Challenge 2012. Computing in
       Cardiology 2012;39:245-248.
    .. [2] Goldberger AL, Amaral LAN, Glass L, et al. PhysioBank, PhysioToolkit, and
       PhysioNet: Components of a New Research Resource for Complex Physiologic Signals.
       Circulation 2000;101(23):e215-e220.

    Examples
    --------
    >>> from cdmtehr.datasets import load_physionet2012
    >>> df, roles = load_physionet2012(return_roles=True)
    >>> df.shape
    (192000, 47)
    >>> roles["condition_col"]
    'in_hospital_death'
    >>> load_physionet2012(part="b")["patient_id"].nunique()
    4000
    """
    if not isinstance(part, str) or part not in _BUNDLED:
        raise InvalidParameterError(
            f"The 'part' argument of load_physionet2012 must be one of {sorted(_BUNDLED)} "
            f"(the bundled challenge sets); got {part!r}."
        )
    if path is not None and part != "a":
        raise InvalidParameterError(
            f"The 'part' argument of load_physionet2012 selects a bundled set, so it cannot "
            f"be {part!r} when 'path' is given (got path='{path}'); select the set from the "
            f"loaded table instead, e.g. df[df['set'] == {part!r}]."
        )
    if path is None:
        data = resources.files(__package__) / "data" / _BUNDLED[part]
        with resources.as_file(data) as bundled:
            df = pd.read_parquet(bundled)
    else:
        df = _read_table(Path(path))
    if clean:
        df = _clean(df)
    return (df, physionet2012_roles()) if return_roles else df


def _clean(df) -> pd.DataFrame:
    """The documented cleaning of `load_physionet2012` (a new frame)."""
    df = df.copy()
    ph = df["pH"]
    df["pH"] = ph.where(~ph.between(650, 800), ph / 100)
    for col, (low, high) in PHYSIONET2012_RANGES.items():
        if col in df.columns:
            df[col] = df[col].where(df[col].isna() | df[col].between(low, high))
    return df


def _read_table(path) -> pd.DataFrame:
    """Read a user's copy of the table (parquet or CSV) into the published columns and dtypes."""
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith(".parquet"):
        df = pd.read_parquet(path)
    elif suffix.endswith(".csv") or suffix.endswith(".csv.gz"):
        categorical = {c: "string" for c in _CATEGORIES}  # read "1" as text, not the number 1
        df = pd.read_csv(path, dtype=categorical)
    else:
        raise InvalidParameterError(
            f"The 'path' argument of load_physionet2012 must be a .parquet or .csv file; got "
            f"'{path}'."
        )
    roles = physionet2012_roles()
    expected = [roles["id_col"], roles["time_col"], *roles["static_cols"], *roles["num_cols"],
                *roles["cat_cols"], roles["condition_col"]]
    missing = [c for c in expected if c not in df.columns]
    problems = [f"Column '{c}' is not in '{path}'." for c in missing]
    if len(missing) > 5:  # most likely another file (e.g. the outcomes table)
        problems = [
            f"'{path}' lacks {len(missing)} of the {len(expected)} columns of the PhysioNet 2012 "
            f"long table (e.g. {missing[:5]}); pass the long table (one row per patient and hour)."
        ]
    dtypes = {}
    for col, levels in _CATEGORIES.items():
        if col not in df.columns:
            continue
        # Through text, so that 1, 1.0 and "1" all name the level "1"; a value outside the
        # published levels is an error, never a silent NaN.
        text = df[col].astype("string").str.replace(r"\.0$", "", regex=True)
        unknown = sorted(set(text.dropna()) - set(levels))
        if unknown:
            problems.append(
                f"Column '{col}' of '{path}' has values {unknown[:5]} outside the published "
                f"levels {levels}."
            )
        dtypes[col] = (text, pd.CategoricalDtype(levels))
    if problems:
        raise InvalidDataError(problems)
    df = df.copy()
    for col, (text, dtype) in dtypes.items():
        df[col] = text.astype(dtype)
    numeric = {c: "float64" for c in [*_NUM_COLS, "Age", "Height", "Weight_admit"]}
    return df.astype({**_DTYPES, **numeric})
