"""Speed and quality of the UAP algorithms side by side, in one run, on one machine.

Same model (convnet), same 500 Fashion-MNIST training images, ℓ∞ ξ = 0.2, δ = 0.2, seed 0:
  - the floor: one forward + backward (to the input) pass of the model over the 500 images;
  - ``paper`` (Algorithm 1, the paper's DeepFool), ``paper`` with our box-aware DeepFool, and ``fast``
    (with 4 progress reports per pass, as the live page, and with one)
    from uap_core, 5 passes at most;
  - a profile of one ``paper`` pass: where its time goes (DeepFool's forward passes, its gradients, the rest
    of it, the fooled checks, the progress reports);
  - with ``--baseline REV``: ``paper`` as the code at git revision REV computes it (imported beside this
    code as ``uap_core_baseline``), 5 passes, and its first pass alternated three times with this code's,
    for the ratio to before;
  - the Adversarial Robustness Toolbox's UniversalPerturbation(attacker="deepfool"), one pass;
  - peak memory (max RSS) of the command-line run, and of importing torch + torchvision alone
    (``--python``: with another interpreter, e.g. the CPU-only build of torch that the deploy uses).

    pip install -r benchmarks/requirements.txt
    UAP_DATA_DIR=../shared/data python -m benchmarks.compare [--skip-art] [--baseline REV] [--out FILE]

Prints a Markdown table (pasted into the README) and writes the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import math
import platform
import pstats
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

import torch

import uap_core
from uap_core import fooling_rate, load_fashion_mnist, load_model, random_fooling_rate
from uap_core.deepfool import _deepfool_batch
from uap_core.linearise import Trace, tracer
from uap_core.metrics import _predict
from uap_core.uap import _paper_steps, _universal_perturbation_steps

XI, DELTA, PASSES, N_TRAIN, SEED = 0.2, 0.2, 5, 500, 0


def floor_seconds(model: torch.nn.Module, images: torch.Tensor, repeats: int = 7) -> float:
    """Median time of one forward and one backward pass (gradient with respect to the input) over ``images``."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        x = images.clone().requires_grad_(True)
        torch.autograd.grad(model(x).logsumexp(1).sum(), x)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def run_ours(model, train, test, algorithm: str, package: ModuleType = uap_core, name: str = "", **options) -> dict:
    """Run one of our algorithms (of ``package``: this code, or a baseline's); after every report, measure the test
    fooling rate of the best v so far (the generator's clock is paused while we do, so ``seconds`` stays computation
    time only)."""
    trace, result = [], None
    run = package.iter_universal_perturbation(model, train, XI, "inf", DELTA, PASSES, SEED, algorithm, **options)
    for result in run:
        trace.append((result.seconds, fooling_rate(model, test, result.perturbation)))
    ends = [r.seconds for r in result.history if r.images_seen == len(train)]
    per_pass = [b - a for a, b in zip([0.0, *ends], ends, strict=False)]
    return {
        "algorithm": name or algorithm,
        "options": options,
        "passes": result.passes,
        "first_pass_seconds": per_pass[0] if per_pass else result.seconds,
        "seconds_per_pass": result.seconds / max(result.passes, 1),
        "seconds": result.seconds,
        "train_fooling_rate": result.fooling_rate,
        "test_fooling_rate": trace[-1][1],
        "test_fooling_rate_after_pass_1": next(rate for seconds, rate in trace if seconds >= per_pass[0] - 1e-9)
        if per_pass
        else trace[-1][1],
        "trace": trace,
    }


def profile_paper_pass(model, train) -> dict:
    """Seconds of one ``paper`` pass under cProfile, split into DeepFool (its forward passes, its
    gradients, the rest of it), the batched fooled checks, the progress reports' fooling rates and
    the rest; with DeepFool's calls and steps."""
    profiler = cProfile.Profile()
    profiler.enable()
    *_, result = uap_core.iter_universal_perturbation(model, train, XI, "inf", DELTA, 1, SEED, "paper")
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    traced_forward = tracer(model).__code__  # the function every traced forward pass runs

    def cumulative(function, caller=None) -> float:
        code = getattr(function, "__code__", function)
        key = next(
            k for k in stats if k[2] == code.co_name and k[0] == code.co_filename and k[1] == code.co_firstlineno
        )
        if caller is None:
            return stats[key][3]
        return sum(times[3] for k, times in stats[key][4].items() if k[2] == caller.__name__)

    total = cumulative(_universal_perturbation_steps)
    forward, gradients = cumulative(traced_forward), cumulative(Trace.gradients)
    parts = {
        "deepfool_forward": forward,
        "deepfool_gradients": gradients,
        "deepfool_rest": cumulative(_deepfool_batch) - forward - gradients,
        "fooled_checks": cumulative(_predict, _paper_steps),
        "progress_reports": cumulative(_predict, _universal_perturbation_steps),
    }
    parts["other"] = total - sum(parts.values())
    return {
        "seconds": total,
        "parts": parts,
        "deepfool_calls": result.history[-1].deepfool_calls,
        "deepfool_iterations": result.history[-1].deepfool_iterations,
    }


def run_art(model, train, test) -> dict:
    import numpy as np
    from art.attacks.evasion import UniversalPerturbation
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(
        model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(train.shape[1:]), nb_classes=10,
        clip_values=(0.0, 1.0), device_type="cpu",
    )  # fmt: skip
    attack = UniversalPerturbation(classifier, attacker="deepfool", delta=DELTA, max_iter=1, eps=XI, norm=np.inf,
                                   attacker_params={"verbose": False}, verbose=False)  # fmt: skip
    start = time.perf_counter()
    attack.generate(train.numpy())
    seconds = time.perf_counter() - start
    v = torch.from_numpy(attack.noise[0]).float()
    return {
        "algorithm": "ART UniversalPerturbation(deepfool)",
        "passes": 1,
        "first_pass_seconds": seconds,
        "seconds_per_pass": seconds,
        "seconds": seconds,
        "train_fooling_rate": float(attack.fooling_rate),
        "test_fooling_rate": fooling_rate(model, test, v),
        "test_fooling_rate_after_pass_1": fooling_rate(model, test, v),
    }


# Runs the command given as its arguments and prints the peak resident set (KiB) of its children:
# a fresh process per measurement, so no earlier child's peak can mask this one's.
_PEAK_OF_CHILD = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mb(command: list[str]) -> float:
    """Max resident set size of ``command`` run as a child process, in MB (Linux reports KiB)."""
    measured = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, *command], check=True, capture_output=True)
    return int(measured.stdout) / 1024


def baseline_package(revision: str) -> ModuleType:
    """The uap_core package as it was at git ``revision``, imported beside this one as ``uap_core_baseline``
    (its modules import each other relatively, so the renamed copy runs as it did)."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "archive", revision, "uap_core"], cwd=root, capture_output=True, check=True)
    folder = Path(tempfile.mkdtemp(prefix="uap-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "uap_core").rename(folder / "uap_core_baseline")
    sys.path.insert(0, str(folder))
    return importlib.import_module("uap_core_baseline")


def first_passes(runs: dict[str, tuple[ModuleType, torch.nn.Module]], train, rounds: int = 3) -> dict[str, list[float]]:
    """Seconds of one ``paper`` pass of each (package, its model), alternated ``rounds`` times (in turn first), so
    that both see the same machine: this machine's speed drifts by 10-25% between minutes."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(rounds):
        for name in list(runs)[:: 1 if round_ % 2 == 0 else -1]:
            package, model = runs[name]
            *_, result = package.iter_universal_perturbation(model, train, XI, "inf", DELTA, 1, SEED, "paper")
            seconds[name].append(result.seconds)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-art", action="store_true", help="leave out ART (its pass takes minutes)")
    parser.add_argument("--baseline", metavar="REV", help="also run paper as the code at this git revision")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the two memory measurements, e.g. one with the CPU-only build of torch "
                        "(as deployed; see README, Deploy)")  # fmt: skip
    args = parser.parse_args()

    # Memory first, before this process holds data and models.
    import_rss = peak_rss_mb([args.python, "-c", "import torch, torchvision"])
    with tempfile.TemporaryDirectory() as out:
        cli_rss = peak_rss_mb([args.python, "-m", "uap_core", "run", "--algorithm", "paper", "--xi", str(XI),
                               "--n-train", str(N_TRAIN), "--max-passes", str(PASSES), "--out", out])  # fmt: skip

    model = load_model("convnet")
    train = load_fashion_mnist("train").subset(N_TRAIN, SEED).images
    test = load_fashion_mnist("test").images
    floor = floor_seconds(model, train)
    profile = profile_paper_pass(model, train)
    paper = run_ours(model, train, test, "paper")
    rows = [paper, run_ours(model, train, test, "paper", box_aware=True)]
    # fast twice: as the live page runs it (4 progress reports per pass, the fooling rate on the 500 images
    # measured at the first and at the end of each pass) and with one report per pass.
    fast = [run_ours(model, train, test, "fast"), run_ours(model, train, test, "fast", reports_per_pass=1)]
    rows += fast
    baseline = None
    if args.baseline:
        before = baseline_package(args.baseline)
        # Its own model: its tracer knows its own Normalize layer class, not this code's.
        old_model = before.load_model("convnet")
        rows.append(run_ours(old_model, train, test, "paper", before, f"paper at {args.baseline}"))
        alternated = first_passes({"this": (uap_core, model), "baseline": (before, old_model)}, train)
        baseline = {
            "revision": args.baseline,
            "first_pass_seconds": alternated,
            "ratio": statistics.median(alternated["this"]) / statistics.median(alternated["baseline"]),
            "per_pass_ratio": paper["seconds_per_pass"] / rows[-1]["seconds_per_pass"],
        }
    art = None if args.skip_art else run_art(model, train, test)
    if art:
        rows.append(art)

    target = paper["test_fooling_rate"]
    reached = [next((seconds for seconds, rate in row["trace"] if rate >= target), math.inf) for row in fast]
    for row in rows:
        row["floors_per_pass"] = row["seconds_per_pass"] / floor
        row["art_per_pass_over_this"] = art["seconds_per_pass"] / row["seconds_per_pass"] if art else None
    summary = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "test_images": len(test),
        "floor_seconds": floor,
        "random_fooling_rate": random_fooling_rate(model, test, XI, math.inf, trials=5, seed=SEED),
        "paper_speedup_vs_art_first_pass": art["first_pass_seconds"] / paper["first_pass_seconds"] if art else None,
        "paper_speedup_vs_art_per_pass": art["seconds_per_pass"] / paper["seconds_per_pass"] if art else None,
        "paper_vs_baseline": baseline,
        "fast_seconds_to_paper_best": reached,  # [4 reports per pass, 1 report per pass]
        "fast_floors_to_paper_best": [seconds / floor for seconds in reached],
        "paper_pass_profile": profile,
        "memory_python": subprocess.run(
            [args.python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip(),
        "cli_peak_rss_mb": cli_rss,
        "import_torch_torchvision_peak_rss_mb": import_rss,
        "rows": [{k: v for k, v in row.items() if k != "trace"} for row in rows],
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(markdown(summary))


def markdown(s: dict) -> str:
    lines = [
        f"Machine: {s['machine']}. convnet, {N_TRAIN} training images, ℓ∞ ξ = {XI}, δ = {DELTA}, seed {SEED}; "
        f"test fooling rate on the {s['test_images']} test images. "
        f"Random noise of the same norm fools {s['random_fooling_rate']:.3f}.",
        "",
        "| algorithm | passes | 1st pass (s) | mean s/pass | ART s/pass ÷ this | s/pass ÷ floor | train FR "
        "| test FR after pass 1 | test FR (best v) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        name = r["algorithm"] + (f" {r['options']}" if r.get("options") else "")
        vs_art = f"{r['art_per_pass_over_this']:.0f}×" if r["art_per_pass_over_this"] else "–"
        lines.append(
            f"| {name} | {r['passes']} | {r['first_pass_seconds']:.2f} | {r['seconds_per_pass']:.2f} | "
            f"{vs_art} | {r['floors_per_pass']:.1f} | {r['train_fooling_rate']:.3f} | "
            f"{r['test_fooling_rate_after_pass_1']:.3f} | "
            f"{r['test_fooling_rate']:.3f} |"
        )
    lines += [
        "",
        f"- Floor, one forward + backward pass over the {N_TRAIN} images: {s['floor_seconds'] * 1000:.0f} ms.",
    ]
    if s["paper_speedup_vs_art_first_pass"]:
        lines.append(
            f"- `paper` vs ART: {s['paper_speedup_vs_art_first_pass']:.0f}× faster on the first pass, "
            f"{s['paper_speedup_vs_art_per_pass']:.0f}× per pass on average (target: ≥ 100×)."
        )
    if s["paper_vs_baseline"]:
        b = s["paper_vs_baseline"]
        this, before = (", ".join(f"{t:.2f}" for t in b["first_pass_seconds"][k]) for k in ("this", "baseline"))
        lines.append(
            f"- `paper` vs the code at {b['revision']}: first pass alternated three times, {this} s against "
            f"{before} s, ratio of the medians {b['ratio']:.2f}; mean s/pass over the 5 passes "
            f"{b['per_pass_ratio']:.2f} (target: ≤ 0.25)."
        )
    lines += [
        f"- `fast` reaches `paper`'s best test fooling rate after {s['fast_seconds_to_paper_best'][0]:.2f} s = "
        f"{s['fast_floors_to_paper_best'][0]:.1f}× the floor with 4 progress reports per pass (as the live page), "
        f"{s['fast_seconds_to_paper_best'][1]:.2f} s = {s['fast_floors_to_paper_best'][1]:.1f}× with one "
        "(target: ≤ 2×).",
        f"- Peak memory (torch {s['memory_python']}) of `python -m uap_core run` (paper, {N_TRAIN} images, "
        f"{PASSES} passes): "
        f"{s['cli_peak_rss_mb']:.0f} MB (target: ≤ 600 MB); importing torch + torchvision alone: "
        f"{s['import_torch_torchvision_peak_rss_mb']:.0f} MB.",
    ]
    profile = s["paper_pass_profile"]
    shares = ", ".join(f"{name.replace('_', ' ')} {seconds:.2f} s ({seconds / profile['seconds']:.0%})"
                       for name, seconds in profile["parts"].items())  # fmt: skip
    lines.append(
        f"- Profile of one `paper` pass (cProfile, {profile['seconds']:.2f} s with the profiler's overhead): "
        f"{shares}; {profile['deepfool_calls']} DeepFool calls, {profile['deepfool_iterations']} linearisation "
        f"steps."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
