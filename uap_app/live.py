"""What a live run computes as a job of the job service and publishes for the page: the fooling-rate chart and a
before/after strip of test images, both ready to draw. No Streamlit here (worker threads have no script context).

Every snapshot (:class:`LiveView`) is a new immutable object, so the pages of any number of watchers
read it without locks and without copying.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import torch
from PIL import Image

from uap_core import CLASS_NAMES, MODEL_NAMES, Dataset, UAPResult, data_dir, iter_universal_perturbation
from uap_core.metrics import predict
from uap_core.objectives import parse_target, targeted_success_rate

from . import resources
from .chart import Point, chart_html
from .jobs import Job
from .memory import release_freed_memory
from .settings import DEFAULT_XI, LiveSettings
from .shutdown import finish_at_exit

LIVE_TEST_IMAGES = 500  # held-out test images scored at every progress report (standard error ≤ 2.3 points)
STRIP_IMAGES = 8  # test images shown before/after on the live strip


@dataclass(frozen=True)
class StripImage:
    """One test image of the live strip: clean and perturbed (as PNG data URIs) with their predicted classes."""

    clean_png: str
    perturbed_png: str
    clean_label: str
    label: str  # predicted on clip(x + v)
    target: str | None = None  # the class a targeted run sends images to

    @property
    def fooled(self) -> bool:
        return self.label != self.clean_label

    @property
    def sent(self) -> bool:
        """Sent to the target: predicted as the target under v, but not on the clean image."""
        return self.target is not None and self.fooled and self.label == self.target


@dataclass(frozen=True)
class LiveView:
    """One progress report of a live run: the snapshot of the algorithm, the curve so far, what to draw."""

    settings: LiveSettings
    result: UAPResult | None  # None before the algorithm's first report
    # (passes done, train rate, test rate, test accuracy); the rate is the fooling rate, or for a targeted run
    # the targeted success rate (the share of images not predicted as the target that v sends there)
    curve: tuple[Point, ...]
    strip: tuple[StripImage, ...]
    fraction: float  # of the maximum number of passes
    message: str
    # The chart (:func:`uap_app.chart.chart_html`) and the strip (:func:`strip_html`) as drawn, made once here
    # rather than by every watcher's page.
    chart_html: str
    strip_html: str


def diverse_indices(labels: torch.Tensor, n: int) -> list[int]:
    """``n`` positions taking the classes in turn (first of each class, then the second...), for varied rows."""
    by_class = [torch.nonzero(labels == k).flatten().tolist() for k in range(int(labels.max()) + 1)]
    chosen: list[int] = []
    for rank in range(max(map(len, by_class))):
        chosen += [positions[rank] for positions in by_class if rank < len(positions)]
        if len(chosen) >= n:
            break
    return chosen[:n]


def png_data_uri(image: torch.Tensor) -> str:
    """A (1, H, W) image in [0, 1] as a grey PNG data URI at its own size (the page enlarges it without blur)."""
    grey = (image.detach().float().mean(0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class LiveTest:
    """The held-out test images a live run scores at every report, with what does not depend on the run."""

    images: Dataset
    clean: torch.Tensor  # (N,) the model's predictions on the clean images
    shown: tuple[int, ...]  # positions of the strip's images
    clean_pngs: tuple[str, ...]  # the strip's clean images as PNG data URIs


@lru_cache(maxsize=len(MODEL_NAMES))
def live_test(model_name: str, root: str) -> LiveTest:
    """The live test images and the model's clean predictions on them, computed once per model (and data folder)
    rather than at the start of every run: a run's first progress report comes that much sooner. Read-only."""
    test = resources.subset("test", LIVE_TEST_IMAGES)
    shown = tuple(diverse_indices(test.labels, STRIP_IMAGES))
    clean = predict(resources.model(model_name), test.images)
    return LiveTest(test, clean, shown, tuple(png_data_uri(test.images[i]) for i in shown))


@lru_cache(maxsize=1)
def view_drawer() -> ThreadPoolExecutor:
    """The one thread that draws the views of every run, created with the first run and ended as the process ends.
    One for all runs rather than one per run: each thread that runs the model keeps its own malloc arena, and the
    runs in flight would otherwise each hold one more (docs/design/allocator.md)."""
    drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uap-view")
    finish_at_exit(lambda _: drawer.shutdown(wait=True, cancel_futures=True))
    return drawer


@lru_cache(maxsize=len(MODEL_NAMES))
def prepare(model_name: str) -> None:
    """What the first run of ``model_name`` would otherwise do before its first report (the clean predictions
    of the live test images); the live page calls this when it opens. Also starts :func:`warm_up` in a thread
    of its own, which the process waits for as it ends (see :mod:`uap_app.shutdown`).
    """
    live_test(model_name, str(data_dir()))
    stop = threading.Event()
    thread = threading.Thread(target=warm_up, args=(model_name, stop.is_set), name="uap-warm-up", daemon=True)
    thread.start()
    finish_at_exit(thread.join, stop.set)


def warm_up(model_name: str, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Compute what the first result's evaluation would wait for: the clean predictions of the whole test split
    and the noise baseline at the default ℓ∞ ξ (a `fast` run there fills its ball: ‖v‖∞ is exactly ξ); about
    2 s of one core. At the lowest priority (Linux: a thread's nice value is its own), so that it only takes
    cycles that runs, pages and browsers leave; a page that needs either value first computes it itself.
    Returns between the two once ``should_stop()`` (the process is ending)."""
    with contextlib.suppress(AttributeError, OSError):  # no per-thread priority here: the normal one, then
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    resources.clean_test_labels(model_name)
    if should_stop():
        return
    default_size = torch.tensor(DEFAULT_XI["inf"]).item()  # ξ as the float32 v holds it
    resources.noise_fooling_rate(model_name, default_size, math.inf)


def run_live(job: Job) -> None:
    """The work of a live run (a job of :class:`uap_app.jobs.JobService`, keyed by its :class:`LiveSettings`):
    search, publishing a :class:`LiveView` at the start and at every progress report; the engine checks in at
    ``job.checkpoint()`` before every inner step and returns as soon as it says so."""
    try:
        _search_and_draw(job)
    finally:  # the run's training images and activations are free now: hand them back to the system
        release_freed_memory()


def _search_and_draw(job: Job) -> None:
    settings: LiveSettings = job.key
    target = parse_target(settings.target_name)
    net = resources.model(settings.model)
    train = resources.subset("train", settings.n_train, settings.seed)
    live = live_test(settings.model, str(data_dir()))
    test, clean_test, shown = live.images, live.clean, list(live.shown)
    rate_name = "fooling rate" if target is None else f"sent to {settings.target_name}"

    def view(result: UAPResult | None, curve: tuple, fraction: float, message: str) -> LiveView:
        v = torch.zeros_like(test.images[0]) if result is None else result.current
        # Before the first report v = 0, and clip(x + 0) = x: the clean predictions, not a second pass.
        labels = clean_test if result is None else predict(net, test.images, v)
        if target is None:
            test_rate = (labels != clean_test).float().mean().item()
            train_rate = result.history[-1].fooling_rate if result else 0.0
        else:
            test_rate = targeted_success_rate(clean_test, labels, target)
            train_rate = result.history[-1].targeted_success_rate if result else 0.0
        point = (fraction * settings.max_passes, train_rate, test_rate, (labels == test.labels).float().mean().item())
        curve = (*curve, point)
        perturbed = (test.images[shown] + v).clamp(0, 1)
        strip = tuple(
            StripImage(png, png_data_uri(x), CLASS_NAMES[clean_test[i]], CLASS_NAMES[labels[i]], settings.target_name)
            for png, x, i in zip(live.clean_pngs, perturbed, shown, strict=True)
        )
        chart = chart_html(curve, settings.max_passes, 1 - settings.delta, rate_name)
        return LiveView(settings, result, curve, strip, fraction, message, chart, strip_html(strip))

    latest = view(None, (), 0.0, "Starting…")
    job.publish(latest, 0.0)

    def draw(snapshot: UAPResult, fraction: float, message: str) -> None:
        nonlocal latest
        latest = view(snapshot, latest.curve, fraction, message)
        job.publish(latest)

    n = len(train)
    options = settings.algorithm_options()
    # The views (the live test images through the model, the strip's PNGs) are drawn by a second thread while
    # the search goes on: with torch on one thread each, a lone run then uses both cores. At most one view per run
    # is pending, so its views stay in order and every report still gets its point on the curve.
    drawer = view_drawer()
    drawn = None
    try:
        for snapshot in iter_universal_perturbation(net, train.images, **options, should_stop=job.checkpoint):
            record = snapshot.history[-1]
            fraction = (record.pass_index - 1 + record.images_seen / n) / settings.max_passes
            if target is None:
                rate, best = record.fooling_rate, snapshot.fooling_rate
            else:
                rate, best = record.targeted_success_rate, snapshot.targeted_success_rate
            # `fast` measures its rate on the training images once per pass: between, the message counts images.
            if rate is None:
                progress = f"{record.images_seen} of the {n} training images seen"
            else:
                progress = f"{rate_name} {rate:.0%} on the training images"
            message = (
                f"pass {record.pass_index} of {settings.max_passes}: {progress} (best {best:.0%}), "
                f"{record.seconds:.1f} s"
            )
            job.progress(fraction)  # here, in the run's thread: what it has computed for that much of its work
            if drawn is not None:
                drawn.result()  # the previous view is out (or its error is raised here)
            drawn = drawer.submit(draw, snapshot, fraction, message)
    finally:  # the run ends with its last view drawn (or its error raised here)
        if drawn is not None:
            drawn.result()


def strip_html(strip: tuple[StripImage, ...]) -> str:
    """The before/after strip as one HTML block: a row of clean test images with their predicted class,
    and below it the same images plus v, framed red with ✗ when the class changed (fooled), green with ✓ if not.
    """
    target = strip[0].target if strip else None

    def cell(png: str, text: str, kind: str) -> str:
        return f'<figure class="{kind}"><img src="{png}" alt=""><figcaption>{text}</figcaption></figure>'

    def perturbed_cell(image: StripImage) -> str:
        if target is None:
            return cell(
                image.perturbed_png, *(("✗ " + image.label, "fooled") if image.fooled else ("✓ " + image.label, "kept"))
            )
        if image.sent:
            return cell(image.perturbed_png, f"→ {image.label}", "fooled")
        return cell(image.perturbed_png, image.label, "other" if image.fooled else "kept")

    clean = "".join(cell(image.clean_png, image.clean_label, "plain") for image in strip)
    perturbed = "".join(perturbed_cell(image) for image in strip)
    if target is None:
        summary = f"<b>{sum(image.fooled for image in strip)} of {len(strip)}</b> test images fooled right now"
        summary += "\n(red frame, ✗: the class changed)."
    else:
        summary = f"<b>{sum(image.sent for image in strip)} of {len(strip)}</b> test images sent to {target} right now"
        summary += "\n(red frame, →; orange: changed to another class)."
    return f"""<style>
.uap-strip {{ display: grid; grid-template-columns: 4.2rem repeat({len(strip)}, 1fr); gap: 0.2rem 0.35rem;
  align-items: start; font-size: 0.8rem; line-height: 1.1; }}
.uap-strip .row-title {{ font-weight: 600; align-self: center; }}
.uap-strip figure {{ margin: 0; text-align: center; }}
.uap-strip img {{ width: 100%; image-rendering: pixelated; border: 3px solid #e1e4e8; box-sizing: border-box; }}
.uap-strip .fooled img {{ border-color: rgb(200, 30, 45); }}
.uap-strip .kept img {{ border-color: rgb(40, 140, 70); }}
.uap-strip .fooled figcaption {{ color: rgb(200, 30, 45); font-weight: 700; }}
.uap-strip .kept figcaption {{ color: rgb(40, 140, 70); }}
.uap-strip .other img {{ border-color: rgb(230, 150, 40); }}
.uap-strip-summary {{ font-size: 0.85rem; margin-top: 0.3rem; }}
</style>
<div class="uap-strip"><div class="row-title">Original</div>{clean}<div class="row-title">With v</div>{perturbed}</div>
<div class="uap-strip-summary">{summary}</div>"""
