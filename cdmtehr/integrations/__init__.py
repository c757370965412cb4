"""Adapters to other ecosystems (SDV)."""

from .sdv import SDVSequentialSynthesizer, roles_from_sdv_metadata

__all__ = ["SDVSequentialSynthesizer", "roles_from_sdv_metadata"]
