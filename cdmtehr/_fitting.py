"""fit_synthesizer: the steps of `CDMTSynthesizer.fit`, from checked parameters to fitted state."""

from __future__ import annotations

import time

import numpy as np

from ._parameters import (
    SYNTHESIZER_PARAMETERS,
    check_parameters,
    check_privacy,
    privacy_budget,
    resolve_device,
    torch_generator,
    training_settings,
)
from .diffusion.checkpoint import open_checkpoint
from .diffusion.model import fit_diffusion
from .exceptions import InvalidParameterError
from .preprocessing import SequencePreprocessor


def fit_synthesizer(params: dict, df_long, roles: dict, owner: str = "CDMTSynthesizer") -> dict:
    """Check `params`, encode `df_long` and train; return the fitted attributes by name.

    Every check of the parameters runs before any work; nothing is set on the estimator here,
    so that a fit that fails or is interrupted leaves a fitted model as it was.
    """
    check_parameters(params, SYNTHESIZER_PARAMETERS, owner)
    if params["epochs"] is None and params["max_time"] is None:
        raise InvalidParameterError(
            f"{owner} needs a training budget: set 'epochs', 'max_time' or both."
        )
    check_privacy(params, owner)
    device = resolve_device(params["device"], owner)  # missing hardware fails now
    started = time.perf_counter()
    preprocessor = SequencePreprocessor(
        max_levels=params["max_levels"], max_decimals=6 if params["enforce_rounding"] else None
    )
    cohort = preprocessor.fit_transform(df_long, **roles)
    training, n_validation = training_settings(params, cohort.n_patients)
    fitted = fit_diffusion(
        cohort, training, embedding_dim=params["embedding_dim"],
        hidden_size=params["hidden_size"], num_layers=params["num_layers"],
        schedule=params["schedule"], n_validation=n_validation,
        generator=torch_generator(params["random_state"]), device=device,
        checkpoint=open_checkpoint(params, cohort),
        privacy=privacy_budget(params, cohort.n_patients),
    )
    counts = np.bincount(cohort.condition, minlength=max(cohort.n_classes, 1))
    privacy = None if fitted.privacy is None else fitted.privacy.to_dict()
    return {
        "preprocessor_": preprocessor,
        "layout_": fitted.layout,
        "model_": fitted.denoiser,
        "schedule_": fitted.schedule,
        "history_": fitted.history,
        "classes_": np.asarray(preprocessor.classes_),
        "class_prior_": counts[: cohort.n_classes] / max(counts.sum(), 1),
        "n_patients_": cohort.n_patients,
        "max_length_": cohort.max_length,
        "device_": device,
        "privacy_": privacy,
        "dp_epsilon_spent_": None if privacy is None else privacy["epsilon"],
        "fit_seconds_": time.perf_counter() - started,
    }
