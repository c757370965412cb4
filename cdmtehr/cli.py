"""Command line: ``cdmtehr fit | sample | forecast | impute | evaluate | demo``.

`main` sets torch's thread policy (`cdmtehr._threads`) before anything imports torch, so the
modules that import it (parameter checks, evaluation) are imported where they are used.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from . import datasets
from ._threads import set_thread_policy
from ._version import __version__
from .disclosure import MIN_PATIENTS
from .exceptions import CDMTError
from .synthesizer import CDMTSynthesizer


def _defaults(function) -> dict:
    """The default of each keyword of `function` (a class: of its constructor)."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


# The command line's defaults are the estimator's, read from its signatures.
_ESTIMATOR = _defaults(CDMTSynthesizer)
_FIT = _defaults(CDMTSynthesizer.fit)
_SAMPLE = _defaults(CDMTSynthesizer.sample)
_FORECAST = _defaults(CDMTSynthesizer.forecast)
_IMPUTE = _defaults(CDMTSynthesizer.impute)


def _read_table(path, time_col=None, time_dtype=None) -> pd.DataFrame:
    """Read a parquet or CSV table. A CSV holds its times as text: the `time_col` is parsed
    as datetimes when it reads as such (as `time_dtype`, a fitted model's, when given)."""
    path = Path(path)
    if not path.is_file():
        raise CDMTError(f"No such file: {str(path)!r}.")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() not in (".csv", ".gz", ".txt"):
        raise CDMTError(f"Cannot read {str(path)!r}: use a .parquet or .csv file.")
    df = pd.read_csv(path)
    if time_col in df.columns and not pd.api.types.is_numeric_dtype(df[time_col]):
        df[time_col] = _text_to_times(df[time_col], time_dtype)
    return df


def _text_to_times(text, dtype=None):
    """Times read from text: datetimes (tz-aware when the text has offsets) or timedeltas;
    the text as it is when it is neither, so that fitting names the column and its values."""
    for parse in (lambda t: pd.to_datetime(t, format="ISO8601", utc=True), pd.to_timedelta):
        try:
            times = parse(text)
        except (ValueError, TypeError):
            continue
        if isinstance(times.dtype, pd.DatetimeTZDtype):
            tz = getattr(dtype, "tz", None)
            offsets = text.dropna().astype(str).str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").any()
            if tz is not None:
                times = times.dt.tz_convert(tz)
            elif not offsets or (dtype is not None and not isinstance(dtype, pd.DatetimeTZDtype)):
                times = times.dt.tz_localize(None)
        if dtype is not None and pd.api.types.is_datetime64_any_dtype(dtype):
            times = times.astype(dtype)
        return times
    return text


_TABLE_SUFFIXES = (".parquet", ".pq", ".csv")


def _check_table_path(path) -> None:
    """Fail before any work when `path` names a format the CLI does not write."""
    if Path(path).suffix.lower() not in _TABLE_SUFFIXES:
        raise CDMTError(f"Cannot write {str(path)!r}: use a .parquet or .csv file.")


def _write_table(df: pd.DataFrame, path) -> None:
    path = Path(path)
    _check_table_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)


def _parse_condition(text):
    """'1' -> 1 class; '0:500,1:500' -> counts. Values are matched to the fitted classes."""
    if text is None:
        return None
    if ":" in text:
        pairs = [item.split(":", 1) for item in text.split(",")]
        counts = {}
        for key, count in pairs:
            try:
                counts[key] = int(count)
            except ValueError:
                raise CDMTError(
                    f"--condition {text!r}: the count of class {key!r} is {count!r}, not a "
                    "whole number; write CLASS:COUNT pairs such as 0:500,1:500, or one class."
                ) from None
        return counts
    return text


def _check_writable(path, what: str, table: bool = True) -> None:
    """Fail now, not after training or sampling, when `path` cannot be written (folder made if
    needed) or, for a `table`, names a format the CLI does not write."""
    path = Path(path)
    if table:
        _check_table_path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise CDMTError(
            f"cannot write the {what} to {str(path)!r}: {error.strerror or error}."
        ) from None


def _match_classes(condition, classes):
    """Map command-line strings onto the model's classes (which may be ints)."""
    by_text = {str(c): c for c in classes}

    def one(value):
        return by_text.get(str(value), value)

    if isinstance(condition, dict):
        return {one(k): v for k, v in condition.items()}
    return None if condition is None else one(condition)


def _fit(args) -> None:
    df = _read_table(args.data, time_col=args.time_col)
    _check_writable(args.output, "model", table=False)
    synth = CDMTSynthesizer(
        epochs=args.epochs,
        max_time=args.max_time,
        early_stopping=args.early_stopping,
        validation_fraction=args.validation_fraction,
        n_iter_no_change=args.patience,
        random_state=args.random_state,
        verbose=not args.quiet,
        dp_epsilon=args.dp_epsilon,
        dp_delta=args.dp_delta,
        dp_max_grad_norm=args.dp_max_grad_norm,
        max_grad_norm=args.max_grad_norm,
        # With --dp-epsilon the estimator trains the single-stage model and says so.
        profile=not args.no_profile,
        min_patients_per_value=args.min_patients_per_value,
    )
    synth.fit(
        df,
        id_col=args.id_col,
        time_col=args.time_col,
        num_cols=args.num_cols,
        cat_cols=args.cat_cols,
        static_cols=args.static_cols,
        condition_col=args.condition_col,
        checkpoint_path=args.checkpoint,
        checkpoint_interval=args.checkpoint_interval,
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    synth.save(args.output)
    spent = "" if synth.privacy_ is None else (
        f", differentially private: epsilon {synth.dp_epsilon_spent_:.2f} at delta "
        f"{synth.privacy_['delta']:.1e}"
    )
    print(f"model written to {args.output} ({synth.fit_seconds_:.0f} s of training{spent})")  # noqa: T201


def _sample(args) -> None:
    condition = _parse_condition(args.condition)
    _check_writable(args.output, "synthetic patients")
    synth = CDMTSynthesizer.load(args.model)
    condition = _match_classes(condition, synth.classes_)
    df = synth.sample(
        args.n,
        condition=condition,
        steps=args.steps,
        sampler=args.sampler,
        guidance_scale=args.guidance_scale,
        random_state=args.random_state,
    )
    _write_table(df, args.output)
    print(f"{args.n} synthetic patients ({len(df)} rows) written to {args.output}")  # noqa: T201


def _read_like_fit(path, synth) -> pd.DataFrame:
    """Read a table; categories that a CSV turned into numbers ('1' -> 1) get the fitted type."""
    pre = synth.preprocessor_
    df = _read_table(path, time_col=pre.roles_.time_col, time_dtype=pre.time_grid_.dtype_)
    encoders = [*zip(pre.categorical_names_, pre.categorical_encoders_),
                *zip(pre.static_categorical_names_, pre.static_categorical_encoders_)]
    if pre.condition_encoder_ is not None:
        encoders.append((pre.roles_.condition_col, pre.condition_encoder_))
    for column, encoder in encoders:
        if column in df.columns and not df[column].dropna().isin(encoder.levels_).all():
            df[column] = df[column].map(_level_of(encoder.levels_), na_action="ignore")
    return df


def _level_of(levels):
    """value -> the fitted level it stands for: by its text ('1' for 1), or by its number, as
    a CSV column of codes with a gap comes back as floats (1.0 for '1')."""
    by_text = {str(level): level for level in levels}
    by_number = {}
    for level in levels:
        try:
            by_number.setdefault(float(str(level)), level)
        except ValueError:
            pass

    def level_of(value):
        if str(value) in by_text:
            return by_text[str(value)]
        try:
            return by_number.get(float(str(value)), value)
        except ValueError:
            return value

    return level_of


def _sampling_options(args) -> dict:
    """The sampling arguments given on the command line; the others keep the method's
    defaults."""
    options = {"steps": args.steps, "sampler": args.sampler}
    return {**{k: v for k, v in options.items() if v is not None},
            "guidance_scale": args.guidance_scale, "random_state": args.random_state}


def _forecast(args) -> None:
    _check_writable(args.output, "forecast")
    synth = CDMTSynthesizer.load(args.model)
    prefix = _read_like_fit(args.prefix, synth)
    out = synth.forecast(prefix, horizon=args.horizon, n_draws=args.n_draws,
                         **_sampling_options(args))
    _write_table(out, args.output)
    n_patients = prefix[synth.preprocessor_.roles_.id_col].nunique()
    print(f"{args.n_draws} forecast(s) of {n_patients} patients ({len(out)} rows) "  # noqa: T201
          f"written to {args.output}")


def _impute_mask(df, args, roles):
    """The cells to draw: a mask table (same rows as the data) and/or cells equal to a value."""
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    if args.mask:
        marked = _read_table(args.mask)
        if len(marked) != len(df):
            raise CDMTError(f"--mask {args.mask!r} has {len(marked)} rows; the data has "
                            f"{len(df)}: it needs one row per data row, in the same order.")
        unknown = [c for c in marked.columns if c not in df.columns]
        if unknown:
            raise CDMTError(f"--mask {args.mask!r} has columns the data lacks: {unknown}.")
        for column in marked.columns:
            values = marked[column].fillna(False).astype(str).str.strip().str.lower()
            if not values.isin(["true", "false", "1", "0", "1.0", "0.0"]).all():
                raise CDMTError(f"--mask column '{column}' must hold true/false (or 1/0).")
            mask[column] = values.isin(["true", "1", "1.0"]).to_numpy()
    if args.unknown_value is not None:
        value = float(args.unknown_value)
        fixed = {roles.id_col, roles.time_col, roles.condition_col}
        for column in df.columns:
            if column not in fixed and pd.api.types.is_numeric_dtype(df[column]):
                mask[column] |= (df[column] == value).to_numpy()
    return mask


def _impute(args) -> None:
    _check_writable(args.output, "imputed data")
    synth = CDMTSynthesizer.load(args.model)
    df = _read_like_fit(args.data, synth)
    mask = _impute_mask(df, args, synth.preprocessor_.roles_)
    out = synth.impute(df, mask=mask, n_draws=args.n_draws, nan=args.nan,
                       **_sampling_options(args))
    _write_table(out, args.output)
    print(f"{int(mask.to_numpy().sum())} cells drawn {args.n_draws} time(s); "  # noqa: T201
          f"{len(out)} rows written to {args.output}")


def _evaluate(args) -> None:
    from .evaluation import evaluate, real_vs_real, write_report

    roles = {
        "id_col": args.id_col,
        "time_col": args.time_col,
        "num_cols": args.num_cols,
        "cat_cols": args.cat_cols,
        "static_cols": args.static_cols,
        "condition_col": args.condition_col,
    }
    privacy = None
    if args.model:
        model = CDMTSynthesizer.load(args.model)
        roles, privacy = model.preprocessor_.roles_.to_dict(), model.privacy_
    elif not (args.id_col and args.time_col):
        raise CDMTError(
            "evaluate needs the column roles: give --model MODEL (roles of a fitted model) "
            "or at least --id-col and --time-col."
        )
    roles = {k: v for k, v in roles.items() if v is not None}
    real, synthetic = (_read_table(p, time_col=roles["time_col"]) for p in (args.real, args.synthetic))
    holdout = _read_table(args.holdout, time_col=roles["time_col"]) if args.holdout else None
    result = evaluate(real, synthetic, holdout, return_result=True, **roles)
    # The floor: three random parts of the real file scored as real, synthetic and holdout.
    baseline = real_vs_real(real, **roles) if args.baseline else None
    if args.report:
        write_report(real, synthetic, args.report, holdout, scores=result, baseline=baseline,
                     privacy=privacy, **roles)
    scores = {k: v for k, v in result.scores.items() if isinstance(v, (int, float))}
    if baseline is not None:
        scores["real_vs_real"] = {k: v for k, v in baseline.items() if isinstance(v, (int, float))}
    if "disc_headline" in result.details:
        scores["disc_headline"] = result.details["disc_headline"]
    # The scores alone on stdout (redirect it to a .json file); the words on stderr.
    print(json.dumps(scores, indent=2))  # noqa: T201
    _say(_headline_lines(result, baseline))
    if args.report:
        _say(f"report written to {args.report}")


def _say(text) -> None:
    """A line for the person at the terminal, on stderr, apart from the data on stdout."""
    if text:
        print(text, file=sys.stderr)  # noqa: T201


def _headline_lines(result, baseline) -> str:
    """The discriminators named, each beside its real-vs-real floor, and against whom."""
    from .evaluation.report import describe_discriminators

    parts = describe_discriminators(result.scores, result.details.get("disc_headline"), baseline)
    if not parts:
        return ""
    against = {
        "holdout": "against the held-out real patients",
        "training": "against the real training patients (no holdout given)",
    }.get(result.details.get("disc_reference"), "against the real patients")
    floor = "" if baseline else "; --baseline adds each one's real-vs-real floor"
    text = f"headline: {parts[0]}, {against} (0.5 = cannot tell synthetic from real{floor})"
    if len(parts) > 1:
        text += "\nalso: " + "; ".join(parts[1:])
    return text


def _demo(args) -> None:
    """Fit on the bundled PhysioNet 2012 set a, sample a cohort and write a report."""
    from .evaluation import evaluate, real_vs_real, write_report

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if not 40 <= args.patients <= 4000:
        raise CDMTError(
            f"--patients must be between 40 and 4000 (the bundled set a); got {args.patients}."
        )
    df, roles = datasets.load_physionet2012(return_roles=True)
    ids = df[roles["id_col"]].drop_duplicates().sample(frac=1.0, random_state=0)
    ids = ids[: args.patients]
    n_train = int(len(ids) * 0.75)
    train = df[df[roles["id_col"]].isin(ids[:n_train])]
    holdout = df[df[roles["id_col"]].isin(ids[n_train:])]
    # A few dozen patients may measure a rare lab (Cholesterol) too seldom for a model to
    # keep any of its values (min_patients_per_value): leave it out, and say so.
    measured = train[roles["num_cols"]].notna().groupby(train[roles["id_col"]]).any().sum()
    thin = [c for c in roles["num_cols"] if measured[c] < MIN_PATIENTS]
    if thin:
        print(f"Left out, measured in fewer than {MIN_PATIENTS} of the {n_train} training "  # noqa: T201
              f"patients: {', '.join(thin)}.")
    roles["num_cols"] = [c for c in roles["num_cols"] if c not in thin]
    train, holdout = train.drop(columns=thin), holdout.drop(columns=thin)
    synth = CDMTSynthesizer(max_time=args.max_time, random_state=args.random_state, verbose=True,
                            dp_epsilon=args.dp_epsilon, profile=args.dp_epsilon is None)
    synth.fit(train, **roles)
    synth.save(output / "model.cdmt")
    synthetic = synth.sample(args.n, random_state=args.random_state)
    synthetic.to_parquet(output / "synthetic.parquet", index=False)

    # As many training patients as synthetic ones, so that the discriminator sees balanced
    # classes; the real-vs-real floor splits the training patients into thirds of that size.
    options = dict(max_patients=max(args.n, 10), random_state=args.random_state, **roles)
    steps = _Steps(["scores", "real vs real", "report"])
    result = evaluate(train, synthetic, holdout, return_result=True, **options)
    steps.done()
    baseline = real_vs_real(train, **options)
    steps.done()
    write_report(
        train, synthetic, output / "report.html", holdout, scores=result, baseline=baseline,
        title="cdmtehr on PhysioNet 2012 set a", units=datasets.PHYSIONET2012_UNITS,
        plausible_ranges=datasets.PHYSIONET2012_RANGES, privacy=synth.privacy_, **options,
    )  # fmt: skip
    steps.done()
    scores = result.scores
    print(  # noqa: T201
        f"\n{_headline_lines(result, baseline)}\n"
        f"fidelity: ks_mean {scores['ks_mean']:.3f} (real vs real {baseline['ks_mean']:.3f}), "
        f"missing_rate_diff {scores['missing_rate_diff']:.3f} "
        f"(real vs real {baseline['missing_rate_diff']:.3f})\n"
        f"wrote {output / 'model.cdmt'} (the model), {output / 'synthetic.parquet'} "
        f"({args.n} synthetic patients)\n"
        f"open {output / 'report.html'} in a browser for the scores explained and the figures"
    )


class _Steps:
    """A tqdm bar over the named steps after training (nothing without tqdm)."""

    def __init__(self, names):
        self.names, self.bar = list(names), None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=len(self.names), desc=self.names[0], unit="step", leave=True)

    def done(self):
        if self.bar is None:
            return
        self.bar.update(1)
        if self.bar.n < len(self.names):
            self.bar.set_description(self.names[self.bar.n])
        else:
            self.bar.set_description("evaluation")
            self.bar.close()


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Show each option's default in --help, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _add_roles(parser) -> None:
    parser.add_argument("--id-col", required=True, help="patient identifier column")
    parser.add_argument("--time-col", required=True, help="time column")
    parser.add_argument("--num-cols", nargs="+", help="numeric columns (default: inferred)")
    parser.add_argument("--cat-cols", nargs="+", help="categorical columns (default: inferred)")
    parser.add_argument(
        "--static-cols",
        nargs="+",
        help="per-patient columns; one also in --num-cols or --cat-cols has that kind",
    )
    parser.add_argument("--condition-col", help="per-patient class to condition on")


def _add_sampling(parser) -> None:
    from ._parameters import SAMPLE_ARGUMENTS
    from .sampling.samplers import DEFAULT_SAMPLER, DEFAULT_STEPS

    # No default of its own: each command's method has its own.
    parser.add_argument("--steps", type=int, default=None,
                        help=f"sampler steps (default: {DEFAULT_STEPS} for sample, "
                        f"{_FORECAST['steps']} for forecast and impute)")
    parser.add_argument("--sampler", choices=SAMPLE_ARGUMENTS["sampler"].values, default=None,
                        help=f"ODE/SDE sampler (default: {DEFAULT_SAMPLER} for sample, "
                        f"{_FORECAST['sampler']} for forecast and impute)")
    parser.add_argument("--guidance-scale", type=float, default=_SAMPLE["guidance_scale"],
                        help="classifier-free guidance weight")
    parser.add_argument("--random-state", type=int, default=_SAMPLE["random_state"],
                        help="seed (none: random)")
    parser.add_argument("--output", required=True, help="parquet or CSV file to write")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``cdmtehr`` command."""
    from ._parameters import COMPLETION_ARGUMENTS

    defaults = _Defaults
    parser = argparse.ArgumentParser(
        prog="cdmtehr",
        description="Synthetic ICU time series with CDMT-EHR diffusion. Start with "
        "'cdmtehr demo'; 'cdmtehr COMMAND --help' shows each command's options and defaults.",
    )
    parser.add_argument("--version", action="version", version=f"cdmtehr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser(
        "fit",
        help="fit a synthesizer on a long table and save it",
        description="Fit a synthesizer on a long table (one row per patient and time step) "
        "and save it to a model file.",
        formatter_class=defaults,
    )
    fit.add_argument("data", help="parquet or CSV file, one row per (patient, time)")
    _add_roles(fit)
    budget = fit.add_argument_group("training budget (whichever ends first)")
    budget.add_argument("--epochs", type=int, default=_ESTIMATOR["epochs"],
                        help="passes over the patients")
    budget.add_argument("--max-time", type=float, default=_ESTIMATOR["max_time"],
                        help="seconds of training")
    budget.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out patients and stop when their loss stops improving",
    )
    budget.add_argument("--validation-fraction", type=float,
                        default=_ESTIMATOR["validation_fraction"],
                        help="share of patients held out")
    budget.add_argument("--patience", type=int, default=_ESTIMATOR["n_iter_no_change"],
                        help="epochs without improvement before stopping")
    private = fit.add_argument_group("differential privacy (needs cdmtehr[privacy])")
    private.add_argument("--dp-epsilon", type=float,
                         help="train with DP-SGD to this epsilon (single-stage, no profile)")
    private.add_argument("--dp-delta", type=float, help="its delta (default 1 / (10 n))")
    private.add_argument("--dp-max-grad-norm", type=float,
                         default=_ESTIMATOR["dp_max_grad_norm"],
                         help="clipping norm of each patient's gradient")
    fit.add_argument("--max-grad-norm", type=float, default=_ESTIMATOR["max_grad_norm"],
                     help="clipping norm of each batch's gradient (training without "
                     "--dp-epsilon)")
    fit.add_argument(
        "--checkpoint",
        metavar="PATH",
        default=_FIT["checkpoint_path"],
        help="save the training state here; the same fit run again resumes from it",
    )
    fit.add_argument("--checkpoint-interval", type=float, default=_FIT["checkpoint_interval"],
                     help="seconds between checkpoints")
    fit.add_argument(
        "--no-profile", action="store_true",
        help="the paper's single-stage model: no profile drawn first (see profile=)",
    )
    fit.add_argument(
        "--min-patients-per-value", type=int, default=_ESTIMATOR["min_patients_per_value"],
        metavar="K",
        help="fewest patients behind any value the model file keeps (1 keeps single "
             "patients' values: only for data that may be published)",
    )
    fit.add_argument("--random-state", type=int, default=_ESTIMATOR["random_state"],
                     help="seed (none: random)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument("--output", required=True, help="model file to write")
    fit.set_defaults(run=_fit)

    sample = sub.add_parser(
        "sample",
        help="generate patients from a saved model",
        description="Generate synthetic patients from a model file written by 'cdmtehr fit'.",
        formatter_class=defaults,
    )
    sample.add_argument("model", help="model file written by 'cdmtehr fit'")
    sample.add_argument("-n", type=int, required=True, help="number of patients")
    sample.add_argument("--condition", help="a class ('1') or counts ('0:900,1:100')")
    _add_sampling(sample)
    sample.set_defaults(run=_sample)

    forecast = sub.add_parser(
        "forecast",
        help="generate the rest of each stay given its first time steps",
        description="Given each patient's first rows (a long table as in fit), generate the "
        "rest of the stay from a saved model; the prefix rows come back unchanged.",
        formatter_class=defaults,
    )
    forecast.add_argument("model", help="model file written by 'cdmtehr fit'")
    forecast.add_argument("prefix", help="parquet or CSV file: each stay's first rows")
    forecast.add_argument("--horizon", type=int, default=_FORECAST["horizon"],
                          help="steps to generate after each prefix (default: the model "
                          "decides where each stay ends)")
    forecast.add_argument("--n-draws", type=int, default=_FORECAST["n_draws"],
                          help="forecasts per patient (a 'draw' column when more than one)")
    _add_sampling(forecast)
    forecast.set_defaults(run=_forecast)

    impute = sub.add_parser(
        "impute",
        help="draw values of cells measured but of unknown value",
        description="Draw the cells marked as measured but of unknown value (by --mask, "
        "--unknown-value or both) given the rest of each stay; empty cells stay 'not "
        "measured' unless --nan says otherwise.",
        formatter_class=defaults,
    )
    impute.add_argument("model", help="model file written by 'cdmtehr fit'")
    impute.add_argument("data", help="parquet or CSV file: whole stays, as in fit")
    impute.add_argument("--mask", help="table with the data's rows and some of its columns: "
                        "true where the value is to be drawn")
    impute.add_argument("--unknown-value", help="a value (e.g. -1) that marks, in numeric "
                        "columns, a measurement of unknown value")
    impute.add_argument("--nan", choices=COMPLETION_ARGUMENTS["nan"].values,
                        default=_IMPUTE["nan"], help="what an empty cell means: keep it empty, "
                        "draw a value, or let the model decide")
    impute.add_argument("--n-draws", type=int, default=_IMPUTE["n_draws"],
                        help="imputations (a 'draw' column when more than one)")
    _add_sampling(impute)
    impute.set_defaults(run=_impute)

    evaluate = sub.add_parser(
        "evaluate",
        help="score a synthetic cohort against real data",
        description="Score a synthetic cohort against the real one (and a holdout); print the "
        "scores as JSON on stdout, the discriminators in words on stderr, and optionally "
        "write the HTML report. With --holdout, the discriminators and the schedule of care "
        "compare the synthetic patients with the holdout.",
        formatter_class=defaults,
    )
    evaluate.add_argument("real", help="real (training) data")
    evaluate.add_argument("synthetic", help="synthetic data")
    evaluate.add_argument("--holdout", help="real patients the model never saw")
    evaluate.add_argument("--model", help="take the column roles from this model file")
    evaluate.add_argument("--id-col", help="patient identifier column (without --model)")
    evaluate.add_argument("--time-col", help="time column (without --model)")
    evaluate.add_argument("--num-cols", nargs="+", help="numeric columns (default: inferred)")
    evaluate.add_argument("--cat-cols", nargs="+", help="categorical columns (default: inferred)")
    evaluate.add_argument("--static-cols", nargs="+", help="per-patient columns")
    evaluate.add_argument("--condition-col", help="per-patient class")
    evaluate.add_argument("--report", help="HTML report to write")
    evaluate.add_argument(
        "--baseline",
        action="store_true",
        help="also score three random parts of REAL against each other (real_vs_real): each "
        "score's floor, printed under 'real_vs_real' and shown in the report",
    )
    evaluate.set_defaults(run=_evaluate)

    demo = sub.add_parser(
        "demo",
        help="fit on bundled PhysioNet 2012 and write cohort + report",
        description="Fit a synthesizer on the bundled PhysioNet 2012 set a (three quarters of "
        "the patients; the other quarter is held out), sample a synthetic cohort and write an "
        "HTML report that scores it against the held-out patients, each score beside its "
        "floor of real versus real. Writes model.cdmt, synthetic.parquet and report.html into "
        "--output.",
        formatter_class=defaults,
    )
    demo.add_argument("--output", default="output", help="folder for model, cohort and report")
    demo.add_argument("--max-time", type=float, default=_ESTIMATOR["max_time"],
                      help="seconds of training")
    demo.add_argument("-n", type=int, default=1000, help="synthetic patients")
    demo.add_argument(
        "--patients",
        type=int,
        default=4000,
        help="real patients used (3/4 to train, 1/4 held out); fewer for a quick look",
    )
    demo.add_argument("--random-state", type=int, default=0, help="seed of every draw")
    demo.add_argument("--dp-epsilon", type=float, help="train with differential privacy")
    demo.set_defaults(run=_demo)
    return parser


def _command_line_warning(command):
    """A `warnings.formatwarning` that writes 'cdmtehr <command>: <Category>: <message>'."""
    def format_warning(message, category, filename, lineno, line=None):
        return f"cdmtehr {command}: {category.__name__}: {message}\n"
    return format_warning


def main(argv=None) -> int:
    """Entry point of the ``cdmtehr`` console script; returns the exit code.

    Sets the thread policy of torch first (``CDMTEHR_THREAD_POLICY=off`` leaves it as it is;
    see ``CDMTSynthesizer``'s Notes).
    """
    set_thread_policy()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with warnings.catch_warnings():
            # A command-line user reads the warning, not the library line that raised it.
            warnings.formatwarning = _command_line_warning(args.command)
            args.run(args)
    except (CDMTError, ValueError, TypeError, OSError, ImportError) as error:
        print(f"cdmtehr {args.command}: error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:  # Ctrl-C: a saved model file, if any, was left as it was
        print(f"cdmtehr {args.command}: interrupted", file=sys.stderr)  # noqa: T201
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
