"""What a stay's profile is: the statistics of its measurements and the denoiser's inputs."""

import numpy as np
import torch

from cdmtehr.profiles.stay import level_statistics, profile_inputs, profile_width, stay_profile


def test_level_statistics_are_the_mean_and_sample_sd_of_measured_steps():
    values = torch.tensor([[[1.0], [3.0], [100.0], [5.0]]])
    measured = torch.tensor([[[True], [True], [False], [True]]])
    mean, sd = level_statistics(values, measured)
    assert mean.item() == 3.0
    assert abs(sd.item() - np.std([1.0, 3.0, 5.0], ddof=1)) < 1e-6


def test_level_statistics_are_zero_without_enough_measurements():
    values = torch.tensor([[[4.0, 2.0], [7.0, 9.0]]])
    measured = torch.tensor([[[False, True], [False, False]]])
    mean, sd = level_statistics(values, measured)
    assert mean.tolist() == [[0.0, 2.0]] and sd.tolist() == [[0.0, 0.0]]


def test_profile_inputs_have_the_profile_width_and_flag_a_given_profile(parts):
    _, layout, tensors, _ = parts
    profile = stay_profile(tensors.values, tensors.codes, tensors.valid, layout)
    inputs = profile_inputs(profile, layout)
    assert inputs.shape == (len(profile), profile_width(layout))
    assert torch.all(inputs[:, -1] == 1.0)  # "profile given"
    n_masks = len(layout.masked_values)
    share = profile.counts / profile.lengths[:, None]
    assert torch.allclose(inputs[:, :n_masks], share.float())
