"""Load a saved CDMTSynthesizer, stream n patients to parquet, print peak RSS as JSON.

Run by speed.py in a fresh process per n, so that each peak RSS belongs to one run; it imports
cdmtehr only. ``-n 0`` loads the model and stops (the baseline of the process). With
``--trace-seconds S`` a thread also records the resident memory (VmRSS) every S seconds, as
(seconds since sampling started, MB) pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time


def peak_rss_mb() -> float:
    """Peak RSS of this process's own address space (VmHWM), in MB.

    Not ``ru_maxrss``: on Linux it keeps the parent's RSS at spawn (vfork, then exec keeps the
    high-water mark), which would hide the child's own figure.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resident_mb() -> float:
    """Resident memory of this process now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def trace_memory(every: float, samples: list, stop: threading.Event) -> None:
    """Append (seconds, resident MB) to `samples` every `every` seconds until `stop`."""
    start = time.perf_counter()
    while not stop.is_set():
        samples.append((round(time.perf_counter() - start, 2), round(resident_mb(), 1)))
        stop.wait(every)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--chunk-size", type=int, required=True)
    p.add_argument("--sample-batch-size", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace-seconds", type=float, default=None)
    args = p.parse_args()

    from cdmtehr import CDMTSynthesizer

    synth = CDMTSynthesizer.load(args.model)
    synth.sample_batch_size = args.sample_batch_size
    loaded_mb = peak_rss_mb()
    seconds, file_mb, rows, trace = 0.0, 0.0, 0, []
    if args.n > 0:
        stop = threading.Event()
        tracer = threading.Thread(target=trace_memory, args=(args.trace_seconds, trace, stop),
                                  daemon=True)
        if args.trace_seconds:
            tracer.start()
        start = time.perf_counter()
        synth.sample_to_parquet(args.n, args.out, chunk_size=args.chunk_size, steps=args.steps,
                                random_state=args.seed)
        seconds = time.perf_counter() - start
        stop.set()
        if args.trace_seconds:
            tracer.join()
            trace.append((round(seconds, 2), round(resident_mb(), 1)))
        file_mb = os.path.getsize(args.out) / 2**20
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(args.out).metadata.num_rows
    print(json.dumps({
        "n": args.n,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_load_mb": loaded_mb,
        "seconds": seconds,
        "file_mb": file_mb,
        "rows": rows,
        **({"trace": trace} if args.trace_seconds else {}),
    }))


if __name__ == "__main__":
    main()
