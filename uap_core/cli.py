"""Command line: ``python -m uap_core {train,run,experiment} ...``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from functools import partial
from pathlib import Path

from tqdm import tqdm

from .checks import check_int, check_number
from .cli_types import DELTA, POSITIVE, POSITIVE_INT, SEED, XI, check_output_dir, option_type
from .data import DataUnavailableError, load_fashion_mnist
from .experiments.cli import add_parser as add_experiment_parser
from .files import perturbation_png, perturbation_to_npy
from .metrics import evaluate
from .models import DEFAULT_MODEL, MODEL_NAMES, WEIGHTS_DIR, load_model
from .norms import NORM_CHOICES
from .report import metrics_dict
from .settings import ALGORITHMS, DEFAULT_XI, UAPSettings
from .train import save_weights, train
from .uap import iter_universal_perturbation

NOISE = option_type(float, partial(check_number, low=0, high=1))  # an ℓ∞ size in pixel units


def _train(args: argparse.Namespace) -> None:
    check_output_dir(args.out, "--out")  # before minutes of training, not after
    train_set, test_set = load_fashion_mnist("train"), load_fashion_mnist("test")
    with tqdm(total=args.epochs, desc=f"training {args.model}", unit="epoch") as bar:

        def on_epoch(epoch: int, loss: float) -> None:
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.update()

        model, report = train(args.model, train_set, test_set, args.epochs, args.batch_size, args.lr, args.seed,
                                  args.noise, on_epoch, args.uat_step)  # fmt: skip
    path = save_weights(model, report, Path(args.out), "python -m uap_core " + shlex.join(args.argv))
    start = f", starting from {report.uat_start}" if report.uat_start else ""
    adversary = f"ℓ∞ ξ = {report.uat_xi:g}, δ step {report.uat_step:g}{start}"
    how = f" with {report.method} ({adversary})" if report.uat_xi else ""
    print(
        f"{args.model}: test accuracy {report.test_accuracy:.4f} on {report.test_images} images, "
        f"trained on {report.train_images} images{how} in {report.seconds:.0f} s -> {path}"
    )


def _run(args: argparse.Namespace) -> None:
    check_output_dir(args.out, "--out")
    target = int(args.target) if args.target and args.target.strip().isdigit() else args.target
    settings = UAPSettings(algorithm=args.algorithm, norm=args.norm, xi=args.xi, delta=args.delta,
                           max_passes=args.max_passes, seed=args.seed, target=target)  # fmt: skip
    model = load_model(args.model)
    full_train = load_fashion_mnist("train")
    check_int(args.n_train, "--n-train", low=1, high=len(full_train))
    train_set = full_train.subset(args.n_train, args.seed)
    test_set = load_fashion_mnist("test")
    n = len(train_set)
    steps = iter_universal_perturbation(model, train_set.images, settings)
    result = None
    with tqdm(total=settings.max_passes * n, desc=f"UAP ({settings.algorithm})", unit="img") as bar:
        for result in steps:
            record = result.history[-1]
            bar.update((record.pass_index - 1) * n + record.images_seen - bar.n)
            measured = {"fooling": f"{record.fooling_rate:.3f}"} if record.measured else {}
            bar.set_postfix(pass_=record.pass_index, **measured, best=f"{result.fooling_rate:.3f}")
    evaluation = evaluate(model, test_set.images, test_set.labels, result.perturbation, result.p, seed=args.seed,
                          target=settings.target)  # fmt: skip
    metrics = metrics_dict(result, evaluation, model=args.model, n_train=n, max_passes=settings.max_passes,
                           seed=settings.seed)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perturbation.npy").write_bytes(perturbation_to_npy(result.perturbation))
    (out / "perturbation.png").write_bytes(perturbation_png(result.perturbation))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"fooling rate: train {metrics['train_fooling_rate']:.3f}, test {metrics['test_fooling_rate']:.3f} "
        f"(random noise of the same norm: {metrics['random_fooling_rate']:.3f}); "
        f"test accuracy {metrics['clean_accuracy']:.3f} -> {metrics['perturbed_accuracy']:.3f}; "
        f"{metrics['passes']} passes in {metrics['seconds']:.1f} s -> {out}"
    )
    if settings.target is not None:
        print(
            f"targeted success rate towards {metrics['target']}: train {metrics['train_targeted_success_rate']:.3f}, "
            f"test {metrics['test_targeted_success_rate']:.3f}"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m uap_core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a classifier on Fashion-MNIST and save its weights")
    p.add_argument("--model", choices=MODEL_NAMES, default="convnet")
    p.add_argument("--epochs", type=POSITIVE_INT, default=30)
    p.add_argument("--batch-size", type=POSITIVE_INT, default=128)
    p.add_argument("--lr", type=POSITIVE, default=2e-3)
    p.add_argument("--noise", type=NOISE, default=None,
                   help="largest ℓ∞ size of random-noise augmentation (0: none; default: the model's own, "
                        "0.25, or 0 for convnet_plain)")  # fmt: skip
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--uat-step", type=POSITIVE, default=None,
                   help="sign step of the universal perturbation per batch, pixel units, for a model trained with "
                        "universal adversarial training (convnet_uat; default: its own, ξ / 10)")  # fmt: skip
    p.add_argument("--out", default=str(WEIGHTS_DIR), help="folder for <model>.pt and <model>.json")
    p.set_defaults(handler=_train)

    defaults = UAPSettings()  # the library's defaults are the command line's
    xi_defaults = ", ".join(f"{xi:g} for {norm}" for norm, xi in DEFAULT_XI.items())
    p = commands.add_parser("run", help="compute a universal perturbation and evaluate it on the test split")
    p.add_argument("--model", choices=MODEL_NAMES, default=DEFAULT_MODEL)
    p.add_argument("--algorithm", choices=ALGORITHMS, default=defaults.algorithm)
    p.add_argument("--norm", choices=NORM_CHOICES, default=defaults.norm)
    p.add_argument(
        "--xi", type=XI, default=None, help=f"radius of the norm ball, in [0, 1] pixel units ({xi_defaults})"
    )
    p.add_argument("--delta", type=DELTA, default=defaults.delta, help="stop once the fooling rate reaches 1 - delta")
    p.add_argument("--n-train", type=POSITIVE_INT, default=500, help="training images the perturbation is built from")
    p.add_argument("--max-passes", type=POSITIVE_INT, default=defaults.max_passes)
    p.add_argument("--seed", type=SEED, default=defaults.seed)
    p.add_argument("--target", help="send images to this class (a name such as Bag, or an index 0-9); default: none")
    p.add_argument("--out", required=True, help="folder for perturbation.npy, perturbation.png, metrics.json")
    p.set_defaults(handler=_run)

    add_experiment_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in experiment results
    try:
        args.handler(args)
    except (ValueError, DataUnavailableError, OSError) as error:
        # Bad input, missing data or weights, a file that cannot be written: one line, status 2
        # (the status argparse uses for its own errors), never a traceback.
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
