"""Peak memory under large, extreme and hostile inputs (not timed; one fresh process per case).

    python benchmarks/robustness_memory.py [--steps 100 1000 10000 100000] [--long 1000 10000]

Cases: ``sample(1, steps=S)`` for each S (target: memory independent of S); one training
epoch on 50 PhysioNet patients plus one patient of L rows (target: linear in L); loading an
honest model file and files doctored to declare huge sizes or to inflate (target: no hostile
file above 2x the honest file's extra memory). Each case runs in its own process and reports
its peak resident memory above the process's memory after imports (MB). Writes
benchmarks/results/robustness_memory.json.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "robustness_memory.json"


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _physionet(n_patients=50):
    from cdmtehr.datasets import load_physionet2012

    from _common import thin_columns, without_columns

    df, roles = load_physionet2012(return_roles=True)
    ids = df[roles["id_col"]].unique()[:n_patients]
    df = df[df[roles["id_col"]].isin(ids)].reset_index(drop=True)
    thin = thin_columns(df, roles)  # a model keeps no column of fewer than 5 patients
    return df.drop(columns=thin), without_columns(roles, thin)


def _case(kind, value, model):
    """Run one case in this process; return its figures."""
    import numpy as np

    from cdmtehr import CDMTSynthesizer

    warnings.simplefilter("ignore")
    if kind == "fit_long":
        df, roles = _physionet()
        one = df[df[roles["id_col"]] == df[roles["id_col"]].iloc[0]]
        long = one.sample(value, replace=True, random_state=0).reset_index(drop=True)
        long[roles["id_col"]] = "long"
        long[roles["time_col"]] = np.arange(value)
        df = df.astype({roles["id_col"]: str})
        data = __import__("pandas").concat([df, long], ignore_index=True)
        base = _peak_mb()
        start = time.perf_counter()
        CDMTSynthesizer(epochs=1, max_time=None, hidden_size=16, random_state=0).fit(
            data, **roles
        )
    else:
        synth = CDMTSynthesizer.load(model) if kind == "sample" else None
        base = _peak_mb()
        start = time.perf_counter()
        if kind == "sample":
            synth.sample(1, steps=value, random_state=0)
        else:
            try:
                CDMTSynthesizer.load(value)
                outcome = "loaded"
            except Exception as error:  # noqa: BLE001 - the outcome is the figure
                outcome = f"{type(error).__name__}"
    figures = {"kind": kind, "value": value if kind != "load" else Path(value).stem,
               "peak_mb": round(_peak_mb(), 1),
               "peak_extra_mb": round(_peak_mb() - base, 1),
               "seconds": round(time.perf_counter() - start, 1)}
    if kind == "load":
        figures["outcome"] = outcome
        figures["file_kb"] = round(Path(value).stat().st_size / 1024, 1)
    return figures


def _hostile_files(model, folder):
    """The honest file and files doctored as an attacker would; name -> path."""
    with zipfile.ZipFile(model) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}

    def write(name, members):
        path = Path(folder) / f"{name}.cdmt"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        return str(path)

    def manifest_edit(edit):
        manifest = json.loads(parts["manifest.json"])
        edit(manifest)
        return {**parts, "manifest.json": json.dumps(manifest).encode()}

    def denoiser(key, value):
        def edit(manifest):
            for item in manifest["denoiser"]["__items__"]:
                if item[0] == key:
                    item[1] = value
        return edit

    bomb = io.BytesIO()
    bomb.write(parts["arrays.npz"])
    bomb.write(bytes(2 << 30))  # 2 GB of zeros: deflates about 1000:1
    return {
        "honest": write("honest", parts),
        "max_length_10000": write(
            "max_length_10000", manifest_edit(lambda m: m["layout"].update(max_length=10_000))
        ),
        "hidden_size_8192": write("hidden_size_8192", manifest_edit(denoiser("hidden_size", 8192))),
        "n_classes_1e6": write("n_classes_1e6", manifest_edit(denoiser("n_classes", 10**6))),
        "arrays_bomb_2gb": write("arrays_bomb_2gb", {**parts, "arrays.npz": bomb.getvalue()}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    parser.add_argument("--long", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--output", default=str(RESULTS), help="JSON path (default %(default)s)")
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # kind value model (child)
    args = parser.parse_args()
    if args.case:
        kind, value, model = args.case
        value = int(value) if kind != "load" else value
        print(json.dumps(_case(kind, value, model)))  # noqa: T201
        return

    from cdmtehr import CDMTSynthesizer

    warnings.simplefilter("ignore")
    folder = tempfile.mkdtemp()
    model = str(Path(folder) / "model.cdmt")
    df, roles = _physionet()
    CDMTSynthesizer(epochs=1, max_time=None, hidden_size=16, random_state=0).fit(
        df, **roles
    ).save(model)
    cases = [("load", path) for path in _hostile_files(model, folder).values()]
    cases += [("fit_long", n) for n in args.long] + [("sample", s) for s in args.steps]
    rows = []
    for kind, value in cases:
        out = subprocess.run(
            [sys.executable, __file__, "--case", kind, str(value), model],
            capture_output=True, text=True, check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)  # noqa: T201
    import _common

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    result = _common.stamp({"command": _common.command(), "cases": rows})
    output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
