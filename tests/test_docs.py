"""The documentation: the README stays short, links resolve, and the generated pages match what generates them."""

import json
import re
from pathlib import Path

import pytest

from benchmarks import findings_page

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
# Pages a benchmark script writes from the JSON it saves: a link to one is good once that script exists.
WRITTEN_BY = {
    "docs/benchmarks.md": "benchmarks/compare.py",
    "docs/lecture-hall.md": "benchmarks/lecture_hall.py",
    "docs/targeted.md": "benchmarks/targeted.py",
}
LINK = re.compile(r"\]\(([^)\s]+)\)")
FAST_TIER = 'python3 -m pytest -m "not app and not browser and not slow"'


def test_the_readme_is_short_and_shows_the_fast_tier_and_the_screenshot():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    assert FAST_TIER in text and "docs/screenshot-live.png" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    nowhere = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or a heading of the same page
        path = (page.parent / target.split("#")[0]).resolve()
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        if not path.exists() and not (ROOT / WRITTEN_BY.get(name, "-")).is_file():
            nowhere.append(target)
    assert not nowhere, f"links in {page.relative_to(ROOT)} that lead nowhere: {', '.join(nowhere)}"


@pytest.mark.parametrize("path", list(findings_page.PAGES), ids=lambda path: path.name)
def test_generated_pages_match_the_shipped_files(path):
    """docs/findings.md and docs/models.md are what `python -m benchmarks.findings_page` makes of the shipped results
    and the models' cards; it also refuses a result that no longer supports its finding's verdict."""
    assert path.read_text() == findings_page.wrapped(findings_page.PAGES[path]()), (
        f"{path.name} is out of date: run `python -m benchmarks.findings_page`"
    )


def test_the_lecture_hall_page_is_what_its_script_makes_of_its_json(tmp_path):
    """docs/lecture-hall.md holds the figures of benchmarks/lecture_hall.json, beside their targets, as the script
    writes them: nobody edits a figure by hand."""
    from benchmarks import lecture_hall

    written = tmp_path / "lecture-hall.md"
    lecture_hall.write_page(json.loads((ROOT / "benchmarks" / "lecture_hall.json").read_text()), written)
    assert (ROOT / "docs" / "lecture-hall.md").read_text() == written.read_text(), (
        "docs/lecture-hall.md is out of date: rerun `python -m benchmarks.lecture_hall` (or its page from the JSON)"
    )
