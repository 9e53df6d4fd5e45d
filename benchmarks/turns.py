"""Turn-taking measured in one process, without a browser: the heaviest run the live page offers is in flight, and
3 s later a run with the page's defaults starts; how long the default run takes, for several quanta.

    python -m benchmarks.turns [--quanta 0.05 0.2 1] [--budget 30] [--out FILE]

The server's settings otherwise (torch on one thread, one slot, the job service of uap_app.jobs with the live run's
work). A quantum of ``inf`` is the schedule without turns: the default run waits for the heavy one's whole budget.
The figures go to ``--out`` as JSON (default benchmarks/turns.json) and to the screen as a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from uap_app.environment import SERVER_THREADS
from uap_app.jobs import JobService
from uap_app.live import live_test, run_live
from uap_app.memory import fix_allocator_thresholds
from uap_app.settings import LiveSettings
from uap_core import data_dir

ROOT = Path(__file__).resolve().parents[1]
HEAVIEST = LiveSettings(algorithm="paper", n_train=8000, max_passes=10, delta=0.05)
HEAD_START_S = 3.0  # the heavy run's lead, as in the lecture hall's heavy scenario


def wait(job, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while job.active and time.monotonic() < deadline:
        time.sleep(0.02)


def trial(quantum: float, budget_s: float, seed: int) -> dict:
    """One heavy run, then one default run 3 s later (both with seeds of their own, so nothing is reused)."""
    service = JobService(slots=1, places=4, quantum=quantum if math.isfinite(quantum) else 1e9, watcher_timeout=1e9)
    try:
        heavy = service.request(dataclasses.replace(HEAVIEST, seed=seed), "heavy", run_live, budget_s)
        time.sleep(HEAD_START_S)
        began = time.monotonic()
        default = service.request(LiveSettings(seed=seed), "lecturer", run_live, budget_s)
        wait(default, 10 * budget_s)
        took = time.monotonic() - began
        figures = {
            "quantum_s": quantum,
            "default_seconds": round(took, 2),
            "default_compute_s": round(default.compute_s, 2),
            "default_state": default.state,
            "heavy_fraction_then": round(heavy.fraction, 4),
        }
    finally:
        service.close(timeout=10)
    return figures


def alone(seed: int) -> float:
    """The default run with nothing else in flight: its own time."""
    service = JobService(slots=1, places=4, watcher_timeout=1e9)
    try:
        began = time.monotonic()
        job = service.request(LiveSettings(seed=seed), "lecturer", run_live, 600)
        wait(job, 600)
        return time.monotonic() - began
    finally:
        service.close(timeout=10)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024


def in_flight_memory(k: int, seconds: float = 15.0) -> dict:
    """The process's resident memory while ``k`` of the heaviest runs (alternately Algorithm 1 and fast, 8,000 training
    images each) are in flight and take turns, sampled for ``seconds``."""
    service = JobService(slots=1, places=max(k, 1), watcher_timeout=1e9)
    before, peak = rss_mb(), 0.0
    try:
        for i in range(k):
            algorithm = "paper" if i % 2 == 0 else "fast"
            service.request(dataclasses.replace(HEAVIEST, algorithm=algorithm, seed=300 + i), f"v{i}", run_live, 600)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            peak = max(peak, rss_mb())
            time.sleep(0.1)
    finally:
        service.close(timeout=10)
    return {"in_flight": k, "before_mb": round(before), "peak_mb": round(peak), "added_mb": round(peak - before)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quanta", type=float, nargs="+", default=[0.05, 0.2, 1.0, math.inf])
    parser.add_argument("--budget", type=float, default=30.0, help="each run's compute budget, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "turns.json")
    parser.add_argument("--memory", type=int, nargs="*", default=[1, 4], help="heavy runs in flight, for memory")
    args = parser.parse_args()
    fix_allocator_thresholds()  # as the server does first
    torch.set_num_threads(SERVER_THREADS)
    live_test(LiveSettings().model, str(data_dir()))  # as the live page prepares it when it opens
    figures = {"memory": [in_flight_memory(k) for k in args.memory]}
    print(figures["memory"], flush=True)
    alone(seed=99)  # the first run of a process pays for what later runs find ready
    figures |= {"default_alone_s": round(alone(seed=100), 2), "budget_s": args.budget, "trials": []}
    for i, quantum in enumerate(args.quanta):
        figures["trials"].append(trial(quantum, args.budget, seed=200 + i))
        print(figures["trials"][-1], flush=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"\ndefault run alone: {figures['default_alone_s']} s; budget {args.budget:g} s\n")
    print("| quantum | default run's seconds, heavy run in flight | its compute | heavy run's fraction then |")
    print("|---|---|---|---|")
    for row in figures["trials"]:
        print(f"| {row['quantum_s']:g} s | {row['default_seconds']:.1f} s | {row['default_compute_s']:.1f} s "
              f"| {row['heavy_fraction_then']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
