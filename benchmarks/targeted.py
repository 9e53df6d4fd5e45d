"""Targeted universal perturbations, per target class: ``fast``, ``paper`` and a plain reference loop side by side.

Same model (convnet), same 500 Fashion-MNIST training images, ℓ∞ ξ = 0.2, seed 0, δ small enough
never to stop a run early. For each of the 10 target classes:
  - ``fast`` from uap_core, 10 passes, ``target=k``;
  - ``paper`` from uap_core (Algorithm 1 with DeepFool aimed at k), fewer passes (``--paper-passes``);
  - the reference: a plain targeted sign-gradient loop (cross-entropy towards k over every image of
    the batch, batches of 50, step ξ/8, 10 passes, the last v), written here in a few lines.
Measured: the targeted success rate on the 4,443 test images (share of the images not predicted k
when clean that are predicted k under clip(x + v)), on the training images, and seconds.

    UAP_DATA_DIR=/path/to/data python -m benchmarks.targeted [--paper-passes 1] [--out benchmarks/targeted.json]

Writes the figures as JSON and docs/targeted.md made from it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from uap_core import (
    CLASS_NAMES,
    load_fashion_mnist,
    load_model,
    perturb,
    predict,
    targeted_success_rate,
    universal_perturbation,
)

from .pages import write_page

XI, PASSES, N_TRAIN, SEED, BATCH = 0.2, 10, 500, 0, 50
DELTA = 1e-6  # 1 - δ is never reached: every run uses all its passes
FAST_TARGET = 0.55  # fast's mean targeted success rate over the 10 classes
DOCS = Path(__file__).resolve().parents[1] / "docs" / "targeted.md"


def reference(model: torch.nn.Module, images: torch.Tensor, target: int) -> torch.Tensor:
    """The plain loop: v <- clip_ξ(v - ξ/8 · sign ∇ CE(model(clip(x + v)), target)), mini-batches of 50, the last v."""
    generator = torch.Generator().manual_seed(SEED)
    v = torch.zeros_like(images[0])
    for _ in range(PASSES):
        for batch in torch.randperm(len(images), generator=generator).split(BATCH):
            v = v.detach().requires_grad_(True)
            z = model(perturb(images[batch], v))
            loss = F.cross_entropy(z, torch.full((len(batch),), target), reduction="sum")
            (gradient,) = torch.autograd.grad(loss, v)
            v = (v - XI / 8 * gradient.sign()).clamp(-XI, XI)
    return v.detach()


def measure(model, train, test, target: int, method: str, paper_passes: int) -> dict:
    start = time.perf_counter()
    if method == "reference":
        v = reference(model, train, target)
    else:
        passes = PASSES if method == "fast" else paper_passes
        result = universal_perturbation(model, train, xi=XI, norm="inf", delta=DELTA, max_passes=passes, seed=SEED,
                                        algorithm=method, target=target)  # fmt: skip
        v = result.perturbation
    seconds = time.perf_counter() - start
    return {
        "train": targeted_success_rate(predict(model, train), predict(model, train, v), target),
        "test": targeted_success_rate(predict(model, test), predict(model, test, v), target),
        "seconds": seconds,
        "linf": v.abs().max().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper-passes", type=int, default=1, help="passes of targeted `paper` (0: skip it)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("targeted.json")))
    args = parser.parse_args()

    model = load_model("convnet")
    train = load_fashion_mnist("train").subset(N_TRAIN, SEED).images
    test = load_fashion_mnist("test").images
    methods = ["fast", "reference"] + (["paper"] if args.paper_passes > 0 else [])
    rows = []
    for target, name in enumerate(CLASS_NAMES):
        row = {"target": name, **{m: measure(model, train, test, target, m, args.paper_passes) for m in methods}}
        rows.append(row)
        print(name, {m: round(row[m]["test"], 3) for m in methods}, flush=True)
    means = {m: {k: statistics.fmean(r[m][k] for r in rows) for k in ("train", "test", "seconds")} for m in methods}

    report = {
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "settings": {"model": "convnet", "norm": "inf", "xi": XI, "n_train": N_TRAIN, "seed": SEED, "delta": DELTA,
                     "passes": PASSES, "paper_passes": args.paper_passes, "test_images": len(test)},
        "means": means,
        "rows": rows,
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    write_page(
        DOCS, "Targeted perturbations, measured", "benchmarks.targeted", "benchmarks/targeted.json", markdown(report)
    )


def markdown(report: dict) -> str:
    """The per-class table of a run, from its JSON."""
    settings, means, rows = report["settings"], report["means"], report["rows"]
    methods = list(means)
    passes = settings["passes"]
    labels = {"fast": f"`fast`, {passes} passes", "reference": f"reference loop, {passes} passes",
              "paper": f"`paper`, {settings['paper_passes']} pass(es)"}  # fmt: skip
    lines = [
        f"Machine: {report['machine']}. {settings['model']}, {settings['n_train']} training images, ℓ∞ ξ = "
        f"{settings['xi']}, seed {settings['seed']}, δ = {settings['delta']:g} (no early stop); targeted success rate "
        f"on the {settings['test_images']} test images, per target class.",
        "",
        "| target | " + " | ".join(labels[m] for m in methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    lines += [f"| {row['target']} | " + " | ".join(f"{row[m]['test']:.3f}" for m in methods) + " |" for row in rows]
    lines += [
        "| **mean** | " + " | ".join(f"**{means[m]['test']:.3f}**" for m in methods) + " |",
        "| mean on the training images | " + " | ".join(f"{means[m]['train']:.3f}" for m in methods) + " |",
        "| mean seconds per class | " + " | ".join(f"{means[m]['seconds']:.1f}" for m in methods) + " |",
        "",
        f"Target: `fast`'s mean over the 10 classes ≥ {FAST_TARGET}: "
        f"{'met' if means['fast']['test'] >= FAST_TARGET else 'not met'}, {means['fast']['test']:.3f}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
