"""patient_blocks: slices of patients of bounded size for whole-cohort array work."""

import numpy as np
import torch

from cdmtehr._blocks import BLOCK_CELLS, patient_blocks


def test_patient_blocks_cover_every_patient_once():
    blocks = list(patient_blocks(np.zeros((10, BLOCK_CELLS // 3), dtype=np.uint8)))
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    # a patient larger than a block is a block of its own
    huge = torch.zeros(2, 10 * BLOCK_CELLS, dtype=torch.bool)
    assert [(b.start, b.stop) for b in patient_blocks(huge)] == [(0, 1), (1, 2)]
    # no patients: one empty block, so that a caller's result keeps its shape
    assert list(patient_blocks(np.zeros((0, 5)))) == [slice(0, 0)]
