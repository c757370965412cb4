"""Every module of cdmtehr has a test: its mirrored unit test file, or an entry below.

A module ``cdmtehr/<subpackage>/<module>.py`` is mirrored by
``tests/unit/<subpackage>/test_<module>.py``; the leading underscores of a private module are
dropped (``cdmtehr/_fitting.py`` -> ``tests/unit/test_fitting.py``,
``cdmtehr/__main__.py`` -> ``tests/unit/test_main.py``). ``__init__.py`` files are not
walked. A module whose behaviour is tested through other files instead is listed in
`COVERED_ELSEWHERE`, the one place for such exceptions; the list is checked both ways so
that it cannot go stale.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cdmtehr"

# Module (path from the repository root) -> (covering test files, why they cover it).
COVERED_ELSEWHERE = {
    "cdmtehr/_fitting.py": (
        (
            "tests/integration/test_interrupted_refit.py",
            "tests/unit/diffusion/test_training.py",
            "tests/integration/test_synthesizer.py",
        ),
        "the fit pipeline behind CDMTSynthesizer.fit: refits that fail keep the model, "
        "validation split checked before training, every fit of the suite runs it",
    ),
    "cdmtehr/diffusion/model.py": (
        ("tests/unit/diffusion/test_long_stays.py", "tests/integration/test_synthesizer.py"),
        "warn_long_stays directly; fit_diffusion through every CDMTSynthesizer.fit",
    ),
    "cdmtehr/evaluation/_boosting.py": (
        ("tests/unit/evaluation/test_evaluate.py", "tests/unit/evaluation/test_discriminative.py"),
        "the gradient boosting of the summary discriminator and of TSTR/TRTR utility, whose "
        "scores these tests check on real, shuffled and broken cohorts",
    ),
    "cdmtehr/evaluation/_gru.py": (
        ("tests/unit/evaluation/test_discriminative.py",),
        "the GRU sequence discriminators: chance on two samples of one generator, shifted "
        "masks found, masks-only ignores the values",
    ),
    "cdmtehr/evaluation/utility.py": (
        ("tests/unit/evaluation/test_evaluate.py", "tests/unit/evaluation/test_membership.py"),
        "TSTR/TRTR scores near ideal real vs real, worse on broken cohorts, multiclass; "
        "its helpers drive the attribute-inference attack",
    ),
    "cdmtehr/preprocessing/preprocessor.py": (
        ("tests/unit/preprocessing/test_sequences.py", "tests/integration/test_roundtrip.py"),
        "SequencePreprocessor: encoding, decoding and round trips of long frames",
    ),
    "cdmtehr/synthesizer.py": (
        ("tests/integration/test_synthesizer.py",),
        "CDMTSynthesizer end to end: fit, sample, save/load, sklearn conventions",
    ),
}


def mirrored_test(module: Path) -> Path:
    """The mirrored unit test file of a module (a path relative to the repository root)."""
    relative = module.relative_to("cdmtehr")
    name = f"test_{relative.stem.strip('_')}.py"
    return Path("tests", "unit", *relative.parent.parts, name)


def package_modules() -> list:
    """Every module of the package, ``__init__.py`` files left out, relative to the root."""
    return sorted(
        path.relative_to(ROOT)
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def test_mirrored_test_names():
    assert mirrored_test(Path("cdmtehr/synthesizer.py")) == Path("tests/unit/test_synthesizer.py")
    assert mirrored_test(Path("cdmtehr/_fitting.py")) == Path("tests/unit/test_fitting.py")
    assert mirrored_test(Path("cdmtehr/__main__.py")) == Path("tests/unit/test_main.py")
    assert mirrored_test(Path("cdmtehr/evaluation/_gru.py")) == Path(
        "tests/unit/evaluation/test_gru.py"
    )


def test_the_walk_finds_the_package():
    modules = package_modules()
    assert Path("cdmtehr/synthesizer.py") in modules
    assert Path("cdmtehr/diffusion/network.py") in modules
    assert not any(module.name == "__init__.py" for module in modules)


def test_every_module_has_a_test():
    untested = [
        f"{module} (add {mirrored_test(module)} or list it in COVERED_ELSEWHERE)"
        for module in package_modules()
        if not (ROOT / mirrored_test(module)).is_file()
        and module.as_posix() not in COVERED_ELSEWHERE
    ]
    assert not untested, "modules without a test:\n" + "\n".join(untested)


def test_covered_elsewhere_is_not_stale():
    modules = {module.as_posix() for module in package_modules()}
    problems = []
    for module, (test_files, why) in COVERED_ELSEWHERE.items():
        if module not in modules:
            problems.append(f"{module}: no such module (or an __init__.py)")
        elif (ROOT / mirrored_test(Path(module))).is_file():
            problems.append(f"{module}: has {mirrored_test(Path(module))} now; drop the entry")
        if not test_files:
            problems.append(f"{module}: names no test file")
        for test_file in test_files:
            path = ROOT / test_file
            is_test = test_file.startswith("tests/") and path.name.startswith("test_")
            if not (is_test and path.is_file()):
                problems.append(f"{module}: {test_file} is not a test file of tests/")
        if not why.strip():
            problems.append(f"{module}: says not why the files cover it")
    assert not problems, "stale COVERED_ELSEWHERE entries:\n" + "\n".join(problems)
