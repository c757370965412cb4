"""Bundled real data: the PhysioNet 2012 ICU cohort (sets a and b), readable offline."""

from ._physionet import (
    PHYSIONET2012_RANGES,
    PHYSIONET2012_ROLES,
    PHYSIONET2012_UNITS,
    load_physionet2012,
    physionet2012_roles,
)

__all__ = [
    "PHYSIONET2012_RANGES",
    "PHYSIONET2012_ROLES",
    "PHYSIONET2012_UNITS",
    "load_physionet2012",
    "physionet2012_roles",
]
