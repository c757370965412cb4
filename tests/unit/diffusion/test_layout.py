"""StateLayout: which features the state holds and its round trip through a dict."""

from cdmtehr.diffusion.layout import StateLayout


def test_layout_counts_masks_only_where_values_go_missing(parts):
    cohort, layout, _, _ = parts
    # Channel 1 is always observed inside stays: no mask feature for it.
    assert layout.masked_values == (0, 2)
    assert layout.masked_static_values == (0,)
    assert layout.has_validity  # lengths vary
    # 3 values + 2 masks (d=2) + 1 column of 3 levels (d=4) + validity (d=2)
    assert layout.temporal.width == 3 + 2 * 2 + 4 + 2
    assert layout.size == cohort.max_length * layout.temporal.width + layout.static.width
    assert StateLayout.from_dict(layout.to_dict()) == layout
