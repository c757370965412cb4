"""The OpenMP wait policy of torch's threads, set where cdmtehr's torch work begins.

torch's OpenMP threads otherwise spin-wait on cores that other processes need: on a busy
2-core machine the same ``sample(5)`` took 18.9 s once and 0.4 s the next time. Passive threads
sleep while they wait.

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch first loads it (``import torch``; later
changes of the variable do nothing in that process). Importing cdmtehr therefore imports no
torch and changes nothing; `set_thread_policy` runs just before cdmtehr first imports torch: at
the first ``CDMTSynthesizer.fit`` or ``load`` (or pickling), and at the start of the command
line.
"""

from __future__ import annotations

import os
import sys

# The switch: CDMTEHR_THREAD_POLICY=off leaves OpenMP's wait policy as it is.
SWITCH = "CDMTEHR_THREAD_POLICY"


def set_thread_policy() -> bool:
    """Let torch's OpenMP threads wait passively, where that can still take effect.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` in the environment (which torch's OpenMP reads when torch
    loads, and child processes inherit), unless ``CDMTEHR_THREAD_POLICY=off``, the variable is
    already set (the user's choice wins), or torch is already imported (its OpenMP has read
    the environment: set the variable before starting Python instead).

    Returns
    -------
    bool
        Whether the policy was set.
    """
    if os.environ.get(SWITCH, "").strip().lower() == "off":
        return False
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
