"""The live fooling-rate chart as one block of HTML and SVG, drawn by the run's thread once per progress report.

Every watcher's browser only inserts it: an interactive chart re-laid out by every browser at every look costs the
browsers most of their CPU (docs/design/svg-chart.md). No Streamlit here.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from uap_core.figures import ACCURACY_COLOUR, FONT_FAMILY, TARGET_COLOUR, TEST_COLOUR, TRAIN_COLOUR

# One point of the curve: (passes done, rate on the training images, rate on the test images, test accuracy). The
# training rate is None at the reports where the algorithm did not measure it (`fast` measures it once per pass).
Point = tuple[float, float | None, float, float]

WIDTH, HEIGHT = 560, 250  # SVG units; the chart scales to its column's width and keeps its proportions
LEFT, RIGHT, TOP, BOTTOM = 46, 14, 12, 42  # room for the axes' labels
FONT = 15


def _x(passes: float, max_passes: int) -> float:
    return LEFT + passes / max_passes * (WIDTH - LEFT - RIGHT)


def _y(share: float) -> float:
    return TOP + (1.0 - share) * (HEIGHT - TOP - BOTTOM)


def chart_html(curve: Sequence[Point], max_passes: int, target: float, rate: str = "fooling rate") -> str:
    """The chart of ``curve`` over 0 to ``max_passes`` passes: the rate (``rate`` names it) on the training and
    on the test images and the test accuracy, shares from 0 to 100 %, with the target line at ``target`` (1 − δ)."""
    series = (
        (f"{rate}, training images", TRAIN_COLOUR, 1),
        (f"{rate}, test images", TEST_COLOUR, 2),
        ("accuracy, test images", ACCURACY_COLOUR, 3),
    )
    parts = []
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _y(share)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end">{share:.0%}</text>')
    for passes in range(max_passes + 1):
        x = _x(passes, max_passes)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{passes}</text>')
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">'
        "passes over the training images</text>"
    )
    y = _y(target)
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{TARGET_COLOUR}" '
        'stroke-width="2" stroke-dasharray="7 5"/>'
    )
    parts.append(f'<text x="{LEFT + 6}" y="{y - 6:.1f}" fill="{TARGET_COLOUR}">target 1 − δ = {target:.0%}</text>')
    for _, colour, column in series:
        points = [(_x(point[0], max_passes), _y(point[column])) for point in curve if point[column] is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="3"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>' for x, y in points]
    legend = "".join(f'<span><i style="background:{colour}"></i>{escape(name)}</span>' for name, colour, _ in series)
    last = curve[-1] if curve else (0.0, 0.0, 0.0, 0.0)
    train = next((point[1] for point in reversed(curve) if point[1] is not None), 0.0)  # the latest measured
    label = escape(
        f"{rate} {train:.0%} on the training images and {last[2]:.0%} on the test images, "
        f"test accuracy {last[3]:.0%}, after {last[0]:.2g} of {max_passes} passes"
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT_FAMILY}" '
        f'font-size="{FONT}" fill="#333">{"".join(parts)}</svg>'
    )
    # As an image: Streamlit's st.html removes inline SVG, and an image is inserted without any layout work.
    source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    return f"""<style>
.uap-chart .legend {{ display: flex; flex-wrap: wrap; gap: 0.1rem 1rem; font-size: 0.9rem; line-height: 1.3; }}
.uap-chart .legend i {{ display: inline-block; width: 1.4rem; height: 0.25rem; margin: 0 0.35rem 0.2rem 0;
  vertical-align: middle; }}
.uap-chart img {{ display: block; width: 100%; height: auto; }}
</style>
<div class="uap-chart"><div class="legend">{legend}</div><img src="{source}" alt="{label}"></div>"""
