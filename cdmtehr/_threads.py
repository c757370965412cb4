"""OpenMP wait policy for torch's threads, set before torch is first imported.

torch's OpenMP threads otherwise spin-wait on cores that other processes need: on a busy
2-core machine the same ``sample(5)`` took 18.9 s once and 0.4 s the next time. Passive threads
sleep while they wait. A value the user set, or a torch imported before cdmtehr, takes
precedence.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
