"""CDMTSynthesizer: scikit-learn contract, output contract, determinism and persistence."""

import ast
import copy
import inspect
import pickle
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from helpers.frames import TINY
from helpers.model_files import edit_manifest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from cdmtehr import CDMTSynthesizer
from cdmtehr.exceptions import InvalidParameterError, ModelFileError, NotFittedError


@pytest.fixture
def fitted(physionet_model):
    """The shared tiny model of 50 real patients (sample from it, never refit it)."""
    return physionet_model


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_parameters_default_constructible,
    ],
)
def test_sklearn_api_checks(check):
    check("CDMTSynthesizer", CDMTSynthesizer())


def test_clone_and_params():
    synth = CDMTSynthesizer(hidden_size=8, schedule="edm")
    copy = clone(synth)
    assert copy.get_params() == synth.get_params()
    assert "hidden_size=8" in repr(synth)


def test_sample_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        CDMTSynthesizer().sample(3)
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    assert issubclass(NotFittedError, SklearnNotFittedError)


def test_output_contract_on_real_subset(physionet_small, fitted):
    df, roles = physionet_small
    out = fitted.sample(25, steps=5, random_state=0)
    assert list(out.columns) == list(df.columns)
    pd.testing.assert_series_equal(out.dtypes, df.dtypes)
    ids = out[roles["id_col"]]
    assert ids.nunique() == 25
    assert not set(ids).intersection(set(df[roles["id_col"]]))  # fresh ids
    hours = out[roles["time_col"]]
    assert hours.between(0, 47).all()
    assert (out.groupby(roles["id_col"])[roles["time_col"]].diff().dropna() == 1).all()
    # Static columns are constant within each patient; categories stay in the vocabulary.
    for col in roles["static_cols"] + [roles["condition_col"]]:
        assert (out.groupby(roles["id_col"])[col].nunique(dropna=False) == 1).all()
    assert set(out["ICUType"].dropna()) <= set(df["ICUType"].dropna())
    assert set(out[roles["condition_col"]]) <= {0, 1}
    # Values stay inside the observed range; NaN appears (the model generates missingness).
    for col in ["HR", "Lactate", "Temp"]:
        observed = out[col].dropna()
        assert observed.empty or observed.between(df[col].min(), df[col].max()).all()
    assert out[roles["num_cols"]].isna().any().any()


def test_fit_does_not_mutate_input(physionet_small):
    df, roles = physionet_small
    before = df.copy(deep=True)
    CDMTSynthesizer(**TINY).fit(df, **roles)
    pd.testing.assert_frame_equal(df, before)


def test_same_random_state_gives_bit_identical_output(fitted):
    first = fitted.sample(12, random_state=7, sampler="sde", steps=5)
    second = fitted.sample(12, random_state=7, sampler="sde", steps=5)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(fitted.sample(12, random_state=8, sampler="sde", steps=5))


def test_fit_with_same_seed_gives_identical_weights(physionet_small, fitted):
    df, roles = physionet_small
    again = CDMTSynthesizer(**TINY).fit(df, **roles)
    for a, b in zip(fitted.model_.state_dict().values(), again.model_.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("sampler", ["euler", "heun", "sde", "dpmpp_2m"])
@pytest.mark.parametrize("steps", [1, 3])
def test_any_sampler_and_step_count(fitted, sampler, steps):
    out = fitted.sample(4, sampler=sampler, steps=steps, random_state=0)
    assert out["patient_id"].nunique() == 4


def test_condition_forms(fitted):
    label = "in_hospital_death"
    per_patient = lambda out: out.groupby("patient_id")[label].first()  # noqa: E731
    assert (per_patient(fitted.sample(6, condition=1, steps=2, random_state=0)) == 1).all()
    out = fitted.sample(7, condition={0: 3, 1: 4}, steps=2, random_state=0)
    counts = per_patient(out).value_counts()
    assert counts.to_dict() == {1: 4, 0: 3}
    out = fitted.sample(3, condition=[1, 0, 1], guidance_scale=2.5, steps=2, random_state=0)
    assert per_patient(out).tolist() == [1, 0, 1]
    with pytest.raises(InvalidParameterError, match="never seen"):
        fitted.sample(3, condition=5)
    with pytest.raises(InvalidParameterError, match="summing to n=4"):
        fitted.sample(4, condition={0: 1, 1: 1})


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0}, "'n'"),
        ({"n": 2.5}, "'n'"),
        ({"n": 2, "steps": 0}, "'steps'"),
        ({"n": 2, "sampler": "eulr"}, "Did you mean 'euler'"),
        ({"n": 2, "guidance_scale": -1.0}, "'guidance_scale'"),
    ],
)
def test_bad_sample_arguments(fitted, kwargs, name):
    with pytest.raises(InvalidParameterError, match=name):
        fitted.sample(**kwargs)


def test_bad_hyperparameter_raises_before_training(physionet_small):
    df, roles = physionet_small
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter"):
        CDMTSynthesizer(batch_size=0).fit(df, **roles)
    with pytest.raises(InvalidParameterError, match="training budget"):
        CDMTSynthesizer(epochs=None, max_time=None).fit(df, **roles)


PUBLIC_METHODS = ["fit", "sample", "sample_to_parquet", "forecast", "impute",
                  "from_sdv_metadata", "get_loss_values", "save", "load"]


@pytest.mark.parametrize("name", PUBLIC_METHODS)
def test_the_public_methods_are_defined_on_the_estimator(name):
    method = inspect.getattr_static(CDMTSynthesizer, name)
    function = getattr(method, "__func__", method)
    assert name in vars(CDMTSynthesizer)
    assert function.__qualname__ == f"CDMTSynthesizer.{name}"
    assert function.__module__ == "cdmtehr.synthesizer"
    assert "Parameters\n" in function.__doc__ or name == "get_loss_values"


def test_no_other_module_calls_the_estimators_private_methods():
    root = Path(__file__).resolve().parents[2]
    private = {name for name in vars(CDMTSynthesizer)
               if name.startswith("_") and not name.startswith("__")}
    assert private  # _check_fitted, _forget_fit
    calls = []
    for path in [*root.joinpath("cdmtehr").rglob("*.py"), *root.joinpath("benchmarks").glob("*.py")]:
        if path.name == "synthesizer.py" and path.parent.name == "cdmtehr":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in private:
                calls.append(f"{path.relative_to(root)}:{node.lineno} .{node.attr}")
    assert calls == []


@pytest.mark.parametrize("removed", ["checkpoint_path", "checkpoint_interval"])
def test_the_checkpoint_is_an_argument_of_fit_not_a_parameter(removed):
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{removed}'"):
        CDMTSynthesizer(**{removed: None})


def test_bad_fit_arguments_raise_before_training(physionet_small):
    df, roles = physionet_small
    with pytest.raises(InvalidParameterError,
                       match="'checkpoint_interval' parameter of CDMTSynthesizer.fit must be"):
        CDMTSynthesizer().fit(df, **roles, checkpoint_path="fit.ckpt", checkpoint_interval=0)
    with pytest.raises(InvalidParameterError, match="'checkpoint_path' parameter"):
        CDMTSynthesizer().fit(df, **roles, checkpoint_path=3)


def test_save_load_pickle_joblib_give_identical_samples(fitted, tmp_path):
    def sample(model):
        return model.sample(8, steps=2, random_state=3)

    expected = sample(fitted)
    path = tmp_path / "model.cdmt"
    fitted.save(path)
    loaded = CDMTSynthesizer.load(path)
    pd.testing.assert_frame_equal(sample(loaded), expected)
    assert loaded.get_params() == fitted.get_params()
    pd.testing.assert_frame_equal(sample(pickle.loads(pickle.dumps(fitted))), expected)
    joblib.dump(fitted, tmp_path / "model.joblib")
    pd.testing.assert_frame_equal(sample(joblib.load(tmp_path / "model.joblib")), expected)


def test_load_never_runs_a_pickle_payload(fitted, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "model.cdmt"
    fitted.save(path)
    # Replace the weights with a pickle that would run a command when unpickled.
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["weights.pt"] = pickle.dumps(Payload())
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError):
        CDMTSynthesizer.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["not_zip", "truncated", "newer", "foreign_class"])
def test_load_rejects_damaged_files(fitted, tmp_path, damage):
    path = tmp_path / "model.cdmt"
    fitted.save(path)
    data = path.read_bytes()
    if damage == "not_zip":
        path.write_bytes(b"hello, I am a CSV file\n1,2,3\n")
        match = "not a cdmtehr model file"
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
        match = "truncated or corrupt"
    elif damage == "newer":
        edit_manifest(path, lambda manifest: manifest.update(format_version=99))
        match = "newer"
    else:
        foreign = {"__type__": "os.system", "state": {"__items__": []}}
        edit_manifest(path, lambda manifest: manifest.update(fitted=foreign))
        match = "never stores"
    with pytest.raises(ModelFileError, match=match):
        CDMTSynthesizer.load(path)


def test_loss_values(fitted):
    losses = fitted.get_loss_values()
    assert list(losses.columns) == ["epoch", "steps", "seconds", "loss", "diffusion", "schedule"]
    assert len(losses) == TINY["epochs"]


def test_sample_to_parquet_streams_the_same_patients_as_sample(fitted, tmp_path):
    synth = copy.deepcopy(fitted).set_params(sample_batch_size=4)  # a sampling option: no refit
    path = synth.sample_to_parquet(10, tmp_path / "cohort.parquet", chunk_size=4, steps=2,
                                   random_state=5)
    streamed = pd.read_parquet(path)
    expected = synth.sample(10, steps=2, random_state=5)
    assert streamed["patient_id"].nunique() == 10
    pd.testing.assert_frame_equal(streamed, expected, check_dtype=False, check_categorical=False)
    pd.testing.assert_series_equal(streamed.dtypes, expected.dtypes)


def test_generated_values_keep_the_recorded_precision(fitted, physionet_small):
    df, roles = physionet_small
    out = fitted.sample(40, steps=3, random_state=0)
    pre = fitted.preprocessor_
    decimals = {n: e.decimals_ for n, e in zip(pre.numeric_names_, pre.numeric_encoders_)}
    assert {k: decimals[k] for k in ("HR", "GCS", "Temp", "pH")} == {
        "HR": 0, "GCS": 0, "Temp": 1, "pH": 2
    }
    checked = 0
    for col, places in decimals.items():
        values = out[col].dropna().to_numpy()
        assert np.array_equal(values, np.round(values, places)), col
        checked += values.size
    assert checked > 100
    loose = CDMTSynthesizer(**TINY, enforce_rounding=False).fit(df, **roles)
    pre = loose.preprocessor_
    kept = {n: e.decimals_ for n, e in zip(pre.numeric_names_, pre.numeric_encoders_)}
    # Only columns of whole numbers are still rounded.
    assert kept == {n: 0 if places == 0 else None for n, places in decimals.items()}
