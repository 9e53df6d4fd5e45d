"""What the jobs a visitor can start cost: seconds of one core for live runs with the page's settings and for each
findings page's recompute, as the server computes them (torch on one thread). The figures behind the job budget.

    python -m benchmarks.job_costs [--cap 90] [--out benchmarks/job_costs.json]

A run still going after ``--cap`` seconds is stopped there; its total is extrapolated from the fraction it reached.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from uap_app.environment import SERVER_THREADS
from uap_app.live import live_test
from uap_app.resources import model, subset
from uap_app.settings import LiveSettings
from uap_core import data_dir, iter_universal_perturbation
from uap_core.experiments import EXPERIMENTS

ROOT = Path(__file__).resolve().parents[1]
LIVE = {
    "defaults (fast, 500 images, 5 passes, δ 0.2)": LiveSettings(),
    "Algorithm 1, other defaults": LiveSettings(algorithm="paper"),
    "fast, 8,000 images, 10 passes": LiveSettings(n_train=8000, max_passes=10),
    "fast, 8,000 images, 10 passes, δ 0.05": LiveSettings(n_train=8000, max_passes=10, delta=0.05),
    "Algorithm 1, 2,000 images, 10 passes": LiveSettings(algorithm="paper", n_train=2000, max_passes=10),
    "heaviest: Algorithm 1, 8,000 images, 10 passes, δ 0.05": LiveSettings(
        algorithm="paper", n_train=8000, max_passes=10, delta=0.05
    ),
}


def live_cost(settings: LiveSettings, cap: float) -> dict:
    """The search of a live run (without its views), stopped at ``cap`` seconds."""
    net, train = model(settings.model), subset("train", settings.n_train, settings.seed)
    began, snapshot = time.perf_counter(), None
    stop = lambda: time.perf_counter() - began > cap  # noqa: E731
    for latest in iter_universal_perturbation(net, train.images, **settings.algorithm_options(), should_stop=stop):
        snapshot = latest
    seconds = time.perf_counter() - began
    record = snapshot.history[-1]
    fraction = (
        1.0 if snapshot.finished else (record.pass_index - 1 + record.images_seen / len(train)) / settings.max_passes
    )
    return {"seconds": round(seconds, 1), "finished": snapshot.finished, "passes": record.pass_index,
            "fraction": round(fraction, 4), "total_s": round(seconds / fraction, 1) if fraction else None}  # fmt: skip


def recompute_cost(name: str) -> dict:
    """A findings page's recompute with its quick settings, and the longest gap between two of its progress reports
    (a turn can pass only there)."""
    began, reports = time.perf_counter(), []
    EXPERIMENTS[name].run(
        **EXPERIMENTS[name].quick, progress=lambda fraction, message: reports.append(time.perf_counter())
    )
    seconds = time.perf_counter() - began
    gaps = [later - earlier for earlier, later in zip([began, *reports], [*reports, began + seconds], strict=True)]
    return {"seconds": round(seconds, 1), "reports": len(reports), "longest_gap_s": round(max(gaps), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=90.0, help="seconds after which a run is stopped")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "job_costs.json")
    args = parser.parse_args()
    torch.set_num_threads(SERVER_THREADS)
    live_test(LiveSettings().model, str(data_dir()))
    report = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cap_s": args.cap,
        "live": {},
        "findings": {},
    }
    for label, settings in LIVE.items():
        report["live"][label] = live_cost(settings, args.cap)
        print(label, report["live"][label], flush=True)
    for name in (name for name in EXPERIMENTS if (ROOT / "app_pages" / f"{name}.py").exists()):  # those with a page
        report["findings"][name] = recompute_cost(name)
        print(name, report["findings"][name], flush=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
