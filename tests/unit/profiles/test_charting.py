"""The charting model: records drawn step after step, in rounds and in panels."""

import numpy as np
import pytest
import torch

from cdmtehr.diffusion.layout import StateLayout
from cdmtehr.preprocessing import EncodedCohort
from cdmtehr.profiles import draw_profiles, fit_profile_model
from cdmtehr.profiles.conditioning import profile_codes
from cdmtehr.profiles.charting import (
    SINCE_CAP,
    MaskedAutoencoder,
    draw_charts,
    fit_charting_model,
    history_inputs,
    charted_features,
    step_inputs,
)
from cdmtehr.profiles.stay import StayProfile

ROUND = 4  # steps between two records of the rounds cohort


def rounds_cohort(n=300, length=24, seed=0):
    """Stays whose values 0 and 1 are measured together every `ROUND` steps from a random
    first step, with a category recorded at those steps only (missing, its last level,
    elsewhere); value 2 is measured at every step."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(length // 2, length + 1, n)
    steps = np.arange(length)
    offsets = rng.integers(0, ROUND, n)
    rounds = (steps[None, :] - offsets[:, None]) % ROUND == 0
    observed = np.stack([rounds, rounds, np.ones_like(rounds)], axis=2)
    categorical = np.where(rounds, rng.integers(0, 2, (n, length)), 2)[..., None]
    return EncodedCohort(
        numeric=rng.normal(size=(n, length, 3)).astype("float32"), observed=observed,
        categorical=categorical, static_numeric=rng.normal(size=(n, 1)).astype("float32"),
        static_observed=np.ones((n, 1), bool), static_categorical=np.zeros((n, 1), int),
        condition=rng.integers(0, 2, n), lengths=lengths, categorical_levels=(3,),
        static_categorical_levels=(1,), n_classes=2,
    )


@pytest.fixture(scope="module")
def rounds():
    cohort = rounds_cohort()
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    model = fit_charting_model(cohort, layout, (True,),
                               generator=torch.Generator().manual_seed(0), max_epochs=80)
    return cohort, layout, model


def test_what_is_charted_is_every_mask_then_each_category_that_can_be_missing():
    layout = StateLayout.from_cohort(rounds_cohort(n=20), embedding_dim=4)
    assert layout.masked_values == (0, 1)
    assert charted_features(layout, (True,)) == [[0, 0], [1, 0], [2, 2]]
    assert charted_features(layout, (False,)) == [[0, 0], [1, 0]]


def test_nothing_to_chart_fits_no_model():
    cohort = rounds_cohort(n=20)
    full = EncodedCohort(**{**vars(cohort), "observed": np.ones_like(cohort.observed)})
    layout = StateLayout.from_cohort(full, embedding_dim=4)
    assert fit_charting_model(full, layout, (False,),
                              generator=torch.Generator().manual_seed(0)) is None


def test_the_autoencoder_reads_each_record_given_the_ones_before_it_only():
    torch.manual_seed(0)
    autoencoder = MaskedAutoencoder(5, 16, 3)
    records, context = torch.bernoulli(torch.full((4, 5), 0.5)), torch.randn(4, 3)
    logits = autoencoder(records, context)
    for k in range(5):
        flipped = records.clone()
        flipped[:, k] = 1 - flipped[:, k]
        changed = (autoencoder(flipped, context) - logits).abs().amax(dim=0) > 0
        assert not changed[: k + 1].any()  # the k-th and earlier outputs never see record k


def test_training_inputs_are_those_the_draw_computes_step_after_step():
    rng = np.random.default_rng(0)
    recorded = torch.as_tensor(rng.random((3, 9, 2)) < 0.4).float()
    lengths = torch.tensor([9, 5, 7])
    every_step = history_inputs(recorded, lengths, max_length=12)
    previous = torch.zeros(3, 2)
    since = torch.full((3, 2), float(SINCE_CAP + 12))
    for step in range(9):
        assert torch.allclose(every_step[:, step],
                              step_inputs(previous, since, step, lengths, 12))
        since = torch.where(recorded[:, step] > 0, torch.ones_like(since), since + 1)
        previous = recorded[:, step]


def test_a_fitted_model_draws_the_rounds_and_the_panels_of_its_cohort(rounds):
    cohort, layout, model = rounds
    counts = torch.as_tensor(cohort.observed[:200, :, :2].sum(axis=1))
    lengths = torch.as_tensor(cohort.lengths[:200])
    drawn = draw_charts(model, counts, lengths, torch.as_tensor(cohort.condition[:200]),
                           layout.max_length, torch.Generator().manual_seed(1)).numpy()
    assert drawn.shape == (200, 24, 3)
    inside = np.arange(24)[None, :] < lengths.numpy()[:, None]
    assert not drawn[~inside].any()
    gaps = np.concatenate([np.diff(np.flatnonzero(stay)) for stay in drawn[:, :, 0]])
    assert np.mean(gaps == ROUND) > 0.9  # the rhythm
    together = drawn[..., 0] == drawn[..., 1]
    assert together[inside].mean() > 0.98  # the panel
    assert (drawn[..., 2] == drawn[..., 0])[inside].mean() > 0.95  # the category with it


def test_draws_are_reproducible_from_the_generator(rounds):
    cohort, layout, model = rounds
    args = (torch.as_tensor(cohort.observed[:20, :, :2].sum(axis=1)),
            torch.as_tensor(cohort.lengths[:20]), torch.as_tensor(cohort.condition[:20]),
            layout.max_length)
    first = draw_charts(model, *args, torch.Generator().manual_seed(3))
    assert torch.equal(first, draw_charts(model, *args, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, draw_charts(model, *args, torch.Generator().manual_seed(4)))


def test_drawn_profiles_keep_the_counts_of_their_charts_and_levels_only_where_measured():
    cohort = rounds_cohort(n=120)
    layout = StateLayout.from_cohort(cohort, embedding_dim=4)
    model = fit_profile_model(cohort, layout, random_state=0, min_patients=1,
                              categorical_missing=(True,))
    assert model.charting is not None and model.charting.features == [[0, 0], [1, 0], [2, 2]]
    profiles = draw_profiles(model, np.zeros(50, int), layout, torch.Generator().manual_seed(0))
    assert profiles.charted.tolist() == model.charting.features
    assert torch.equal(profiles.counts, profiles.charts[..., :2].sum(dim=1))
    unmeasured = profiles.counts == 0
    assert (profiles.means[:, :2][unmeasured] == 0).all()
    assert (profiles.sds[:, :2][profiles.counts <= 1] == 0).all()
    assert profiles[:3].charts.shape == (3, layout.max_length, 3)


def test_decoding_keeps_drawn_charts_and_the_nearest_recorded_level(parts):
    _, layout, _, _ = parts
    n_masks = len(layout.masked_values)
    rng = np.random.default_rng(0)
    steps = layout.max_length
    # the masks (two levels here), the category (three, the last "missing"), the validity flag
    scores = torch.as_tensor(rng.normal(size=(4, steps, n_masks + 2, 3)))
    scores[:, :, :n_masks, 2] = scores[:, :, -1, 2] = float("-inf")
    charts = torch.as_tensor(rng.random((4, steps, n_masks + 1)) < 0.5)
    charted = torch.tensor([[mask, 0] for mask in range(n_masks)] + [[n_masks, 2]])
    lengths = torch.tensor([steps, steps, 3, 1])
    profile = StayProfile(counts=charts[..., :n_masks].sum(1), lengths=lengths,
                          means=torch.zeros(4, 3), sds=torch.zeros(4, 3), charts=charts,
                          charted=charted)
    codes, inside = profile_codes(layout, scores, profile)
    charts = charts & inside[..., None]  # nothing is recorded past a stay's end
    assert torch.equal(codes[..., -1], inside.long())
    assert torch.equal(codes[..., :n_masks] >= 1, charts[..., :n_masks])
    category = codes[..., n_masks]
    assert torch.equal(category != 2, charts[..., n_masks])
    recorded_best = scores[..., n_masks, :2].argmax(-1)
    assert torch.equal(category[charts[..., n_masks]], recorded_best[charts[..., n_masks]])


def test_the_autoencoder_draws_each_record_with_its_forward_probability():
    torch.manual_seed(1)
    autoencoder = MaskedAutoencoder(6, 32, 4)
    context = torch.randn(50, 4)
    drawn = autoencoder.sample(context, torch.Generator().manual_seed(2))
    uniform = torch.rand(drawn.shape, generator=torch.Generator().manual_seed(2))
    probability = torch.sigmoid(autoencoder(drawn, context))
    assert torch.equal(drawn, (uniform < probability).float())
    assert 0 < drawn.mean() < 1
