"""CDMTSynthesizer: the scikit-learn-style estimator. It only orchestrates the method's parts."""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator

from ._threads import set_thread_policy
from .disclosure import MIN_PATIENTS
from .exceptions import NotFittedError
from .integrations.sdv import SDVSequentialSynthesizer

# The modules that import torch (fitting, sampling, persistence) are imported by the methods
# that need them, after `set_thread_policy`: OpenMP reads its wait policy when torch loads, so
# importing this module must not load torch (and changes no setting of the process).


class CDMTSynthesizer(BaseEstimator):
    """Synthesizer of mixed-type ICU time series by continuous-time diffusion (CDMT-EHR).

    Fits a bidirectional-GRU denoiser with continuous-time Gaussian diffusion over scaled
    numeric values, observation masks and learnable embeddings of categories, under a
    factorized learnable noise schedule (one warp per feature and time step), with
    classifier-free guidance on an optional per-patient condition (Liu et al. 2026,
    arXiv:2603.23719; details reconstructed from CDTD and EDM, see docs/method.md).

    The denoiser also reads averages of the noisy stay along time and the static features at
    every time step, and values mostly charted forward (a weight, a coma score) are generated
    as exact copies where the model says a measurement repeats (docs/method.md).

    By default generation has two stages (`profile`): each patient's profile (stay length;
    per value how many steps measure it and around which level) is drawn first by sequential
    regression trees, then the stay by the denoiser given that profile.

    The same model completes patients with no retraining: `sample` with ``given`` statics,
    `forecast` (the rest of each stay) and `impute` (values measured but unknown).

    Parameters
    ----------
    epochs : int or None, default=300
        Passes over the training patients. Training stops at `epochs` or `max_time`, whichever
        comes first; at least one must be set.
    max_time : float or None, default=600
        Seconds of training; a tenth of them go to the draw that calibrates the generated
        tails (`tail_calibration_`), when the cohort is large enough to have one, and with
        `profile` up to a quarter to the charting model, which usually stops earlier, when
        its held-out patients stop improving (the denoiser gets what it leaves).
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the patients and stop when their diffusion loss (EMA
        weights, the same noise every epoch) has not improved by `tol` for `n_iter_no_change`
        epochs; the weights of the best epoch are kept.
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
        Stacked bidirectional GRU layers. One layer takes more optimizer steps in a fixed
        training time and samples faster, which pays on a CPU; more layers learn more per
        step, which can pay where steps are plentiful (a GPU, long budgets).
    embedding_dim : int, default=4
        Embedding dimension of categorical features with more than two levels (binary ones,
        such as most observation masks, use 2).
    learning_rate : float, default=2e-3
        AdamW peak learning rate (warm-up, then cosine decay over the budget).
    guidance_dropout : float, default=0.1
        Probability of dropping the condition in training (classifier-free guidance).
    fill_weight : float, default=0.1
        Loss weight of unobserved numeric cells (0 ignores them; see docs/method.md).
    loss_weighting : {"auto", "edm", "uniform"}, default="auto"
        Weight of numeric errors across noise levels: EDM's lambda(sigma), which weights up
        the low noise levels where the hour-to-hour detail of a stay is decided, or CDTD's
        plain squared error (the learned schedule decides where training effort goes).
        ``"auto"``: ``"edm"`` for the two-stage model, whose profile gives each value's level
        and spread, ``"uniform"`` for the single-stage one (``profile=False`` or
        `dp_epsilon`), which must find them itself.
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
        Patients generated per chunk; memory stays flat in `n`. The noise is drawn chunk by
        chunk, so the same `random_state` with another `sample_batch_size` gives other
        (equally valid) patients: keep both to reproduce a sample.
    device : str or torch.device, default="auto"
        "auto" picks CUDA when available.
    random_state : int, RandomState, Generator or None, default=None
        Seeds training; the same seed gives the same weights on the same machine.
    verbose : bool, default=False
        Progress bars (tqdm): training, with the mean loss of the last full epoch, the time
        left and, with early stopping, the validation loss and the epochs without
        improvement; sampling, over the patients.
    dp_epsilon : float or None, default=None
        Train with differential privacy (DP-SGD, needs ``pip install "cdmtehr[privacy]"``) to
        this epsilon: the weights reveal at most that much about any one patient. What it
        covers, and what it does not (the preprocessor's statistics), is in docs/privacy.md.
    dp_delta : float or None, default=None
        The delta of the guarantee; by default 1 / (10 n_patients).
    dp_max_grad_norm : float, default=1.0
        Differentially private training (`dp_epsilon`) only: the norm C that each patient's
        gradient is clipped to before the noise, which is sized by it (Opacus'
        ``max_grad_norm``).
    max_grad_norm : float or None, default=1.0
        Training without `dp_epsilon` only: the norm the network's gradient of each batch is
        clipped to (None: no clipping). DP-SGD clips each patient's gradient instead
        (`dp_max_grad_norm`).
    profile : bool, default=True
        Generate in two stages: first each patient's profile (stay length; per value how many
        steps measure it, and the mean and sd of those measurements), drawn by sequential
        regression trees fitted on the training patients of each condition class (synthpop's
        CART method, leaves of at least 20 patients), and its charts (at which steps each
        value is measured), drawn step after step by an autoregressive charting model given
        the profile; then the stay's values, by the denoiser given both, decoded to keep them.
        False is the paper's single-stage model. With
        `dp_epsilon` the single-stage model is trained (and `fit` says so once): the trees are
        fitted outside DP-SGD (docs/method.md, section 8).
    min_patients_per_value : int, default=5
        Fewest training patients behind any number the fitted model keeps of the data: each
        quantile of a numeric column and each knot of the profile trees is a value that at
        least this many patients share or the mean of a group of at least this many
        (micro-aggregation; `cdmtehr.disclosure`), so that a saved or pickled model holds no
        single patient's value (docs/privacy.md). A numeric column that fewer patients have,
        or a categorical column other than the condition with a level that fewer patients
        have (a model keeps every level), is refused. 1 keeps single patients' values: only for data that may be
        published.

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
        Time steps a stay may have: the longest training stay, rounded up when fewer than
        `min_patients_per_value` patients have it.
    device_ : torch.device
        Where the model runs.
    fit_seconds_ : float
        Wall-clock training time.
    dp_epsilon_spent_ : float or None
        Epsilon spent by differentially private training (at `privacy_` ["delta"]); None
        without `dp_epsilon`.
    privacy_ : dict or None
        Its accounting: epsilon, delta, target_epsilon, noise_multiplier, sample_rate,
        max_grad_norm (each patient's clipping norm, `dp_max_grad_norm`), steps,
        planned_steps, and covers ("weights", or "model" when the
        preprocessor learned from `public_data`).
    profile_model_ : ClassProfiles or None
        The first stage of a two-stage model (``profile=True`` without `dp_epsilon`): per
        condition class, the trees that draw each patient's profile, and the charting model
        that draws its charts given it; None otherwise.
    tail_calibration_ : dict or None
        Per numeric channel, the map of generated scores beyond their 2 %/98 % quantiles onto
        the normal tails (`cdmtehr.sampling.tails`), read from up to 6,000 patients (twice
        the training patients at most) drawn at the end of `fit`; None when no channel would
        have had 4,000 drawn values.

    Notes
    -----
    torch's OpenMP threads spin while they wait for work, which slows a machine whose cores
    are shared. The first `fit` or `load` of a process (and the ``cdmtehr`` command) sets
    ``OMP_WAIT_POLICY=PASSIVE`` just before it imports torch, so that they sleep instead;
    importing cdmtehr loads no torch and changes no setting. OpenMP reads the variable only
    when torch loads: where torch is imported first (by your code, by ``cdmtehr.evaluation``
    or by unpickling a model), and for scikit-learn's own threads, set it before Python
    starts. A policy you set is kept; ``CDMTEHR_THREAD_POLICY=off`` leaves OpenMP's as it is.

    Examples
    --------
    >>> from cdmtehr import CDMTSynthesizer
    >>> from cdmtehr.datasets import load_physionet2012
    >>> df, roles = load_physionet2012(return_roles=True)
    >>> synth = CDMTSynthesizer(max_time=60, random_state=0).fit(df, **roles)  # doctest: +SKIP
    >>> synthetic = synth.sample(100, condition={0: 50, 1: 50})  # doctest: +SKIP
    >>> futures = synth.forecast(df[df["hour"] < 24], horizon=24, n_draws=20)  # doctest: +SKIP
    """

    def __init__(
        self, *, epochs=300, max_time=600.0, early_stopping=False, validation_fraction=0.1,
        n_iter_no_change=10, tol=1e-4, batch_size=256, hidden_size=128, num_layers=1,
        embedding_dim=4, learning_rate=2e-3, guidance_dropout=0.1, fill_weight=0.1,
        loss_weighting="auto", schedule="factorized", ema_decay=0.999, max_levels=1000,
        enforce_rounding=True, sample_batch_size=512, device="auto", random_state=None,
        verbose=False, dp_epsilon=None, dp_delta=None, dp_max_grad_norm=1.0, max_grad_norm=1.0,
        profile=True, min_patients_per_value=MIN_PATIENTS,
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
        self.embedding_dim = embedding_dim
        self.learning_rate = learning_rate
        self.guidance_dropout = guidance_dropout
        self.fill_weight = fill_weight
        self.loss_weighting = loss_weighting
        self.schedule = schedule
        self.ema_decay = ema_decay
        self.max_levels = max_levels
        self.enforce_rounding = enforce_rounding
        self.sample_batch_size = sample_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.dp_epsilon = dp_epsilon
        self.dp_delta = dp_delta
        self.dp_max_grad_norm = dp_max_grad_norm
        self.max_grad_norm = max_grad_norm
        self.profile = profile
        self.min_patients_per_value = min_patients_per_value

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, df_long, id_col, time_col, cat_cols=None, num_cols=None, static_cols=None,
            condition_col=None, public_data=None, *, checkpoint_path=None,
            checkpoint_interval=300.0):
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
            One also named in `cat_cols` or `num_cols` is static of that kind (e.g. an
            integer-coded ICU type in `cat_cols` is a category); otherwise its dtype decides.
        condition_col : str, optional
            Per-patient categorical column that is generated and can be conditioned on in
            `sample` (classifier-free guidance).
        public_data : pandas.DataFrame, optional
            Patients (or made-up rows) with the columns of `df_long` that may be published:
            the preprocessor learns its statistics (quantiles, vocabularies, longest stay,
            class prior) from them, and `df_long` must fit them. With `dp_epsilon`, the
            guarantee then covers the whole fitted model (docs/privacy.md).
        checkpoint_path : str, path-like or None, default=None
            File where training saves what resuming needs every `checkpoint_interval`
            seconds, at the end and on Ctrl-C. A fit given an existing one resumes from it
            and trains only the rest of the budget (`max_time` counts the seconds spent,
            `epochs` the epochs done; an epoch budget ends with an uninterrupted fit's
            weights). One written for other data or parameters is refused; a finished one
            makes the same fit return its model (delete it to retrain).
        checkpoint_interval : float, default=300
            Seconds of training between checkpoints (a kill loses at most this much).

        Returns
        -------
        self : CDMTSynthesizer
            The fitted synthesizer.

        The fitted state is replaced only when training completes: a refit that fails or is
        interrupted (Ctrl-C raises KeyboardInterrupt out of `fit`) leaves the previously
        fitted model as it was.

        Raises
        ------
        InvalidDataError
            Listing every problem of the data (each naming its column) before training.
        InvalidParameterError
            When a hyper-parameter or argument is out of range, or differential privacy is
            asked with an option it cannot honour (early stopping, a checkpoint, torchrun).
        ImportError
            When `dp_epsilon` is set and Opacus is not installed.
        """
        set_thread_policy()
        from ._fitting import fit_synthesizer

        roles = dict(id_col=id_col, time_col=time_col, cat_cols=cat_cols, num_cols=num_cols,
                     static_cols=static_cols, condition_col=condition_col)
        fitted = fit_synthesizer(self.get_params(), df_long, roles, public_data,
                                 checkpoint_path=checkpoint_path,
                                 checkpoint_interval=checkpoint_interval)
        # Only now: a refit that fails, or that Ctrl-C interrupts, keeps the fitted model.
        self._forget_fit()
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

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
    def sample(self, n, condition=None, steps=None, sampler=None, guidance_scale=1.0,
               random_state=None, given=None):
        """Generate `n` synthetic patients as a long DataFrame shaped like the training data.

        Parameters
        ----------
        n : int
            Number of patients.
        condition : None, class, dict or array-like, default=None
            None draws the condition from its training prevalence; one class gives all `n`
            patients that class; ``{class: count}`` must sum to `n`; an array-like gives one
            class per patient.
        steps : int or None, default=None
            Sampler steps (any count works: the model was trained in continuous time), at
            most 100,000. Memory does not grow with `steps`; time grows linearly. None: 8,
            or 50 with `given`.
        sampler : {"dpmpp_2m", "euler", "heun", "sde"} or None, default=None
            DPM-Solver++(2M), Euler or Heun for the probability-flow ODE, or ancestral SDE
            steps. DPM-Solver++(2M) is second order at one network evaluation per step. Its 8
            steps draw what 200 Euler steps draw (discriminators at 0.50 against them) in a
            sixth of the time of 50 Euler steps (docs/benchmarks.md, *Samplers against 200
            Euler steps*). Heun costs 2 * steps - 1 network evaluations. None: "dpmpp_2m", or
            "euler" with `given` (completion's default, see `forecast`).
        guidance_scale : float, default=1.0
            Classifier-free guidance weight w: 1 is plain conditional sampling, larger values
            push patients further towards their class, 0 ignores the condition.
        random_state : int, RandomState, Generator or None, default=None
            The same value gives bit-identical output on the same machine with the same
            `sample_batch_size` (the noise is drawn chunk by chunk).
        given : DataFrame or dict, optional
            Known per-patient columns (static columns, the condition): a frame of `n` rows or
            a dict of constants, e.g. ``{"Age": 85, "ICUType": "CCU"}``. They come back
            exactly; the rest is drawn given them (replacement in the sampler). NaN: drawn.

        Returns
        -------
        pandas.DataFrame
            The input's modelled columns, in the input's order and dtypes, with fresh patient
            ids, times on the fitted grid and NaN where the model says "not measured".
        """
        self._check_fitted("sample")
        from . import completion

        return completion.sample(self, n, condition=condition, steps=steps, sampler=sampler,
                                 guidance_scale=guidance_scale, random_state=random_state,
                                 given=given)

    def sample_to_parquet(self, n, path, *, chunk_size=None, condition=None, steps=8,
                          sampler="dpmpp_2m", guidance_scale=1.0, random_state=None):
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
        self._check_fitted("sample_to_parquet")
        from ._parquet import sample_to_parquet

        return sample_to_parquet(self, n, path, chunk_size=chunk_size, condition=condition,
                                 steps=steps, sampler=sampler, guidance_scale=guidance_scale,
                                 random_state=random_state)

    # -- completion ------------------------------------------------------------------------------
    def forecast(self, df_prefix, horizon=None, n_draws=1, *, condition=None, steps=50,
                 sampler="euler", guidance_scale=1.0, random_state=None):
        """Generate the rest of each stay given its first time steps.

        The prefix (values, and which were measured: NaN means "not measured") is held fixed while
        the model draws what follows, conditioned on it, by replacement in the sampler (no
        retraining). Several draws per patient give the uncertainty of the forecast.

        Parameters
        ----------
        df_prefix : pandas.DataFrame
            The first rows of each patient's stay, in the fitted long format (id and time
            columns needed; the rows of a regular grid without gaps from its start). Never
            modified. Modelled columns it lacks are unknown: drawn, and not returned. A column
            the model does not know is an error.
        horizon : int or None, default=None
            Time steps to generate after each prefix. None lets the model decide where each stay
            ends, up to the fitted grid's length; with a horizon each stay goes on for exactly
            that many steps, which must fit in the grid.
        n_draws : int, default=1
            Completions per patient. With more than one, the result has a leading ``draw``
            column (0 .. n_draws - 1) and holds the draws one after the other.
        condition : None, class, dict or array-like, default=None
            The condition of each patient when `df_prefix` has no condition column (as in
            `sample`; a contradicting column is an error). Without either, stays are completed
            by the unconditional model.
        steps, sampler, guidance_scale, random_state
            As in `sample`, but 50 Euler steps by default: the known values are noised afresh
            at every step (replacement), which the extrapolation of DPM-Solver++(2M) from the
            last step does not expect, and the completion benchmarks measured Euler and Heun.

        Returns
        -------
        pandas.DataFrame
            `df_prefix`'s columns, one row per time step of each completed stay, sorted by
            (draw,) patient and time, with a RangeIndex. The prefix rows are the input's rows,
            unchanged; per-patient columns keep their given values on the generated rows.

        Raises
        ------
        InvalidParameterError
            For a prefix longer than the fitted grid leaves (with the horizon), unknown columns,
            or a `condition` that contradicts the frame's condition column.
        InvalidDataError
            For a frame that does not fit the roles (e.g. times off the fitted grid).

        Examples
        --------
        >>> first_day = df[df["hour"] < 24]  # doctest: +SKIP
        >>> futures = synth.forecast(first_day, horizon=24, n_draws=20)  # doctest: +SKIP
        """
        self._check_fitted("forecast")
        from . import completion

        return completion.forecast(self, df_prefix, horizon=horizon, n_draws=n_draws,
                                   condition=condition, steps=steps, sampler=sampler,
                                   guidance_scale=guidance_scale, random_state=random_state)

    def impute(self, df, mask=None, n_draws=1, *, nan="unmeasured", condition=None, steps=50,
               sampler="euler", guidance_scale=1.0, random_state=None):
        """Draw the cells of stays that were measured but whose value is unknown.

        Mark the cells in `mask`, a boolean frame aligned with `df` (True: measured, value
        unknown), e.g. ``df[["HR", "MAP"]].isna()`` restricted to the hours of a broken monitor,
        or the cells of a validation split. Their values are drawn from the model given
        everything else known of the stay (by replacement in the sampler, no retraining). NaN
        outside `mask` keeps its meaning "not measured" unless `nan` says otherwise.

        Parameters
        ----------
        df : pandas.DataFrame
            Whole stays in the fitted long format. Never modified. Modelled columns it lacks are
            unknown (drawn, not returned); a column the model does not know is an error.
        mask : pandas.DataFrame of bool, ndarray of bool or None, default=None
            Cells to draw: a frame with `df`'s index and some of its columns (the others count as
            all False), or an array of `df`'s shape. The value in `df` under a True cell is
            ignored. A per-patient column marked on any row is drawn for the whole stay. Ids,
            times and the condition cannot be marked.
        n_draws : int, default=1
            Draws per patient (multiple imputation). With more than one, the result has a
            leading ``draw`` column and holds the completed copies of `df` one after the other.
        nan : {"unmeasured", "measured", "unknown"}, default="unmeasured"
            What a NaN outside `mask` means in a numeric column: "unmeasured" keeps it NaN;
            "measured" draws a value for it too (a classical imputer's behaviour); "unknown"
            lets the model draw whether it was measured, and its value if so.
        condition : None, class, dict or array-like, default=None
            As in `forecast`.
        steps, sampler, guidance_scale, random_state
            As in `forecast`.

        Returns
        -------
        pandas.DataFrame
            A copy of `df` (its columns, dtypes, row order and index; repeated per draw) with the
            drawn cells filled; every other cell is as given.

        Raises
        ------
        InvalidParameterError
            For a malformed `mask`, unknown columns, or a `condition` that contradicts the
            frame's condition column.
        InvalidDataError
            For a frame that does not fit the roles (e.g. a stay longer than the fitted grid).

        Examples
        --------
        >>> broken = df["hour"].between(10, 14).to_numpy()[:, None]  # doctest: +SKIP
        >>> hidden = df[["HR", "MAP"]].notna() & broken  # doctest: +SKIP
        >>> completed = synth.impute(df, mask=hidden, n_draws=10)  # doctest: +SKIP
        """
        self._check_fitted("impute")
        from . import completion

        return completion.impute(self, df, mask=mask, n_draws=n_draws, nan=nan,
                                 condition=condition, steps=steps, sampler=sampler,
                                 guidance_scale=guidance_scale, random_state=random_state)

    # -- SDV, introspection and persistence -------------------------------------------------------
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
        return SDVSequentialSynthesizer(metadata, cls(**params), context_columns,
                                        condition_column)

    def get_loss_values(self) -> pd.DataFrame:
        """Training loss per epoch, as SDV's ``get_loss_values``.

        Returns
        -------
        pandas.DataFrame
            One row per epoch: epoch, steps (optimizer steps so far), seconds, loss (training
            total), diffusion and schedule (its two terms); with ``early_stopping=True`` also
            val_loss (held-out patients), best_epoch and stopped_early (True on the epoch that
            triggered the stop); with `dp_epsilon` also epsilon (spent by the epoch's end),
            and NaN losses (statistics of the patients outside epsilon: see the progress bar).
        """
        self._check_fitted("get_loss_values")
        return pd.DataFrame(self.history_)

    def save(self, path):
        """Write the fitted synthesizer to `path` in a safe format (no pickle; see `load`).

        Parameters
        ----------
        path : str, path-like or binary file
            The file to write: a zip of a JSON manifest, numpy arrays and torch weights,
            written atomically (a failure leaves an existing file as it was).
        """
        self._check_fitted("save")
        from .persistence import save_synthesizer

        save_synthesizer(self, path)

    @classmethod
    def load(cls, path, device="cpu"):
        """Read a synthesizer written by `save`; loading never executes code from the file.

        Files of earlier cdmtehr versions are brought up to date as they are read.

        Parameters
        ----------
        path : str or path-like
            A file written by `save`.
        device : str or torch.device, default="cpu"
            Where the model runs ("auto" picks CUDA when available).

        Returns
        -------
        CDMTSynthesizer
            The fitted synthesizer.

        Raises
        ------
        ModelFileError
            For a file that is not a model file, is damaged, or is of a newer format.
        """
        set_thread_policy()
        from .persistence import load_synthesizer

        return load_synthesizer(cls, path, device=device)

    def __getstate__(self):
        set_thread_policy()
        from .persistence import pickled_state

        return pickled_state(self)

    def __setstate__(self, state):
        set_thread_policy()
        from .persistence import restore_pickled_state

        restore_pickled_state(self, state)
