"""The denoiser: decoding the clean state, preconditioning, logit biases at the marginals."""

import numpy as np
import torch

from cdmtehr.diffusion.build import categorical_frequencies


def test_clean_state_decodes_back_to_the_cohort(parts):
    cohort, layout, tensors, denoiser = parts
    decoded = denoiser.decode(denoiser.clean_state(tensors))
    valid = cohort.length_mask()
    np.testing.assert_array_equal(decoded["lengths"], cohort.lengths)
    np.testing.assert_array_equal(decoded["categorical"][valid], cohort.categorical[valid])
    np.testing.assert_array_equal(decoded["observed"][valid], cohort.observed[valid])
    np.testing.assert_allclose(decoded["numeric"], cohort.numeric, rtol=1e-6)
    np.testing.assert_array_equal(decoded["static_categorical"], cohort.static_categorical)
    np.testing.assert_array_equal(decoded["static_observed"], cohort.static_observed)


def test_untrained_denoiser_is_preconditioned_identity_at_low_noise(parts):
    _, layout, tensors, denoiser = parts
    x0 = denoiser.clean_state(tensors).detach()
    condition = tensors.condition
    tiny = torch.full((layout.size,), 1e-4)
    out = denoiser.predict(x0, tiny, condition)
    # Zero-initialised heads: numeric D = c_skip x, which tends to x as sigma -> 0.
    torch.testing.assert_close(out.temporal_values, tensors.values, atol=1e-6, rtol=1e-6)
    large = torch.full((layout.size,), 50.0)
    out = denoiser.predict(x0, large, condition)
    torch.testing.assert_close(out.temporal_values, tensors.values / (1 + 50.0**2), atol=1e-6, rtol=1e-4)


def test_logit_biases_start_at_the_marginals(parts):
    _, layout, tensors, denoiser = parts
    x = torch.zeros(3, layout.size)
    out = denoiser.predict(x, torch.full((layout.size,), 80.0), tensors.condition[:3])
    temporal_freq, _ = categorical_frequencies(tensors, layout)
    group = layout.temporal.groups[1]  # the 3-level column
    group_logits = denoiser.temporal_embedding.split_logits(out.temporal_logits)
    probs = torch.softmax(group_logits[1][0, 0, 0], -1).detach().numpy()
    np.testing.assert_allclose(probs, temporal_freq[group.feature_index[0] - 3], atol=1e-3)


def test_states_padded_to_fewer_steps_keep_each_number_on_its_feature(parts):
    _, layout, tensors, denoiser = parts
    steps = 2
    sigma = torch.rand(3, layout.n_features, generator=torch.Generator().manual_seed(0))
    features = torch.as_tensor(layout.cut_features(steps))
    numbers = torch.cat([torch.arange(steps * layout.temporal.width),
                         torch.arange(layout.max_length * layout.temporal.width, layout.size)])
    short = denoiser.expand_sigma(sigma[:, features])
    assert short.shape == (3, layout.cut(steps).size)
    torch.testing.assert_close(short, denoiser.expand_sigma(sigma)[:, numbers])
    # The denoiser runs on a batch padded to its own longest stay.
    batch = tensors.index(torch.nonzero(tensors.lengths <= steps).flatten())
    assert batch.valid.shape[1] == steps
    x = denoiser.clean_state(batch).detach()
    out = denoiser(x, denoiser.expand_sigma(sigma[0, features] + 0.1),
                   torch.zeros(len(batch), dtype=torch.long))
    assert out.shape == x.shape and torch.isfinite(out).all()
