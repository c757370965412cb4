"""patient_blocks: slices of patients of bounded size for whole-cohort array work."""

from cdmtehr._blocks import BLOCK_CELLS, patient_blocks


def test_patient_blocks_cover_every_patient_once():
    blocks = list(patient_blocks(10, BLOCK_CELLS // 3))
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    # a patient larger than a block is a block of its own
    assert [(b.start, b.stop) for b in patient_blocks(2, 10 * BLOCK_CELLS)] == [(0, 1), (1, 2)]
    assert list(patient_blocks(0, 5)) == []
