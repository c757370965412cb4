"""Save a fitted synthesizer, load it in another process, and get the very same patients."""

import subprocess
import sys
import tempfile
from pathlib import Path

from _budget import budget, subset

from cdmtehr import CDMTSynthesizer
from cdmtehr.datasets import load_physionet2012

df, roles = load_physionet2012(return_roles=True)
df = subset(df, roles["id_col"])
synth = CDMTSynthesizer(random_state=0, **budget()).fit(df, **roles)

folder = Path(tempfile.mkdtemp())
synth.save(folder / "model.cdmt")  # JSON + arrays + weights; loading runs no code from the file
here = synth.sample(50, random_state=42)
here.to_parquet(folder / "here.parquet")

# A fresh Python process loads the file and samples with the same random_state.
code = f"""
import pandas as pd
from cdmtehr import CDMTSynthesizer
synth = CDMTSynthesizer.load({str(folder / 'model.cdmt')!r})
there = synth.sample(50, random_state=42)
pd.testing.assert_frame_equal(there, pd.read_parquet({str(folder / 'here.parquet')!r}))
print("identical:", len(there), "rows")
"""
subprocess.run([sys.executable, "-c", code], check=True)
