"""``python -m uap_core experiment NAME [options]``: run one experiment, write result.json and figure.html.

Each experiment's options are its run function's parameters (``--n-test 1000`` for ``n_test``), with
the same defaults, so the command line and the library cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import shlex
from pathlib import Path

from tqdm import tqdm

from ..cli_types import DELTA, FINITE, POSITIVE_INT, SEED, XI, check_output_dir
from ..models import MODEL_NAMES
from ..norms import NORM_CHOICES
from ..settings import ALGORITHMS, DEFAULT_XI
from . import EXPERIMENTS, experiment
from .figures import figure

CHOICES = {"model": MODEL_NAMES, "models": MODEL_NAMES, "algorithm": ALGORITHMS, "norm": NORM_CHOICES,
           "norms": NORM_CHOICES}  # fmt: skip


def _checked_type(name: str, kind: type) -> object:
    """The argparse type of an option: checked at parse time, so a bad value exits 2 before any work.

    Seeds are whole numbers >= 0, every other whole number (counts, passes) is >= 1; sizes ξ are
    finite and > 0, δ lies in (0, 1), other numbers are finite (the run function checks their range).
    """
    if kind is int:
        return SEED if name.startswith("seed") else POSITIVE_INT
    if kind is float:
        return XI if name.startswith("xi") else DELTA if name == "delta" else FINITE
    return kind


def _option(parameter: inspect.Parameter) -> dict:
    """argparse keywords for one run-function parameter: a list for tuple defaults, the type of the default."""
    default = parameter.default
    if isinstance(default, tuple):
        kind, extra = type(default[0]), {"nargs": "+"}
    elif default is None:  # "x: int | None" (annotations are strings here): None means "all"
        kind, extra = (int if str(parameter.annotation).startswith("int") else float), {}
    else:
        kind, extra = type(default), {}
    if not extra:  # the elements of a list are checked by the run function, which knows their range
        kind = _checked_type(parameter.name, kind)
    none = ", ".join(f"{xi:g} for {norm}" for norm, xi in DEFAULT_XI.items()) if parameter.name == "xi" else "all"
    shown = none if default is None else " ".join(map(str, default)) if isinstance(default, tuple) else default
    return {"type": kind, "default": default, "choices": CHOICES.get(parameter.name), "help": f"default: {shown}",
            **extra}  # fmt: skip


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``experiment`` subcommand, with one sub-subcommand per experiment."""
    parser = commands.add_parser("experiment", help="reproduce one of the paper's findings: result.json + figure.html")
    names = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for e in EXPERIMENTS.values():
        p = names.add_parser(e.name, help=e.title, description=f"{e.title}. {e.claim}")
        for parameter in inspect.signature(e.run).parameters.values():
            if parameter.name != "progress":
                p.add_argument(f"--{parameter.name.replace('_', '-')}", **_option(parameter))
        p.add_argument("--out", default=f"out/{e.name}", help="folder for result.json and figure.html")
        p.set_defaults(handler=run_experiment)


def run_experiment(args: argparse.Namespace) -> None:
    e = experiment(args.name)
    check_output_dir(args.out, "--out")  # before the experiment's minutes of work, not after
    settings = {name: getattr(args, name) for name in inspect.signature(e.run).parameters if name != "progress"}
    settings = {name: tuple(value) if isinstance(value, list) else value for name, value in settings.items()}
    with tqdm(total=1.0, desc=e.name, bar_format="{l_bar}{bar}| {elapsed}", delay=1) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.n = fraction
            bar.set_description_str(f"{e.name}: {message}")

        result = e.run(**settings, progress=progress)
    result = dataclasses.replace(result, command="python -m uap_core " + shlex.join(args.argv))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(result.to_json())
    fig = figure(result)
    fig.update_layout(title_text=f"{fig.layout.title.text}<br><sup>{result.caption()}</sup>")
    fig.write_html(out / "figure.html", include_plotlyjs=True)
    print(f"{e.name}: {result.seconds:.0f} s -> {out / 'result.json'}, {out / 'figure.html'}")
