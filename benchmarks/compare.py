"""Speed and quality of the UAP algorithms beside their peers, in one run, on one machine, through the public API.

Same model (convnet), same 500 Fashion-MNIST training images, ℓ∞ ξ = 0.2, δ = 0.2, seed 0:
  - the floor: one forward + backward (to the input) pass of the model over the 500 images;
  - ``paper`` (Algorithm 1; DeepFool's iterates as they are, as in the paper), and with DeepFool evaluated on
    clipped iterates and box-aware; ``fast`` with 4 progress reports per pass (as the live page) and with one;
    5 passes at most; targeted ``paper`` and ``fast`` towards Bag;
  - where one ``paper`` pass spends its time, from the engine's own statistics (:class:`uap_core.Stats`);
  - the plain yardstick: Algorithm 1 one image at a time with the authors' DeepFool (benchmarks/plain_uap.py);
  - the Adversarial Robustness Toolbox's UniversalPerturbation(attacker="deepfool"), one pass;
  - peak memory (max RSS) of the command-line run, and of importing torch + torchvision alone
    (``--python``: with another interpreter, e.g. the CPU-only build of torch that the deploy uses);
  - with ``--baseline REV``: the engine at git revision REV (imported beside this one), first passes of ``paper``
    and targeted ``paper`` alternated three times, and whether ``fast`` computes the same v.

    pip install -r benchmarks/requirements.txt
    UAP_DATA_DIR=/path/to/data python -m benchmarks.compare [--skip-art] [--baseline REV] [--out FILE]
    python -m benchmarks.compare --table benchmarks/results.json    # the Markdown table of a saved run

Writes the figures as JSON, each target beside its measurement, and docs/benchmarks.md made from it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
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
from uap_core import (
    CLASS_NAMES,
    DeepFoolOptions,
    Stats,
    fooling_rate,
    load_fashion_mnist,
    load_model,
    predict,
    random_fooling_rate,
    targeted_success_rate,
)

from .pages import write_page
from .plain_uap import plain_uap

XI, DELTA, PASSES, N_TRAIN, SEED, TARGET = 0.2, 0.2, 5, 500, 0, "Bag"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PAGE = ("Benchmark", "benchmarks.compare", "benchmarks/results.json")  # title, script, source of docs/benchmarks.md
COMMON = {"xi": XI, "norm": "inf", "delta": DELTA, "seed": SEED}  # the settings every run shares, by keyword


def floor_seconds(model: torch.nn.Module, images: torch.Tensor, repeats: int = 7) -> float:
    """Median time of one forward and one backward pass (gradient with respect to the input) over ``images``."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        x = images.clone().requires_grad_(True)
        torch.autograd.grad(model(x).logsumexp(1).sum(), x)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def test_rate(model, test, v, target: int | None) -> float:
    """The fooling rate of ``v`` on the test images, or its targeted success rate towards ``target``."""
    if target is None:
        return fooling_rate(model, test, v)
    return targeted_success_rate(predict(model, test), predict(model, test, v), target)


def run_ours(model, train, test, name: str, package: ModuleType = uap_core, passes: int = PASSES, **changes) -> dict:
    """One of the engine's runs; after every report, the test rate of the best v so far (the run's clock is paused
    while it is measured, so ``seconds`` stays computation only)."""
    stats = Stats() if package is uap_core else None
    extra = {"stats": stats} if stats is not None else {}
    target = None if changes.get("target") is None else CLASS_NAMES.index(changes["target"])
    trace, result = [], None
    for result in package.iter_universal_perturbation(model, train, max_passes=passes, **COMMON, **changes, **extra):
        trace.append((result.seconds, test_rate(model, test, result.perturbation, target)))
    ends = [r.seconds for r in result.history if r.images_seen == len(train)]
    per_pass = [b - a for a, b in zip([0.0, *ends], ends, strict=False)]
    row = {
        "algorithm": name,
        "passes": result.passes,
        "first_pass_seconds": per_pass[0] if per_pass else result.seconds,
        "seconds_per_pass": result.seconds / max(result.passes, 1),
        "seconds": result.seconds,
        "train_rate": result.fooling_rate if target is None else result.targeted_success_rate,
        "test_rate": trace[-1][1],
        "test_rate_after_pass_1": next((rate for seconds, rate in trace if seconds >= per_pass[0] - 1e-9), trace[-1][1])
        if per_pass
        else trace[-1][1],
        "trace": trace,
        "perturbation": result.perturbation,
    }
    if stats is not None:
        row["stats"] = {"counts": dict(stats.counts), "seconds": dict(stats.seconds)}
    return row


def run_plain(model, train, test) -> dict:
    """The plain yardstick, ``PASSES`` passes (it has no 1 - δ stop: all of them)."""
    run = plain_uap(model, train, XI, PASSES, SEED)
    seconds = [p["seconds"] for p in run["passes"]]
    return {
        "algorithm": "plain Algorithm 1, one image at a time, the authors' DeepFool",
        "passes": PASSES,
        "first_pass_seconds": seconds[0],
        "seconds_per_pass": statistics.fmean(seconds),
        "seconds": sum(seconds),
        "train_rate": fooling_rate(model, train, run["perturbation"]),
        "test_rate": fooling_rate(model, test, run["perturbation"]),
        "test_rate_after_pass_1": None,
        "deepfool_first_pass": {k: run["passes"][0][k] for k in ("deepfool_calls", "deepfool_steps")},
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
        "train_rate": float(attack.fooling_rate),
        "test_rate": fooling_rate(model, test, v),
        "test_rate_after_pass_1": fooling_rate(model, test, v),
    }


# Runs the command given as its arguments and prints the peak resident set (KiB) of its children:
# a fresh process per measurement, so no other child's peak can mask this one's.
_PEAK_OF_CHILD = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mb(command: list[str]) -> float:
    """Max resident set size of ``command`` run as a child process, in MB (Linux reports KiB)."""
    measured = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, *command], check=True, capture_output=True)
    return int(measured.stdout) / 1024


def baseline_package(revision: str) -> ModuleType:
    """The uap_core package at git ``revision``, imported beside this one as ``uap_core_baseline`` (its modules
    import each other relatively, so the renamed copy runs as it did)."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "archive", revision, "uap_core"], cwd=root, capture_output=True, check=True)
    folder = Path(tempfile.mkdtemp(prefix="uap-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "uap_core").rename(folder / "uap_core_baseline")
    sys.path.insert(0, str(folder))
    return __import__("uap_core_baseline")


def against_baseline(revision: str, model, train, test, fast_v: torch.Tensor, rounds: int = 3) -> dict:
    """First passes of ``paper`` and of targeted ``paper`` here and at ``revision``, alternated ``rounds`` times (in
    turn first: this machine's speed drifts by 10-25% between minutes); and ``fast``'s v there against ``fast_v``."""
    before = baseline_package(revision)
    old_model = before.load_model("convnet")  # its own model: its tracer knows its own layer classes
    runs = {"this": (uap_core, model), "baseline": (before, old_model)}
    seconds = {(name, kind): [] for name in runs for kind in ("paper", "targeted paper")}
    for round_ in range(rounds):
        for name in list(runs)[:: 1 if round_ % 2 == 0 else -1]:
            package, net = runs[name]
            for kind, target in (("paper", None), ("targeted paper", TARGET)):
                *_, result = package.iter_universal_perturbation(net, train, max_passes=1, algorithm="paper",
                                                                 target=target, **COMMON)  # fmt: skip
                seconds[(name, kind)].append(result.seconds)
    *_, old_fast = before.iter_universal_perturbation(old_model, train, max_passes=PASSES, algorithm="fast", **COMMON)
    ratios = {
        kind: statistics.median(seconds[("baseline", kind)]) / statistics.median(seconds[("this", kind)])
        for kind in ("paper", "targeted paper")
    }
    return {
        "first_pass_seconds": {f"{name} {kind}": times for (name, kind), times in seconds.items()},
        "speedup_first_pass": ratios,
        "fast_max_abs_difference": (old_fast.perturbation - fast_v).abs().max().item(),
    }


def profile(stats: dict) -> dict:
    """Where one ``paper`` run's seconds went, from its statistics: DeepFool's forward passes, its gradients, the
    rest of it, the batched checks, the measurements at reports."""
    s = stats["seconds"]
    return {
        "deepfool_forward": s.get("deepfool_forward", 0.0),
        "deepfool_gradients": s.get("deepfool_gradients", 0.0),
        "deepfool_rest": s.get("deepfool", 0.0) - s.get("deepfool_forward", 0.0) - s.get("deepfool_gradients", 0.0),
        "checks": s.get("checks", 0.0),
        "measure": s.get("measure", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-art", action="store_true", help="leave out ART (its pass takes minutes)")
    parser.add_argument("--baseline", metavar="REV", help="also run the engine at this git revision")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    parser.add_argument("--table", metavar="JSON", help="only write the Markdown page of a saved run")
    parser.add_argument("--docs", default=str(DOCS), help="the Markdown page made from the JSON")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the two memory measurements, e.g. one with the CPU-only build of torch "
                        "(as deployed; see docs/deploy.md)")  # fmt: skip
    args = parser.parse_args()
    if args.table:
        write_page(Path(args.docs), *PAGE, markdown(json.loads(Path(args.table).read_text())))
        return

    # Memory first, before this process holds data and models.
    import_rss = peak_rss_mb([args.python, "-c", "import torch, torchvision"])
    with tempfile.TemporaryDirectory() as out:
        cli_rss = peak_rss_mb([args.python, "-m", "uap_core", "run", "--algorithm", "paper", "--xi", str(XI),
                               "--n-train", str(N_TRAIN), "--max-passes", str(PASSES), "--out", out])  # fmt: skip

    model = load_model("convnet")
    train = load_fashion_mnist("train").subset(N_TRAIN, SEED).images
    test = load_fashion_mnist("test").images
    floor = floor_seconds(model, train)
    paper = run_ours(model, train, test, "paper", algorithm="paper")
    rows = [
        paper,
        run_ours(model, train, test, "paper, DeepFool on clipped iterates", algorithm="paper",
                 deepfool=DeepFoolOptions(iterate="clipped")),
        run_ours(model, train, test, "paper, box-aware DeepFool", algorithm="paper",
                 deepfool=DeepFoolOptions(iterate="box_aware")),
        run_ours(model, train, test, "fast", algorithm="fast"),
        run_ours(model, train, test, "fast, one report per pass", algorithm="fast", reports_per_pass=1),
        run_ours(model, train, test, f"targeted paper ({TARGET})", algorithm="paper", target=TARGET),
        run_ours(model, train, test, f"targeted fast ({TARGET})", algorithm="fast", target=TARGET),
        run_plain(model, train, test),
    ]  # fmt: skip
    plain, fast = rows[-1], rows[3]
    art = None if args.skip_art else run_art(model, train, test)
    if art:
        rows.append(art)
    baseline = against_baseline(args.baseline, model, train, test, fast["perturbation"]) if args.baseline else None

    for row in rows:
        for drawn in ("trace", "perturbation"):  # kept for the comparisons above, not for the JSON
            row.pop(drawn, None)
        row["floors_per_pass"] = row["seconds_per_pass"] / floor
        row["art_per_pass_over_this"] = art["seconds_per_pass"] / row["seconds_per_pass"] if art else None
    targets = [
        target("paper ≥ 40× faster than ART per pass", ">=", 40,
               art and art["seconds_per_pass"] / paper["seconds_per_pass"]),
        target("paper's test fooling rate ≥ ART's", ">=", art and art["test_rate"], paper["test_rate"]),
        target("paper per pass ≤ 1.0× the plain yardstick", "<=", 1.0,
               paper["seconds_per_pass"] / plain["seconds_per_pass"]),
        target("paper's first pass ≤ 1.0× the plain yardstick's", "<=", 1.0,
               paper["first_pass_seconds"] / plain["first_pass_seconds"]),
        target("CLI peak memory ≤ 600 MB", "<=", 600, cli_rss),
    ]  # fmt: skip
    if baseline:
        targets += [
            target("targeted paper ≥ 2× faster per first pass than the baseline", ">=", 2,
                   baseline["speedup_first_pass"]["targeted paper"]),
            target("fast computes the baseline's v (max |difference| ≤ 1e-5)", "<=", 1e-5,
                   baseline["fast_max_abs_difference"]),
        ]  # fmt: skip
    summary = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "settings": {
            "model": "convnet",
            "n_train": N_TRAIN,
            "xi": XI,
            "norm": "inf",
            "delta": DELTA,
            "seed": SEED,
            "max_passes": PASSES,
            "target": TARGET,
            "test_images": len(test),
        },
        "floor_seconds": floor,
        "random_fooling_rate": random_fooling_rate(model, test, XI, math.inf, trials=5, seed=SEED),
        "paper_profile": profile(paper["stats"]),
        "memory_python": subprocess.run(
            [args.python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip(),
        "cli_peak_rss_mb": cli_rss,
        "import_torch_torchvision_peak_rss_mb": import_rss,
        "baseline": baseline,
        "targets": targets,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    write_page(Path(args.docs), *PAGE, markdown(summary))


def target(name: str, relation: str, goal: float | None, measured: float | None) -> dict:
    """A target beside its measurement; ``met`` is None where either is missing (a peer left out)."""
    met = None if goal is None or measured is None else (measured >= goal if relation == ">=" else measured <= goal)
    return {"target": name, "goal": goal, "measured": measured, "met": met}


def markdown(s: dict) -> str:
    """The tables of a run, from its JSON."""
    settings = s["settings"]
    lines = [
        f"Machine: {s['machine']}. {settings['model']}, {settings['n_train']} training images, ℓ∞ ξ = "
        f"{settings['xi']}, δ = {settings['delta']}, seed {settings['seed']}, at most {settings['max_passes']} "
        f"passes; rates on the {settings['test_images']} test images (targeted runs: the targeted success rate). "
        f"Random noise of the same norm fools {s['random_fooling_rate']:.3f}.",
        "",
        "| algorithm | passes | 1st pass (s) | mean s/pass | ART s/pass ÷ this | s/pass ÷ floor | train rate "
        "| test rate after pass 1 | test rate (best v) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        vs_art = f"{r['art_per_pass_over_this']:.0f}×" if r["art_per_pass_over_this"] else "–"
        after_1 = f"{r['test_rate_after_pass_1']:.3f}" if r["test_rate_after_pass_1"] is not None else "–"
        lines.append(
            f"| {r['algorithm']} | {r['passes']} | {r['first_pass_seconds']:.2f} | {r['seconds_per_pass']:.2f} | "
            f"{vs_art} | {r['floors_per_pass']:.1f} | {r['train_rate']:.3f} | {after_1} | {r['test_rate']:.3f} |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for t in s["targets"]:
        measured = "–" if t["measured"] is None else f"{t['measured']:.3g}"
        lines.append(f"| {t['target']} | {measured} | {'–' if t['met'] is None else 'yes' if t['met'] else 'no'} |")
    paper = next(r for r in s["rows"] if r["algorithm"] == "paper")
    plain = next(r for r in s["rows"] if r["algorithm"].startswith("plain"))
    shares = ", ".join(f"{name.replace('_', ' ')} {seconds:.2f} s" for name, seconds in s["paper_profile"].items())
    counts = paper["stats"]["counts"]
    lines += [
        "",
        f"- Floor, one forward + backward pass over the {settings['n_train']} images: "
        f"{s['floor_seconds'] * 1000:.0f} ms.",
        f"- `paper`'s {paper['passes']} passes: {shares}; {counts.get('deepfool_calls', 0)} DeepFool calls, "
        f"{counts.get('deepfool_steps', 0)} linearisation steps. The plain yardstick's first pass: "
        f"{plain['deepfool_first_pass']['deepfool_calls']} calls, {plain['deepfool_first_pass']['deepfool_steps']} "
        "steps.",
        f"- Peak memory (torch {s['memory_python']}) of `python -m uap_core run` (paper, {settings['n_train']} images, "
        f"{settings['max_passes']} passes): {s['cli_peak_rss_mb']:.0f} MB; importing torch + torchvision alone: "
        f"{s['import_torch_torchvision_peak_rss_mb']:.0f} MB.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
