"""CDMTSynthesizer: the scikit-learn-style estimator. It only orchestrates the method's parts."""

from __future__ import annotations

import copy
import numbers
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from . import __version__
from ._parameters import (
    Boolean,
    Device,
    Interval,
    NoneOr,
    Options,
    RandomState,
    check_parameters,
    resolve_training_dtype,
)
from .diffusion.batches import CohortTensors
from .diffusion.denoiser import Denoiser, categorical_frequencies, numeric_step_scales
from .diffusion.layout import StateLayout
from .diffusion.noise import noise_sampler
from .diffusion.schedule import SCHEDULES, make_schedule
from .diffusion.training import train
from .exceptions import CDMTWarning, InvalidParameterError, NotFittedError
from .preprocessing import EncodedCohort, SequencePreprocessor
from .sampling import SAMPLERS, classifier_free_guidance, self_conditioned

_PARAMETER_CONSTRAINTS = {
    "epochs": NoneOr(Interval("int", 1)),
    "max_time": NoneOr(Interval("real", 0, closed="neither")),
    "early_stopping": Boolean(),
    "validation_fraction": Interval("real", 0, 1, closed="neither"),
    "n_iter_no_change": Interval("int", 1),
    "tol": Interval("real", 0),
    "batch_size": Interval("int", 1),
    "hidden_size": Interval("int", 1),
    "num_layers": Interval("int", 1),
    "time_pooling": Boolean(),
    "static_at_every_step": Boolean(),
    "self_conditioning": Boolean(),
    "ever_measured_flags": Boolean(),
    "exact_repeats": Boolean(),
    "embedding_dim": Interval("int", 2),
    "learning_rate": Interval("real", 0, closed="neither"),
    "guidance_dropout": Interval("real", 0, 1),
    "fill_weight": Interval("real", 0),
    "loss_weighting": Options("edm", "uniform"),
    "noise_correlation": Interval("real", 0, 1, closed="left"),
    "schedule": Options(*SCHEDULES),
    "ema_decay": Interval("real", 0, 1, closed="left"),
    "max_levels": Interval("int", 2),
    "enforce_rounding": Boolean(),
    "sample_batch_size": Interval("int", 1),
    "training_precision": Options("auto", "float32", "bfloat16"),
    "device": Device(),
    "random_state": RandomState(),
    "verbose": Boolean(),
}

_SAMPLE_CONSTRAINTS = {
    "n": Interval("int", 1),
    "steps": Interval("int", 1),
    "sampler": Options(*SAMPLERS),
    "guidance_scale": Interval("real", 0),
    "random_state": RandomState(),
}


def _torch_generator(random_state) -> torch.Generator:
    """A torch.Generator seeded from a scikit-learn style random_state (never a global seed)."""
    seed = int(check_random_state(random_state).randint(0, 2**31 - 1))
    return torch.Generator(device="cpu").manual_seed(seed)


class CDMTSynthesizer(BaseEstimator):
    """Synthesizer of mixed-type ICU time series by continuous-time diffusion (CDMT-EHR).

    Fits a bidirectional-GRU denoiser with continuous-time Gaussian diffusion over scaled
    numeric values, observation masks and learnable embeddings of categories, under a
    factorized learnable noise schedule (one warp per feature and time step), with
    classifier-free guidance on an optional per-patient condition (Liu et al. 2026,
    arXiv:2603.23719; details reconstructed from CDTD and EDM, see docs/method.md).

    Parameters
    ----------
    epochs : int or None, default=300
        Passes over the training patients. Training stops at `epochs` or `max_time`, whichever
        comes first; at least one must be set.
    max_time : float or None, default=600
        Seconds of training.
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the patients, compute their diffusion loss after
        every epoch (EMA weights, the same noise each time), stop when it has not improved by
        `tol` for `n_iter_no_change` epochs, and keep the weights of the best epoch. The
        progress bar shows the validation loss and the epochs without improvement.
    validation_fraction : float, default=0.1
        Share of the patients held out for early stopping (at least one patient).
    n_iter_no_change : int, default=10
        Epochs without improvement before early stopping.
    tol : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    batch_size : int, default=256
        Patients per training step.
    hidden_size : int, default=128
        GRU width per direction.
    num_layers : int, default=1
        Stacked bidirectional GRU layers. One is the CPU default: in a fixed training time
        it gets half as many optimizer steps again as two and scored as well or better in
        side-by-side runs, with 20 % faster sampling (docs/benchmarks.md, *Session 8*). Two
        learn more per step, which can pay where steps are plentiful (a GPU, long budgets).
    time_pooling : bool, default=True
        Also feed the GRU averages of the noisy state along time (the whole stay, and
        exponential averages of the past and the future), and let the network smooth the
        denoiser's skip connection toward those averages, per step and per numeric column,
        damped once the noise is below the column's own step-to-step changes. The denoiser
        can then pool a value's noisy copies over the stay from the start of training
        instead of leaving hour-to-hour jitter (docs/method.md, section 4). False is the
        plain BiGRU denoiser (about a quarter faster to train; docs/benchmarks.md).
    static_at_every_step : bool, default=True
        Feed the noisy static state to the GRU next to every time step, not only through the
        conditioning vector (FiLM), so that a temporal column can read a static one directly
        (a temporal weight next to the weight at admission, ventilation settings next to
        "ventilated at all"). False is the network of models made before it existed.
    ever_measured_flags : bool, default=False
        Give every numeric column that some patients never have a per-patient flag "measured
        at least once in the stay", generated with the other static features; a patient
        generated with the flag off gets none of that column's values. Whether a patient is
        monitored for something at all (an arterial line, a ventilator) is one decision per
        stay, which per-step observation masks alone spread over too many patients
        (docs/method.md, section 1; off by default: it made stays easier to tell from real
        ones for the sequence classifier in our runs).
    exact_repeats : bool, default=True
        Give the observation mask of every numeric column whose measurements mostly repeat
        the one before (at least half of those after a stay's first) a third state,
        "measured, and equal to the stay's previous measurement"; a value generated in that
        state is an exact copy of the one before. Charted values are often copied
        forward (a weight charted thirty times, a Glasgow coma score or FiO2 held for hours),
        which continuous values never reproduce exactly (docs/method.md, section 1). False
        keeps two-state masks, as in models made before it existed.
    self_conditioning : bool, default=False
        Self-conditioning (Chen, Zhang & Hinton 2023): the network also reads its previous
        estimate of the clean patient, so each sampler step refines a draft (a whole
        charting schedule, say) instead of guessing it anew. Training predicts twice on
        half of its steps; sampling needs no extra network evaluation (docs/method.md,
        section 4).
    embedding_dim : int, default=4
        Embedding dimension of categorical features with more than two levels (binary ones,
        such as most observation masks, use 2).
    learning_rate : float, default=2e-3
        AdamW peak learning rate (warm-up, then cosine decay over the budget).
    guidance_dropout : float, default=0.1
        Probability of dropping the condition in training (classifier-free guidance).
    fill_weight : float, default=0.1
        Loss weight of unobserved numeric cells (0 ignores them; see docs/method.md).
    loss_weighting : {"uniform", "edm"}, default="uniform"
        Weight of numeric errors across noise levels: CDTD's plain squared error (the learned
        schedule decides where training effort goes) or EDM's lambda(sigma).
    noise_correlation : float, default=0.0
        Correlation of the diffusion noise between neighbouring time steps, in [0, 1): each
        temporal number gets AR(1) noise along the stay (Biloš et al. 2023), so that what the
        denoiser leaves of it is smooth over time rather than hour-to-hour jitter. 0 is white
        noise (docs/method.md).
    schedule : {"factorized", "edm"}, default="factorized"
        Learned factorized noise schedule, or EDM's fixed one (the ablation).
    ema_decay : float, default=0.999
        Exponential moving average of the weights used for sampling.
    max_levels : int, default=1000
        Largest vocabulary accepted for a categorical column.
    enforce_rounding : bool, default=True
        Round generated numeric values to the precision each column was recorded at (heart
        rate in whole beats, pH in hundredths: the fewest decimals, up to 6, that all its
        observed values have), as SDV does. False rounds only columns of whole numbers.
    sample_batch_size : int, default=512
        Patients generated per chunk; memory stays flat in `n`.
    training_precision : {"auto", "float32", "bfloat16"}, default="auto"
        Precision of the network's arithmetic while training (mixed precision by autocast;
        the weights, the optimizer, the preconditioning, the loss and all of sampling stay in
        float32). "auto" takes bfloat16 on a CPU with AMX tiles and float32 elsewhere: with
        AVX-512 BF16 alone, float32 trained 17-25 % faster; bfloat16 trained 20-40 % faster
        on a machine whose flags were not recorded, most likely with AMX. Results stay
        reproducible on one machine either way.
    device : str or torch.device, default="auto"
        "auto" picks CUDA when available.
    random_state : int, RandomState, Generator or None, default=None
        Seeds training; the same seed gives the same weights on the same machine.
    verbose : bool, default=False
        Progress bar (tqdm) with the loss and the time left.

    Attributes
    ----------
    preprocessor_ : SequencePreprocessor
        Column roles, encoders and the time grid learned from the data.
    layout_ : StateLayout
        Where each feature sits in the diffusion state.
    model_ : Denoiser
        The EMA denoiser used for sampling.
    schedule_ : FactorizedSchedule or EDMSchedule
        The fitted noise schedule.
    classes_ : ndarray
        Classes of `condition_col` (empty without one).
    class_prior_ : ndarray
        Their training frequencies (used when `sample` gets no condition).
    history_ : list of dict
        Loss per epoch (see `get_loss_values`).
    n_patients_ : int
        Patients seen in `fit`.
    max_length_ : int
        Longest stay (time steps).
    device_ : torch.device
        Where the model runs.
    training_dtype_ : str
        The precision the network trained in ("float32" or "bfloat16"; see
        `training_precision`).
    fit_seconds_ : float
        Wall-clock training time.

    Examples
    --------
    >>> from cdmtehr import CDMTSynthesizer
    >>> from cdmtehr.datasets import load_physionet2012
    >>> df, roles = load_physionet2012(return_roles=True)
    >>> synth = CDMTSynthesizer(max_time=60, random_state=0).fit(df, **roles)  # doctest: +SKIP
    >>> synthetic = synth.sample(100, condition={0: 50, 1: 50})  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        epochs=300,
        max_time=600.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        batch_size=256,
        hidden_size=128,
        num_layers=1,
        time_pooling=True,
        static_at_every_step=True,
        ever_measured_flags=False,
        exact_repeats=True,
        self_conditioning=False,
        embedding_dim=4,
        learning_rate=2e-3,
        guidance_dropout=0.1,
        fill_weight=0.1,
        loss_weighting="uniform",
        noise_correlation=0.0,
        schedule="factorized",
        ema_decay=0.999,
        max_levels=1000,
        enforce_rounding=True,
        sample_batch_size=512,
        training_precision="auto",
        device="auto",
        random_state=None,
        verbose=False,
    ):
        self.epochs = epochs
        self.max_time = max_time
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.time_pooling = time_pooling
        self.static_at_every_step = static_at_every_step
        self.ever_measured_flags = ever_measured_flags
        self.exact_repeats = exact_repeats
        self.self_conditioning = self_conditioning
        self.embedding_dim = embedding_dim
        self.learning_rate = learning_rate
        self.guidance_dropout = guidance_dropout
        self.fill_weight = fill_weight
        self.loss_weighting = loss_weighting
        self.noise_correlation = noise_correlation
        self.schedule = schedule
        self.ema_decay = ema_decay
        self.max_levels = max_levels
        self.enforce_rounding = enforce_rounding
        self.sample_batch_size = sample_batch_size
        self.training_precision = training_precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- fit -------------------------------------------------------------------------------------
    def fit(
        self,
        df_long,
        id_col,
        time_col,
        cat_cols=None,
        num_cols=None,
        static_cols=None,
        condition_col=None,
    ):
        """Learn the distribution of the patients in `df_long`.

        Parameters
        ----------
        df_long : pandas.DataFrame
            One row per (patient, time step). Never modified.
        id_col : str
            Patient identifier.
        time_col : str
            Time of the row: integers, floats or datetimes (regular or irregular).
        cat_cols, num_cols : list of str, optional
            Temporal categorical and numeric columns; those left as None are inferred from
            the dtypes of the remaining columns. Columns named in no role are reported in a
            `DataWarning`, never silently dropped.
        static_cols : list of str, optional
            Per-patient columns (constant within a patient), generated once per patient.
        condition_col : str, optional
            Per-patient categorical column that is generated and can be conditioned on in
            `sample` (classifier-free guidance).

        Returns
        -------
        self : CDMTSynthesizer
            The fitted synthesizer.

        Raises
        ------
        InvalidDataError
            Listing every problem of the data (each naming its column) before training.
        InvalidParameterError
            When a hyper-parameter is out of range.
        """
        check_parameters(self.get_params(), _PARAMETER_CONSTRAINTS, "CDMTSynthesizer")
        if self.epochs is None and self.max_time is None:
            raise InvalidParameterError(
                "CDMTSynthesizer needs a training budget: set 'epochs', 'max_time' or both."
            )
        from ._parameters import resolve_device

        device = resolve_device(self.device, "CDMTSynthesizer")  # missing hardware fails now
        training_dtype = resolve_training_dtype(self.training_precision, device)
        started = time.perf_counter()
        preprocessor = SequencePreprocessor(
            max_levels=self.max_levels, max_decimals=6 if self.enforce_rounding else None
        )
        cohort = preprocessor.fit_transform(
            df_long,
            id_col=id_col,
            time_col=time_col,
            cat_cols=cat_cols,
            num_cols=num_cols,
            static_cols=static_cols,
            condition_col=condition_col,
        )
        n_validation = self._validation_size(cohort.n_patients)
        self._forget_fit()  # only now: a refit on bad data keeps the fitted model
        generator = _torch_generator(self.random_state)
        layout = StateLayout.from_cohort(
            cohort,
            embedding_dim=self.embedding_dim,
            ever_measured=self.ever_measured_flags,
            repeats=self.exact_repeats,
        )
        tensors = CohortTensors.from_cohort(cohort, layout, device=device)
        validation = None
        if n_validation:
            order = torch.randperm(len(tensors), generator=generator).to(device)
            validation = tensors.index(order[:n_validation])
            tensors = tensors.index(order[n_validation:])
        temporal_freq, static_freq = categorical_frequencies(tensors, layout)
        # Weights are initialised from the generator's stream, not torch's global seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (), generator=generator)))
            denoiser = Denoiser(
                layout,
                n_classes=cohort.n_classes,
                temporal_frequencies=temporal_freq,
                static_frequencies=static_freq,
                hidden_size=self.hidden_size,
                num_layers=self.num_layers,
                time_pooling=self.time_pooling,
                smoothing_scale=(
                    numeric_step_scales(tensors, layout) if self.time_pooling else None
                ),
                static_at_every_step=self.static_at_every_step,
                self_conditioning=self.self_conditioning,
            ).to(device)
        schedule = make_schedule(self.schedule, layout).to(device)
        ema, history = train(
            denoiser,
            schedule,
            tensors,
            generator=generator,
            epochs=self.epochs,
            max_time=self.max_time,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            guidance_dropout=self.guidance_dropout,
            fill_weight=self.fill_weight,
            numeric_weighting=self.loss_weighting,
            noise_correlation=self.noise_correlation,
            ema_decay=self.ema_decay,
            validation=validation,
            n_iter_no_change=self.n_iter_no_change if validation is not None else None,
            tol=self.tol,
            verbose=self.verbose,
            network_dtype=training_dtype,
        )
        counts = np.bincount(cohort.condition, minlength=max(cohort.n_classes, 1))
        self.preprocessor_ = preprocessor
        self.layout_ = layout
        self.model_ = ema
        self.schedule_ = schedule.eval().requires_grad_(False)
        self.classes_ = np.asarray(getattr(preprocessor, "classes_", []))
        self.class_prior_ = counts[: cohort.n_classes] / max(counts.sum(), 1)
        self.history_ = history
        self.n_patients_ = cohort.n_patients
        self.max_length_ = cohort.max_length
        self.device_ = device
        self.training_dtype_ = str(training_dtype or torch.float32).removeprefix("torch.")
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _validation_size(self, n_patients: int) -> int:
        """Patients held out for early stopping (0 without it); too few patients fail here."""
        if not self.early_stopping:
            return 0
        n_validation = max(1, round(self.validation_fraction * n_patients))
        if n_validation >= n_patients:
            raise InvalidParameterError(
                f"early_stopping=True holds out {n_validation} of {n_patients} patients "
                f"(validation_fraction={self.validation_fraction}), leaving none to train on; "
                "lower validation_fraction, add patients or set early_stopping=False."
            )
        return n_validation

    def _forget_fit(self):
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _check_fitted(self, method: str):
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"This CDMTSynthesizer instance is not fitted yet. Call 'fit' with appropriate "
                f"arguments before using '{method}'."
            )

    # -- sample ----------------------------------------------------------------------------------
    def sample(
        self,
        n,
        condition=None,
        steps=50,
        sampler="euler",
        guidance_scale=1.0,
        random_state=None,
    ):
        """Generate `n` synthetic patients as a long DataFrame shaped like the training data.

        Parameters
        ----------
        n : int
            Number of patients.
        condition : None, class, dict or array-like, default=None
            None draws the condition from its training prevalence; one class gives all `n`
            patients that class; ``{class: count}`` must sum to `n`; an array-like gives one
            class per patient.
        steps : int, default=50
            Sampler steps (any count works: the model was trained in continuous time).
        sampler : {"euler", "heun", "sde"}, default="euler"
            Euler or Heun for the probability-flow ODE, or ancestral SDE steps. Heun costs
            2 * steps - 1 network evaluations.
        guidance_scale : float, default=1.0
            Classifier-free guidance weight w: 1 is plain conditional sampling, larger values
            push patients further towards their class, 0 ignores the condition.
        random_state : int, RandomState, Generator or None, default=None
            The same value gives bit-identical output on the same machine.

        Returns
        -------
        pandas.DataFrame
            The input's modelled columns, in the input's order and dtypes, with fresh patient
            ids, times on the fitted grid and NaN where the model says "not measured".
        """
        self._check_fitted("sample")
        check_parameters(
            {
                "n": n,
                "steps": steps,
                "sampler": sampler,
                "guidance_scale": guidance_scale,
                "random_state": random_state,
            },
            _SAMPLE_CONSTRAINTS,
            "CDMTSynthesizer.sample",
        )
        rng = check_random_state(random_state)
        classes = self._condition_indices(n, condition, rng)
        generator = _torch_generator(rng)
        cohort = self._generate(classes, steps, sampler, guidance_scale, generator)
        return self.preprocessor_.inverse_transform(cohort)

    def _condition_indices(self, n, condition, rng) -> np.ndarray:
        """Class index per patient (the null token when the model has no condition)."""
        where = "The 'condition' parameter of CDMTSynthesizer.sample"
        n_classes = len(self.classes_)
        if n_classes == 0:
            if condition is not None:
                raise InvalidParameterError(
                    f"{where} needs a model fitted with condition_col; this one was fitted "
                    "without."
                )
            return np.zeros(n, dtype=np.int64)
        if condition is None:
            return rng.choice(n_classes, size=n, p=self.class_prior_).astype(np.int64)
        known = self.classes_.tolist()
        lookup = {self._class_key(c): i for i, c in enumerate(self.classes_)}

        def index_of(value):
            try:
                return lookup[self._class_key(value)]
            except (KeyError, TypeError):  # TypeError: an unhashable value (a list, a dict)
                pass
            # A class given as 1 for "1" (or the reverse) is the common slip: name it.
            same_text = [c for c in known if str(c) == str(value)]
            hint = f" Did you mean {same_text[0]!r}?" if same_text else ""
            raise InvalidParameterError(
                f"{where} got class {value!r} ({type(value).__name__}), which was never seen "
                f"in fit; known classes: {known}.{hint}"
            )

        if isinstance(condition, dict):
            counts = {}
            for key, count in condition.items():
                index = index_of(key)
                if index in counts:
                    raise InvalidParameterError(f"{where} names class {known[index]!r} twice.")
                counts[index] = count
            valid = all(
                isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 0
                for v in counts.values()
            )
            if not valid or sum(counts.values()) != n:
                total = f" (sum {sum(counts.values())})" if valid else ""
                raise InvalidParameterError(
                    f"{where} is a {{class: count}} dict whose counts must be non-negative ints "
                    f"summing to n={n}. Got {condition!r}{total}."
                )
            return np.repeat(list(counts), list(counts.values())).astype(np.int64)
        try:
            ndim = np.ndim(condition)
        except ValueError:  # a ragged nest of sequences
            ndim = 2
        if isinstance(condition, (set, frozenset)) or ndim > 1:
            raise InvalidParameterError(
                f"{where} must be None, one class, a {{class: count}} dict or a 1-D sequence "
                f"of classes (one per patient); got a {type(condition).__name__}."
            )
        if ndim == 0:
            return np.full(n, index_of(condition), dtype=np.int64)
        values = list(condition)
        if len(values) != n:
            raise InvalidParameterError(
                f"{where} is array-like with {len(values)} entries; it must have one per "
                f"patient (n={n})."
            )
        return np.asarray([index_of(v) for v in values], dtype=np.int64)

    @staticmethod
    def _class_key(value):
        # 1, 1.0, np.int8(1) and "1" stay distinct, but numpy scalars equal Python ones.
        return value.item() if isinstance(value, np.generic) else value

    def _generate(self, classes, steps, sampler, guidance_scale, generator) -> EncodedCohort:
        """The whole generated cohort (see `_generate_chunks`)."""
        return EncodedCohort.concat(
            self._generate_chunks(classes, steps, sampler, guidance_scale, generator)
        )

    def _generate_chunks(self, classes, steps, sampler, guidance_scale, generator):
        """Run the sampler on `sample_batch_size` patients at a time; yield each decoded chunk.

        The noise is drawn chunk after chunk from one generator, so a streamed run and a
        single `sample` call with the same random_state produce the same patients.
        """
        model = self.model_
        device = self.device_
        null = model.n_classes
        sigmas = model.expand_sigma(self.schedule_.sigma_grid(steps).to(device).float())
        sample_fn = SAMPLERS[sampler]
        conditional = len(self.classes_) > 0
        # Objects pickled before noise_correlation existed were trained with white noise.
        draw_noise = noise_sampler(
            self.layout_, getattr(self, "noise_correlation", 0.0), generator
        )
        for start in range(0, len(classes), self.sample_batch_size):
            chunk_classes = classes[start : start + self.sample_batch_size]
            condition = torch.as_tensor(chunk_classes)
            noise = draw_noise(torch.empty((len(condition), self.layout_.size)))
            x = noise.to(device, torch.float64) * sigmas[0].double()
            extra = {"noise_sampler": draw_noise} if sampler == "sde" else {}
            if not conditional:
                condition = torch.full_like(condition, null)
            # A self-conditioned model carries its estimate from step to step: a fresh
            # wrapper per chunk, inside the guidance so each branch keeps its own.
            network = self_conditioned(model) if model.self_conditioning else model
            denoiser = (
                classifier_free_guidance(network, guidance_scale, null) if conditional else network
            )
            x = sample_fn(denoiser, x, sigmas, condition=condition.to(device), **extra)
            yield EncodedCohort(
                **model.decode(x),
                condition=np.asarray(chunk_classes),
                categorical_levels=self.preprocessor_.categorical_levels_,
                static_categorical_levels=self.preprocessor_.static_categorical_levels_,
                n_classes=len(self.classes_),
            )

    def sample_to_parquet(
        self,
        n,
        path,
        *,
        chunk_size=None,
        condition=None,
        steps=50,
        sampler="euler",
        guidance_scale=1.0,
        random_state=None,
    ):
        """Stream `n` synthetic patients into a parquet file with memory flat in `n`.

        Patients are generated `sample_batch_size` at a time and written in row groups of about
        `chunk_size` patients, so millions of patients fit in the memory of one chunk. With the
        same `random_state` the file holds the same patients as ``sample(n)``.

        Parameters
        ----------
        n : int
            Number of patients.
        path : str or path-like
            Parquet file to write (needs pyarrow).
        chunk_size : int, optional
            Patients per written row group; by default `sample_batch_size` (decoded patients
            take tens of kB each until written, so larger groups cost memory).
        condition, steps, sampler, guidance_scale, random_state
            As in `sample`.

        Returns
        -------
        pathlib.Path
            The written file.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._check_fitted("sample_to_parquet")
        chunk_size = self.sample_batch_size if chunk_size is None else chunk_size
        check_parameters(
            {
                "n": n,
                "chunk_size": chunk_size,
                "steps": steps,
                "sampler": sampler,
                "guidance_scale": guidance_scale,
                "random_state": random_state,
            },
            {**_SAMPLE_CONSTRAINTS, "chunk_size": Interval("int", 1)},
            "CDMTSynthesizer.sample_to_parquet",
        )
        path = Path(path)
        rng = check_random_state(random_state)
        classes = self._condition_indices(n, condition, rng)
        generator = _torch_generator(rng)
        pending, written, writer = [], 0, None
        try:
            chunks = self._generate_chunks(classes, steps, sampler, guidance_scale, generator)
            for index, chunk in enumerate(chunks, start=1):
                pending.append(chunk)
                if sum(c.n_patients for c in pending) < chunk_size and index * self.sample_batch_size < n:
                    continue
                cohort = EncodedCohort.concat(pending)
                frame = self.preprocessor_.inverse_transform(cohort, id_start=written)
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table.cast(writer.schema))
                written += cohort.n_patients
                pending = []
        finally:
            if writer is not None:
                writer.close()
        return path

    # -- SDV drop-in -----------------------------------------------------------------------------
    @classmethod
    def from_sdv_metadata(cls, metadata, context_columns=None, condition_column=None, **params):
        """Build a synthesizer with SDV's sequential API from SDV metadata.

        ``fit(data)`` then needs no column arguments, and ``sample_sequences(num_sequences,
        sequence_length=None)`` generates, as with SDV's ``PARSynthesizer``; tables travel as a
        DataFrame (sdv 1.x) or a ``{name: DataFrame}`` dict (sdv 2.x), whichever `fit` got.

        Parameters
        ----------
        metadata : sdv Metadata or its dict
            Needs ``sequence_key`` (patient id) and ``sequence_index`` (time); sdtypes give
            numeric ("numerical") and categorical (the rest) columns.
        context_columns : list of str, optional
            Per-sequence columns (cdmtehr's ``static_cols``).
        condition_column : str, optional
            A context column to generate and condition on.
        **params
            Hyper-parameters of `CDMTSynthesizer`.

        Returns
        -------
        cdmtehr.integrations.SDVSequentialSynthesizer
        """
        from .integrations.sdv import SDVSequentialSynthesizer

        return SDVSequentialSynthesizer(
            metadata, cls(**params), context_columns=context_columns,
            condition_column=condition_column,
        )

    # -- introspection and persistence --------------------------------------------------------
    def get_loss_values(self) -> pd.DataFrame:
        """Training loss per epoch, as SDV's ``get_loss_values``.

        Returns
        -------
        pandas.DataFrame
            One row per epoch: epoch, steps (optimizer steps so far), seconds, loss (training
            total), diffusion and schedule (its two terms); with ``early_stopping=True`` also
            val_loss (held-out patients), best_epoch and stopped_early (True on the epoch that
            triggered the stop).
        """
        self._check_fitted("get_loss_values")
        return pd.DataFrame(self.history_)

    def save(self, path):
        """Write the fitted synthesizer to `path` in a safe format (no pickle; see `load`)."""
        self._check_fitted("save")
        from .persistence import save_synthesizer

        save_synthesizer(self, path)

    @classmethod
    def load(cls, path, device="cpu"):
        """Read a synthesizer written by `save`; loading never executes code from the file."""
        from .persistence import load_synthesizer

        return load_synthesizer(cls, path, device=device)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cdmtehr_version"] = __version__
        # Modules travel on the CPU so that a pickle made on a GPU loads anywhere.
        for name in ("model_", "schedule_"):
            if name in state:
                state[name] = copy.deepcopy(state[name]).cpu()
        if "device_" in state:
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        version = state.pop("_cdmtehr_version", None)
        if version is not None and version != __version__:
            warnings.warn(
                f"This CDMTSynthesizer was pickled with cdmtehr {version} and is loaded with "
                f"{__version__}; results may differ.",
                CDMTWarning,
                stacklevel=2,
            )
        # Parameters added since: objects pickled before them were fitted without them.
        state.setdefault("noise_correlation", 0.0)
        state.setdefault("time_pooling", False)
        state.setdefault("static_at_every_step", False)
        state.setdefault("ever_measured_flags", False)
        state.setdefault("exact_repeats", False)
        state.setdefault("self_conditioning", False)
        state.setdefault("training_precision", "float32")
        if "model_" in state:
            state.setdefault("training_dtype_", "float32")
        self.__dict__.update(state)
        if "device_" in state:
            self.device_ = torch.device("cpu")
