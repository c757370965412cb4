"""fit_synthesizer: the steps of `CDMTSynthesizer.fit`, from checked parameters to fitted state."""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from ._parameters import (
    FIT_ARGUMENTS,
    SYNTHESIZER_PARAMETERS,
    as_random_state,
    check_parameters,
    check_privacy,
    is_two_stage,
    privacy_budget,
    resolve_device,
    torch_generator,
    training_settings,
)
from .diffusion.checkpoint import open_checkpoint
from .diffusion.model import cohort_layout, fit_diffusion
from .disclosure import MIN_PATIENTS
from .exceptions import InvalidParameterError, PrivacyWarning
from .preprocessing import SequencePreprocessor
from .profiles import fit_profile_model
from .profiles.charting import CHARTING_SHARE
from .sampling.tails import (
    CALIBRATION_SHARE,
    calibration_size,
    draw_tail_calibration,
    worth_drawing,
)

# What the preprocessor learns from the patients it is fitted on, outside DP-SGD's epsilon.
PREPROCESSOR_STATISTICS = (
    "the pooled quantiles of every numeric column, "
    "the vocabulary of every categorical column, the recording precision, the longest stay, "
    "the time grid, the class prior, and which values can be missing or are mostly repeated"
)


def fit_synthesizer(params: dict, df_long, roles: dict, public_data, *, checkpoint_path,
                    checkpoint_interval: float, owner: str = "CDMTSynthesizer") -> dict:
    """Check `params`, encode `df_long` and train; return the fitted attributes by name.

    Every check of the parameters runs before any work; nothing is set on the estimator here,
    so that a fit that fails or is interrupted leaves a fitted model as it was. With
    `public_data` the preprocessor (and the class prior) learn from that frame, and
    `df_long` is only encoded with them. With `checkpoint_path` training saves its state
    there every `checkpoint_interval` seconds and resumes from it (`CDMTSynthesizer.fit`).
    """
    check_parameters(params, SYNTHESIZER_PARAMETERS, owner)
    check_parameters({"checkpoint_path": checkpoint_path,
                      "checkpoint_interval": checkpoint_interval},
                     FIT_ARGUMENTS, f"{owner}.fit")
    if params["epochs"] is None and params["max_time"] is None:
        raise InvalidParameterError(
            f"{owner} needs a training budget: set 'epochs', 'max_time' or both."
        )
    check_privacy(params, checkpoint_path, owner)
    device = resolve_device(params["device"], owner)  # missing hardware fails now
    started = time.perf_counter()
    preprocessor = SequencePreprocessor(
        max_levels=params["max_levels"], max_decimals=6 if params["enforce_rounding"] else None,
        min_patients_per_value=params["min_patients_per_value"],
    )
    if public_data is None:
        cohort = described = preprocessor.fit_transform(df_long, **roles)
        if params["dp_epsilon"] is not None:
            warnings.warn(
                f"dp_epsilon={params['dp_epsilon']!r} covers the training steps, not the "
                f"preprocessor fitted on the same patients: {PREPROCESSOR_STATISTICS}. Pass "
                "public_data (patients, or made-up rows, that may be published) to fit for "
                "a guarantee of the whole model (docs/privacy.md).",
                PrivacyWarning,
                stacklevel=3,
            )
    else:
        described = preprocessor.fit_transform(public_data, **roles)
        cohort = preprocessor.transform(df_long)
    two_stage = is_two_stage(params)
    if params["profile"] and not two_stage:
        warnings.warn(
            f"dp_epsilon={params['dp_epsilon']!r} trains the single-stage model (as "
            "profile=False): the first stage's profile trees are fitted outside DP-SGD, so "
            "epsilon could not cover them (docs/privacy.md).",
            PrivacyWarning,
            stacklevel=3,
        )
    training, n_validation = training_settings(params, cohort.n_patients)
    # Generated scores' tails are mapped onto the normal ones (cdmtehr.sampling.tails), read
    # from patients drawn from the fitted model (no training value), when enough can be drawn.
    n_draw = calibration_size(cohort.n_patients)
    calibrate = worth_drawing(cohort, n_draw)
    if calibrate and training.max_time is not None:  # the draw takes its share of the budget
        training = dataclasses.replace(training,
                                       max_time=training.max_time * (1 - CALIBRATION_SHARE))
    profile_model, layout = None, None
    if two_stage:
        # First, so that the denoiser trains for what the charting model leaves of its share
        # (it stops when held-out patients stop improving, often before the share is spent).
        stage_started = time.perf_counter()
        layout = cohort_layout(cohort, params["embedding_dim"],
                               None if public_data is None else described)
        profile_model = fit_profile_stage(
            cohort, layout, preprocessor, params["random_state"],
            params["min_patients_per_value"],
            seconds=None if params["max_time"] is None else CHARTING_SHARE * params["max_time"],
            verbose=params["verbose"])
        if training.max_time is not None:
            spent = time.perf_counter() - stage_started
            training = dataclasses.replace(training,
                                           max_time=max(training.max_time - spent, 1.0))
    fitted = fit_diffusion(
        cohort, training, embedding_dim=params["embedding_dim"],
        hidden_size=params["hidden_size"], num_layers=params["num_layers"],
        profile=two_stage,
        schedule=params["schedule"], n_validation=n_validation,
        generator=torch_generator(params["random_state"]), device=device,
        checkpoint=open_checkpoint(checkpoint_path, checkpoint_interval, params, cohort),
        privacy=privacy_budget(params, cohort.n_patients),
        public_cohort=None if public_data is None else described, layout=layout,
    )
    counts = np.bincount(described.condition, minlength=max(cohort.n_classes, 1))
    class_prior = counts[: cohort.n_classes] / max(counts.sum(), 1)
    tail_calibration = None
    if calibrate:
        tail_calibration = draw_tail_calibration(
            fitted.denoiser, fitted.schedule, class_prior, profile_model, n_patients=n_draw,
            batch_size=params["sample_batch_size"], device=device,
            seed=int(as_random_state(params["random_state"]).randint(0, 2**31 - 1)) + 1,
            seconds=None if params["max_time"] is None else CALIBRATION_SHARE * params["max_time"],
        )
    privacy = None if fitted.privacy is None else fitted.privacy.to_dict()
    if privacy is not None:
        privacy["covers"] = "weights" if public_data is None else "model"
    return {
        "preprocessor_": preprocessor,
        "layout_": fitted.layout,
        "model_": fitted.denoiser,
        "schedule_": fitted.schedule,
        "history_": fitted.history,
        "classes_": np.asarray(preprocessor.classes_),
        "class_prior_": class_prior,
        "n_patients_": cohort.n_patients,
        "max_length_": cohort.max_length,
        "device_": device,
        "privacy_": privacy,
        "dp_epsilon_spent_": None if privacy is None else privacy["epsilon"],
        "profile_model_": profile_model,
        "tail_calibration_": tail_calibration,
        "fit_seconds_": time.perf_counter() - started,
    }


def fit_profile_stage(cohort, layout, preprocessor, random_state,
                      min_patients_per_value=MIN_PATIENTS, seconds=None, verbose=False):
    """The first stage (`cdmtehr.profiles.ClassProfiles`) of a two-stage model, seeded from the
    estimator's `random_state`; fitted before the denoiser, from the same patients encoded by
    `preprocessor`, its charting model within `seconds` (None: until it stops improving),
    logging its epochs with `verbose`."""
    seed = int(as_random_state(random_state).randint(0, 2**31 - 1))
    missing = tuple(encoder.has_missing_ for encoder in preprocessor.categorical_encoders_)
    return fit_profile_model(cohort, layout, random_state=seed,
                             min_patients=min_patients_per_value, categorical_missing=missing,
                             charting_seconds=seconds, verbose=verbose)
