"""What a stay's profile is: its statistics, and the inputs a denoiser reads of it.

A profile is the stay's length and, per numeric value, how many of its steps measure it and
the mean and standard deviation of those measurements (in normal scores). The denoiser is
trained given each patient's real profile (`stay_profile`, as per-patient inputs
`profile_inputs`) and samples given a drawn one (`cdmtehr.profiles.draw_profiles`), which
`cdmtehr.profiles.conditioning` holds while sampling and keeps when decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StayProfile:
    """Profiles of B patients.

    Attributes
    ----------
    counts : LongTensor (B, n_masks)
        Measured steps of each masked value (layout order of the masks).
    lengths : LongTensor (B,)
        Steps in the stay.
    means, sds : Tensor (B, n_values)
        Mean and standard deviation of each value over its measured steps; 0 without a
        measurement (mean) or with fewer than two (sd).
    charts : BoolTensor (B, T, S) or None
        Where the steps are drawn too (`cdmtehr.profiles.charting`): at which steps each of
        the S features of `charted` is recorded (the masked values first, in layout order:
        `counts` are their numbers). None: only the counts are given; the denoiser places
        them.
    charted : LongTensor (S, 2) or None
        Per charted feature, its index among the temporal categorical features and its code
        of "not recorded" (`cdmtehr.profiles.charting.charted_features`): a tensor, read at
        every sampler step that holds the profile.
    """

    counts: torch.Tensor
    lengths: torch.Tensor
    means: torch.Tensor
    sds: torch.Tensor
    charts: torch.Tensor | None = None
    charted: torch.Tensor | None = None

    def __getitem__(self, index) -> StayProfile:
        charts = None if self.charts is None else self.charts[index]
        return StayProfile(self.counts[index], self.lengths[index], self.means[index],
                           self.sds[index], charts, self.charted)

    def __len__(self) -> int:
        return len(self.lengths)

    def to(self, device) -> StayProfile:
        """The same profiles on `device`."""
        charts = None if self.charts is None else self.charts.to(device)
        charted = None if self.charted is None else self.charted.to(device)
        return StayProfile(*(t.to(device) for t in (self.counts, self.lengths, self.means,
                                                    self.sds)), charts, charted)


def profile_width(layout) -> int:
    """Network inputs per patient: per mask a share and an "ever" flag, per value a mean and
    an sd, the length share and a "profile given" flag."""
    return 2 * len(layout.masked_values) + 2 * layout.n_values + 2


def measured_steps(codes: torch.Tensor, valid: torch.Tensor, layout) -> torch.Tensor:
    """(B, T, n_values) bool: steps inside the stay that measure each numeric value."""
    n_masks = len(layout.masked_values)
    measured = valid[..., None].expand(*valid.shape, layout.n_values).clone()
    measured[..., list(layout.masked_values)] &= codes[..., :n_masks] >= 1
    return measured


def level_statistics(values: torch.Tensor, measured: torch.Tensor) -> tuple:
    """Mean and sample standard deviation (B, K) of values (B, T, K) over measured steps."""
    weight = measured.to(values.dtype)
    n = weight.sum(dim=1)
    mean = (values * weight).sum(dim=1) / n.clamp_min(1)
    square = ((values - mean[:, None]) ** 2 * weight).sum(dim=1)
    sd = torch.where(n > 1, (square / (n - 1).clamp_min(1)).sqrt(), torch.zeros_like(square))
    return mean, sd


def stay_profile(values, codes, valid, layout) -> StayProfile:
    """The profiles of stays given as training tensors (see `CohortTensors`)."""
    measured = measured_steps(codes, valid, layout)
    means, sds = level_statistics(values, measured)
    counts = measured[..., list(layout.masked_values)].sum(dim=1)
    return StayProfile(counts, valid.sum(dim=1), means, sds)


def profile_inputs(profile: StayProfile, layout) -> torch.Tensor:
    """The network's inputs (B, `profile_width`) for `profile`."""
    lengths = profile.lengths.to(torch.float32)
    counts = profile.counts.to(torch.float32)
    share = counts / lengths.clamp_min(1)[:, None]
    ever = (counts > 0).to(torch.float32)
    length_share = (lengths / layout.max_length)[:, None]
    given = torch.ones_like(length_share)
    parts = [share, ever, profile.means.float(), profile.sds.float(), length_share, given]
    return torch.cat(parts, dim=-1)
