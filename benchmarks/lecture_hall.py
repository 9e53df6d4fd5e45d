"""The lecture hall: one `streamlit run app.py` server on loopback, many real Chromium sessions at 1280 x 720.

    python -m benchmarks.lecture_hall --python CPU_VENV/bin/python [--box] [SCENARIO ...]

``--python`` runs the server (the CPU build of torch, as deployed: see docs/lecture-hall.md); this script drives
Debian's Chromium through Playwright (one browser, one context per visitor), with the server harness the browser
tests use (tests/support/browser.py). Scenarios (all when none is named), each on a fresh server so that nobody is
served a result another scenario cached, and each a few minutes on 2 cores:

- ``lecturer``: home's first picture and its eight examples, then one default run: first progress, result,
  memory after;
- ``crowd``: ``--sessions`` visitors press Run with the defaults within a second; memory peak;
- ``seeded``: ``--seeded`` visitors, each with its own ``?seed=i``, press Run together;
- ``growth``: one visitor runs ``--growth-runs`` runs with other seeds at 8,000 training images; memory 1 s
  after each result;
- ``paper``: one visitor runs the paper's Algorithm 1 with the other defaults (``?algorithm=paper``);
- ``heavy``: one visitor presses Run on the heaviest settings the live page offers (Algorithm 1, 8,000 training
  images, 10 passes, δ = 0.05); 3 s later another presses Run with the defaults: seconds to that result.

Every scenario also records each queue estimate a page showed ("starting in about N s") and the wait that followed
(until the page showed its run's progress), as a ratio. Server memory is the resident set (VmRSS) of the server
process, sampled every 0.1 s.

``--box`` runs the server alone in ``../shared/tools/cloud-box.sh --cpus 1 --memory 690M`` (Community Cloud's
stage; the browsers stay outside) and records the box's report per scenario: peak memory, anonymous peak, OOM kills.

The figures are merged into ``--out`` (benchmarks/lecture_hall.json: one section for this machine, one for the box;
a scenario run again replaces its figures) and ``--page`` (docs/lecture-hall.md) is written from that JSON, each
figure beside its target.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.browser import CHROMIUM_ARGS, chromium_path, streamlit_process  # noqa: E402

from .pages import write_page as write_markdown  # noqa: E402

VIEWPORT = {"width": 1280, "height": 720}
TIMEOUT_MS = 300_000
METRICS = '[data-testid="stMetric"]'
BUSY = "try again"  # what a page that turns visitors away would say
SCENARIOS = ("lecturer", "crowd", "seeded", "growth", "paper", "heavy")
# The growth runs end at their first report (target fooling rate 5%), so twenty of them fit a few minutes: each
# still gathers its 8,000 training images, is evaluated on the test split and kept in the finished-run store.
GROWTH_QUERY = "n_train=8000&max_passes=1&delta=0.95"
HEAVIEST_QUERY = "algorithm=paper&n_train=8000&max_passes=10&delta=0.05"  # the page's maxima and its smallest δ
HEAVY_LEAD_S = 3.0  # the heavy run's head start
RESULT_LIMIT_S = 180  # a crowd's pages without a result by then are counted as without one
BOX = ROOT.parent / "shared" / "tools" / "cloud-box.sh"
BOX_LIMITS = ("--cpus", "1", "--memory", "690M")
ESTIMATE = re.compile(r"starting in about (\d+) s")
PAGE_STATE = """() => ({
  metrics: document.querySelectorAll('[data-testid="stMetric"]').length,
  progress: document.querySelectorAll('[data-testid="stProgress"]').length,
  alerts: Array.from(document.querySelectorAll('[data-testid="stAlert"]')).map(e => e.innerText).join(' | '),
})"""


class Memory:
    """The server's resident memory in MB, now and the peak since :meth:`reset_peak`, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def now(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def reset_peak(self) -> None:
        self.peak = self.now()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak = max(self.peak, self.now())
            except (OSError, StopIteration):
                return

    def close(self) -> None:
        self._stop.set()


@dataclass
class Stage:
    """A running server: its URL, its memory, and (with ``--box``) the box's report once the server has ended."""

    url: str
    memory: Memory
    box: dict = field(default_factory=dict)


@contextlib.contextmanager
def server(python: str, boxed: bool) -> Iterator[Stage]:
    """A fresh `streamlit run app.py` on a free loopback port, run by ``python`` (inside the box with ``boxed``)."""
    with tempfile.TemporaryDirectory(prefix="uap-hall-") as folder:
        report = Path(folder) / "box.json"
        if boxed:  # the box's own recipe (its header): a one-line wrapper as the server's python
            wrapper = Path(folder) / "python"
            wrapper.write_text(f'#!/bin/sh\nexec {BOX} {" ".join(BOX_LIMITS)} --report {report} -- {python} "$@"\n')
            wrapper.chmod(0o755)
            python = str(wrapper)
        with streamlit_process(python=python) as process:
            stage = Stage(process.url, Memory(process.process.pid))
            try:
                yield stage
            finally:
                stage.memory.close()
        if boxed:  # the box writes its report once the server has ended
            deadline = time.monotonic() + 10
            while not report.exists() or not report.read_text().strip():
                if time.monotonic() > deadline:
                    raise RuntimeError("the box wrote no report")
                time.sleep(0.25)
            stage.box = json.loads(report.read_text().strip().splitlines()[-1])


def visitor(browser) -> Page:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def open_live(page: Page, url: str, query: str = "") -> None:
    go_to_live(page, url, query)
    ready(page)


def go_to_live(page: Page, url: str, query: str = "") -> None:
    """Start loading the live page without waiting for it (so many pages load at once)."""
    page.goto(f"{url}/attack{'?' + query if query else ''}", wait_until="commit")


def ready(page: Page) -> None:
    """Wait until the page's script has run and Run can be pressed."""
    page.wait_for_selector(".st-key-run button:not([disabled])")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")


def press_run(page: Page) -> float:
    """Click Run without waiting for anything (so thirty clicks fit in a second); return when it was clicked."""
    page.evaluate("() => document.querySelector('.st-key-run button').click()")
    return time.monotonic()


def outcome(page: Page) -> tuple[bool, bool, bool]:
    """(got the result, was told to come back, shows an exception)."""
    text = page.locator('[data-testid="stMain"]').inner_text()
    return page.locator(METRICS).count() == 5, BUSY in text, page.locator('[data-testid="stException"]').count() > 0


class Watch:
    """Polls pages that pressed Run: when each showed its result, when its run started (its progress line), and every
    queue estimate it showed, to be compared with the wait that followed."""

    def __init__(self, pages: list[Page]) -> None:
        self.pages = pages
        self.done: dict[int, float] = {}
        self.started: dict[int, float] = {}
        self.shown: list[tuple[int, float, int]] = []  # (page, when, estimate in s)

    def poll(self) -> None:
        for i, page in enumerate(self.pages):
            if i in self.done:
                continue
            try:
                state = page.evaluate(PAGE_STATE)
            except Exception:  # a page between two renders: the next poll looks again
                continue
            now = time.monotonic()
            if state["metrics"] >= 5:
                self.done[i] = now
                self.started.setdefault(i, now)
            queued = ESTIMATE.search(state["alerts"])
            if queued and (i, int(queued[1])) not in {(page, estimate) for page, _, estimate in self.shown}:
                self.shown.append((i, now, int(queued[1])))  # each estimate a page shows, when it first shows it
            if state["progress"] and not queued:
                self.started.setdefault(i, now)

    def until_done(self, limit_s: float, pages: list[int] | None = None) -> None:
        """Poll until the pages (all, or those named) show their result, at most ``limit_s`` seconds."""
        wanted = set(range(len(self.pages)) if pages is None else pages)
        deadline = time.monotonic() + limit_s
        while not wanted <= set(self.done) and time.monotonic() < deadline:
            self.poll()
            time.sleep(0.2)

    def estimates(self) -> list[dict]:
        """Each estimate shown, the wait that followed it and their ratio (estimate / wait)."""
        rows = []
        for i, when, estimate in self.shown:
            if i in self.started:
                waited = self.started[i] - when
                rows.append({"page": i, "estimate_s": estimate, "waited_s": round(waited, 2),
                             "ratio": round(estimate / waited, 2) if waited > 0 else math.inf})  # fmt: skip
        return rows


def lecturer(browser, python: str, boxed: bool) -> dict:
    """A fresh server: home's first picture, then one default run: first progress, result, memory."""
    figures = {}
    with server(python, boxed) as stage:
        page = visitor(browser)
        began = time.monotonic()
        page.goto(stage.url)
        pictures = page.locator('[data-testid="stImage"] img')
        pictures.first.wait_for(state="visible")
        figures["home_first_picture_s"] = time.monotonic() - began
        pictures.nth(16).wait_for(state="visible")  # the shipped pattern and the eight examples, before and after
        figures["home_examples_s"] = time.monotonic() - began
        open_live(page, stage.url)
        clicked = press_run(page)
        page.locator('[data-testid="stProgress"]', has_text="pass 1").first.wait_for()
        figures["first_progress_s"] = time.monotonic() - clicked
        page.locator(METRICS).nth(4).wait_for()
        figures["default_result_s"] = time.monotonic() - clicked
        page.wait_for_timeout(1000)
        figures["memory_after_home_and_run_mb"] = stage.memory.now()
        page.context.close()
    return figures | box_figures("lecturer", stage)


def paper(browser, python: str, boxed: bool) -> dict:
    """A fresh server, warmed: one run of Algorithm 1 with the live page's other defaults."""
    figures = {}
    with server(python, boxed) as stage:
        warm_server(browser, stage.url)
        page = visitor(browser)
        open_live(page, stage.url, "algorithm=paper")
        clicked = press_run(page)
        page.locator('[data-testid="stProgress"]', has_text="pass 1").first.wait_for()
        figures["paper_first_progress_s"] = time.monotonic() - clicked
        page.locator(METRICS).nth(4).wait_for()
        figures["paper_result_s"] = time.monotonic() - clicked
        page.context.close()
    return figures | box_figures("paper", stage)


def heavy(browser, python: str, boxed: bool) -> dict:
    """A fresh server, warmed: the heaviest run the page offers, then 3 s later a default run: its result's wait."""
    figures = {}
    with server(python, boxed) as stage:
        warm_server(browser, stage.url)
        student, lecturer_page = visitor(browser), visitor(browser)
        open_live(student, stage.url, HEAVIEST_QUERY)
        open_live(lecturer_page, stage.url)
        heavy_clicked = press_run(student)
        lecturer_page.wait_for_timeout(max(heavy_clicked + HEAVY_LEAD_S - time.monotonic(), 0) * 1000)
        clicked = press_run(lecturer_page)
        watch = Watch([lecturer_page, student])
        watch.until_done(RESULT_LIMIT_S, pages=[0])
        figures["heavy_default_result_s"] = watch.done.get(0, math.inf) - clicked
        progress = student.locator('[data-testid="stProgress"]')
        figures["heavy_run_progress_then"] = progress.first.inner_text()[:120] if progress.count() else ""
        figures["heavy_estimates"] = watch.estimates()
        for page in (student, lecturer_page):
            page.context.close()
    return figures | box_figures("heavy", stage)


def warm_server(browser, url: str) -> None:
    """The server's first visitor of the live page imports torch: not part of what is measured."""
    page = visitor(browser)
    open_live(page, url)
    page.context.close()


def tally(name: str, pages: list[Page], clicks: list[float], memory: Memory) -> dict:
    """Watch the pages until their results, then count them (and turned-away and failed pages), time the first and
    the last after the first click, take the peak memory and the queue estimates; closes the pages."""
    watch = Watch(pages)
    watch.until_done(RESULT_LIMIT_S)
    for i, page in enumerate(pages):
        if i not in watch.done:
            shown = page.locator('[data-testid="stMain"] [data-testid="stProgress"], [data-testid="stAlert"]')
            print(f"page {i}: no result; it shows {[text[:90] for text in shown.all_inner_texts()]}", flush=True)
    got, away, failed = (sum(column) for column in zip(*(outcome(page) for page in pages), strict=True))
    done = list(watch.done.values())
    figures = {
        "results": got,
        "turned_away": away,
        "exceptions": failed,
        "first_result_s": min(done, default=math.nan) - clicks[0],
        "last_result_s": max(done) - clicks[0] if len(done) == len(pages) else math.inf,
        "peak_mb": memory.peak,
        "estimates": watch.estimates(),
    }
    for page in pages:
        page.context.close()
    return {f"{name}_{key}": value for key, value in figures.items()}


def crowd(browser, python: str, boxed: bool, sessions: int) -> dict:
    """A fresh server: ``sessions`` visitors press Run with the defaults within a second."""
    figures = {}
    with server(python, boxed) as stage:
        warm_server(browser, stage.url)
        pages = [visitor(browser) for _ in range(sessions)]
        for page in pages:
            go_to_live(page, stage.url)
        for page in pages:
            ready(page)
        stage.memory.reset_peak()
        clicks = [press_run(page) for page in pages]
        figures["crowd_click_spread_s"] = clicks[-1] - clicks[0]
        figures |= tally("crowd", pages, clicks, stage.memory)
    return figures | box_figures("crowd", stage)


def seeded(browser, python: str, boxed: bool, sessions: int) -> dict:
    """A fresh server: ``sessions`` visitors, each opened with its own ?seed=i, press Run together."""
    figures = {}
    with server(python, boxed) as stage:
        warm_server(browser, stage.url)
        pages = [visitor(browser) for _ in range(sessions)]
        for seed, page in enumerate(pages, start=1):
            go_to_live(page, stage.url, f"seed={seed}")
        for page in pages:
            ready(page)
        clicks = [press_run(page) for page in pages]
        figures |= tally("seeded", pages, clicks, stage.memory)  # nobody presses again: queued runs start by themselves
    return figures | box_figures("seeded", stage)


def growth(browser, python: str, boxed: bool, runs: int) -> dict:
    """A fresh server: one visitor changes the seed between ``runs`` runs at 8,000 training images, as a student
    playing with it would (no page reloads); the server's memory after the first run and after the last."""
    figures = {}
    with server(python, boxed) as stage:
        page = visitor(browser)
        open_live(page, stage.url, f"{GROWTH_QUERY}&seed=1000")
        seed_box = page.get_by_label("Random seed")
        began, after = time.monotonic(), []
        for i, seed in enumerate(range(1000, 1000 + runs)):
            if i:
                seed_box.fill(str(seed))
                seed_box.press("Enter")
                page.wait_for_function(f"() => location.search.includes('seed={seed}')")
                ready(page)
            press_run(page)
            page.wait_for_function(f"() => document.querySelectorAll('{METRICS}').length === 0")
            page.locator(METRICS).nth(4).wait_for()
            page.wait_for_timeout(1000)
            after.append(stage.memory.now())
        figures["growth_seconds"] = time.monotonic() - began
        figures["growth_after_each_mb"] = [round(mb) for mb in after]
        figures["growth_first_mb"], figures["growth_last_mb"] = after[0], after[-1]
        figures["growth_mb"] = after[-1] - after[0]
        figures["growth_peak_mb"] = stage.memory.peak
        page.context.close()
    return figures | box_figures("growth", stage)


def box_figures(name: str, stage: Stage) -> dict:
    """The box's report of a scenario's server (nothing without ``--box``)."""
    if not stage.box:
        return {}
    return {f"{name}_box_{key}": value for key, value in stage.box.items() if key not in ("cpus", "memory_limit_mb")}


# ---------------------------------------------------------------- targets, the JSON and the page

TARGETS = {  # figure -> (target on this machine, target in the box); None: no target there
    "first_progress_s": (1.0, 1.5),
    "default_result_s": (8.0, 10.0),
    "home_first_picture_s": (3.0, None),
    "memory_after_home_and_run_mb": (550.0, None),
    "crowd_first_result_s": (None, None),
    "crowd_last_result_s": (60.0, 60.0),
    "crowd_peak_mb": (600.0, None),
    "seeded_first_result_s": (None, None),
    "seeded_last_result_s": (120.0, 150.0),
    "seeded_peak_mb": (600.0, None),
    "growth_mb": (50.0, None),
    "paper_result_s": (6.0, None),
    "heavy_default_result_s": (20.0, 30.0),
}
ANON_PEAK_MB = 550.0  # the box's anonymous memory, every scenario
RATIO = 2.0  # every queue estimate within this factor of the wait that followed


def rows(figures: dict, boxed: bool, sessions: int, seeded_sessions: int) -> list[dict]:
    """Each figure measured beside its target: {figure, target, measured, met} (met None where there is no target)."""
    f, found = figures, []

    def row(name: str, key: str, text: str, unit: str = " s", measured: str | None = None) -> None:
        if key not in f:
            return
        target = TARGETS[key][1 if boxed else 0]
        found.append({
            "figure": text, "target": "(no target)" if target is None else f"≤ {target:g}{unit}",
            "measured": measured or f"{f[key]:.2f}{unit}", "met": None if target is None else bool(f[key] <= target),
        })  # fmt: skip

    row("home", "home_first_picture_s", "home's first picture, fresh server")
    row("memory", "memory_after_home_and_run_mb", "server memory after the home page and a default run", " MB",
        f"{f.get('memory_after_home_and_run_mb', 0):.0f} MB")  # fmt: skip
    row("progress", "first_progress_s", "first live progress after Run")
    row("default", "default_result_s", "default run's result after Run")
    if "crowd_results" in f:
        found.append(
            {
                "figure": f"{sessions} sessions press Run (defaults) within 1 s: results, told to come back, "
                "exceptions",
                "target": f"{sessions}, 0, 0",
                "measured": f"{f['crowd_results']}, {f['crowd_turned_away']}, {f['crowd_exceptions']}",
                "met": f["crowd_results"] == sessions and f["crowd_turned_away"] == f["crowd_exceptions"] == 0,
            }
        )
    row("crowd", "crowd_first_result_s", "… the first result after the first click")
    row("crowd", "crowd_last_result_s", "… the last result after the first click")
    row(
        "crowd",
        "crowd_peak_mb",
        f"server memory, peak during the {sessions}-session test",
        " MB",
        f"{f.get('crowd_peak_mb', 0):.0f} MB",
    )
    if "seeded_results" in f:
        found.append(
            {
                "figure": f"{seeded_sessions} sessions with their own ?seed=i press Run: results",
                "target": f"all {seeded_sessions}",
                "measured": f"{f['seeded_results']}",
                "met": f["seeded_results"] == seeded_sessions,
            }
        )
    row("seeded", "seeded_first_result_s", "… the first result after the first click")
    row("seeded", "seeded_last_result_s", "… the last result after the first click")
    row(
        "seeded",
        "seeded_peak_mb",
        "server memory, peak during the seeded test",
        " MB",
        f"{f.get('seeded_peak_mb', 0):.0f} MB",
    )
    row(
        "growth",
        "growth_mb",
        "growth over 20 seeds at 8,000 training images",
        " MB",
        f"{f.get('growth_mb', 0):+.0f} MB",
    )
    row("paper", "paper_result_s", "Algorithm 1 (?algorithm=paper): its result after Run")
    row("heavy", "heavy_default_result_s", "default run's result while the heaviest run is in flight")
    ratios = [e["ratio"] for key in f if key.endswith("estimates") for e in f[key]]
    if ratios:
        within = sum(1 / RATIO <= ratio <= RATIO for ratio in ratios)
        found.append(
            {
                "figure": "queue estimates shown: estimate / the wait that followed",
                "target": f"all within ×{RATIO:g}",
                "met": within == len(ratios),
                "measured": f"{within} of {len(ratios)} within (ratios {min(ratios):.2f}–{max(ratios):.2f})",
            }
        )
    for key in sorted(k for k in f if k.endswith("_box_anon_peak_mb")):
        scenario = key.removesuffix("_box_anon_peak_mb")
        kills = f.get(f"{scenario}_box_oom_kills", 0)
        found.append({"figure": f"box, {scenario}: anonymous memory peak (box peak); OOM kills",
                      "target": f"≤ {ANON_PEAK_MB:g} MB; 0",
                      "measured": f"{f[key]} MB ({f.get(f'{scenario}_box_peak_mb')} MB); {kills}",
                      "met": f[key] <= ANON_PEAK_MB and kills == 0})  # fmt: skip
    return found


def table(found: list[dict]) -> str:
    lines = ["| figure | target | measured | met? |", "|---|---|---|---|"]
    verdict = {True: "yes", False: "**no**", None: ""}
    lines += [f"| {r['figure']} | {r['target']} | {r['measured']} | {verdict[r['met']]} |" for r in found]
    return "\n".join(lines)


def write_page(report: dict, path: Path) -> None:
    """docs/lecture-hall.md from the JSON: one table per stage, each figure beside its target."""
    parts = [
        "Each scenario runs on a fresh `streamlit run app.py` with real Chromium sessions at 1280×720 "
        "(the script's docstring says what each does)."
    ]
    titles = {"here": "On this machine: the server and the browsers share its cores",
              "box": "The server alone in `cloud-box.sh --cpus 1 --memory 690M`, the browsers outside"}  # fmt: skip
    for stage in ("here", "box"):
        if stage not in report:
            continue
        section = report[stage]
        runs = "; ".join(f"{name} {when['when']} ({when['server']})" for name, when in section["scenarios"].items())
        parts += ["", f"## {titles[stage]}", "", f"Scenarios run: {runs}.", "",
                  table(rows(section["figures"], stage == "box", section["sessions"], section["seeded"]))]  # fmt: skip
        shown = {k: v for k, v in section["figures"].items() if k.endswith("estimates") and v}
        for key, estimates in shown.items():
            parts += [
                "",
                f"Queue estimates in `{key.removesuffix('_estimates')}` (page: estimate → wait): "
                + ", ".join(f"{e['page']}: {e['estimate_s']} s → {e['waited_s']:.1f} s" for e in estimates),
            ]
    write_markdown(path, "Lecture hall, measured", "benchmarks.lecture_hall", "benchmarks/lecture_hall.json",
                     "\n".join(parts))  # fmt: skip


def save(path: Path, page: Path, stage: str, figures: dict, scenarios: list[str], server_text: str, args) -> dict:
    """Merge the figures of the scenarios just run into the JSON at ``path`` and write the page from it."""
    report = json.loads(path.read_text()) if path.exists() else {}
    section = report.setdefault(stage, {"figures": {}, "scenarios": {}})
    for name in scenarios:  # a scenario run again replaces its own figures
        section["figures"] = {k: v for k, v in section["figures"].items() if not k.startswith(f"{name}_")}
    section["figures"] |= figures
    when = datetime.datetime.now().isoformat(timespec="minutes")
    section["scenarios"] |= {name: {"when": when, "server": server_text} for name in scenarios}
    section["sessions"], section["seeded"] = args.sessions, args.seeded
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    write_page(report, page)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} (all)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs the server")
    parser.add_argument("--box", action="store_true", help=f"run the server in {BOX.name} {' '.join(BOX_LIMITS)}")
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seeded", type=int, default=10)
    parser.add_argument("--growth-runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "lecture_hall.json")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "lecture-hall.md")
    args = parser.parse_args()
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    if args.box and not os.access(BOX, os.X_OK):
        parser.error(f"--box needs {BOX}")
    scenarios = args.scenarios or list(SCENARIOS)
    # A `timeout` or a closed terminal ends this script through its finally blocks, which stop the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    version = subprocess.run(
        [args.python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    server_text = f"torch {version}, {os.cpu_count()} cores{', in the box' if args.box else ''}"
    runs = {
        "lecturer": lambda browser: lecturer(browser, args.python, args.box),
        "crowd": lambda browser: crowd(browser, args.python, args.box, args.sessions),
        "seeded": lambda browser: seeded(browser, args.python, args.box, args.seeded),
        "growth": lambda browser: growth(browser, args.python, args.box, args.growth_runs),
        "paper": lambda browser: paper(browser, args.python, args.box),
        "heavy": lambda browser: heavy(browser, args.python, args.box),
    }
    figures, done = {}, []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            for name in scenarios:
                began = time.monotonic()
                try:
                    figures |= runs[name](browser)
                    done.append(name)
                except PlaywrightTimeout as error:  # the others still run; the JSON keeps what was measured
                    print(f"{name}: timed out: {error}", flush=True)
                print(f"{name} ({time.monotonic() - began:.0f} s):", figures, flush=True)
        finally:
            browser.close()
    stage = "box" if args.box else "here"
    report = save(args.out, args.page, stage, figures, done, server_text, args)
    section = report[stage]
    print(f"\nserver: {args.python} ({server_text}); Chromium at 1280x720\n")
    print(table(rows(section["figures"], args.box, args.sessions, args.seeded)))


if __name__ == "__main__":
    main()
