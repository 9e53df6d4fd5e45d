"""The pins hold: requirements.txt and requirements-dev.txt pin every package with ==, the installed packages are
exactly those versions, and everything the app imports and everything those packages require is pinned, so a
cold deploy on Streamlit Community Cloud installs what CI tested.

The packages' own metadata (Requires-Dist, with its environment markers) says what each requires. The CUDA build
of torch, which PyPI serves on Linux, also requires nvidia-*, triton and cuda-* packages; the CPU build that Cloud
installs from PyPI's CPU index does not, so those are not pinned and not looked at here.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
APP_REQUIREMENTS = ROOT / "requirements.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
APP_SOURCES = ("app.py", "ui.py", "app_pages", "uap_app", "uap_core")  # what Community Cloud runs
LOCAL_PACKAGES = {"app_pages", "uap_app", "uap_core", "ui"}
CUDA_ONLY = ("nvidia-", "triton", "cuda-")  # the CUDA build's requirements, which the CPU build does not have


def read_pins(path: Path) -> dict[NormalizedName, Version]:
    """Each requirement of a requirements file with the version it is pinned to; fails on one that is not ==."""
    pins: dict[NormalizedName, Version] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split(" #")[0].strip()
        if not line or line.startswith(("#", "-")):  # comments, and options such as --extra-index-url
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        pinned = len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version
        assert pinned, f"{path.name}:{number}: {line!r} is not pinned to one version with =="
        pins[canonicalize_name(requirement.name)] = Version(specifiers[0].version)
    return pins


def installed_version(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def cuda_only(name: str) -> bool:
    return name.startswith(CUDA_ONLY)


def requirements_of(name: str, extras: frozenset[str]) -> list[Requirement]:
    """What the installed distribution ``name`` requires here, with the extras asked for (and no others)."""
    environments = [{"extra": extra} for extra in sorted(extras)] or [{"extra": ""}]
    needed = []
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
            needed.append(requirement)
    return needed


def reachable(roots: set[NormalizedName]) -> set[NormalizedName]:
    """Every distribution that ``roots`` require, directly or not (the roots included), as installed here."""
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    stack = [(root, frozenset[str]()) for root in roots]
    while stack:
        name, extras = stack.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if installed_version(name) is None:
            continue  # reported by the version check
        for requirement in requirements_of(name, extras):
            required = canonicalize_name(requirement.name)
            if not cuda_only(required):
                stack.append((required, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def imported_modules(paths: tuple[str, ...]) -> set[str]:
    """The top-level modules that the Python files under ``paths`` import (absolute imports only)."""
    files = [
        file for path in paths for file in ([ROOT / path] if path.endswith(".py") else (ROOT / path).rglob("*.py"))
    ]
    modules = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def imported_distributions() -> set[NormalizedName]:
    """The distributions the app's code imports (``PIL`` is pillow...)."""
    by_module = metadata.packages_distributions()
    outside = imported_modules(APP_SOURCES) - LOCAL_PACKAGES - set(sys.stdlib_module_names) - {"__future__"}
    unknown = sorted(module for module in outside if module not in by_module)
    assert not unknown, f"the app imports {unknown}, which no installed distribution provides"
    return {canonicalize_name(name) for module in outside for name in by_module[module]}


@pytest.fixture(scope="module")
def app_pins() -> dict[NormalizedName, Version]:
    return read_pins(APP_REQUIREMENTS)


@pytest.fixture(scope="module")
def dev_pins() -> dict[NormalizedName, Version]:
    return read_pins(DEV_REQUIREMENTS)


def test_the_installed_versions_are_the_pinned_ones(app_pins, dev_pins):
    wrong = []
    for path, pins in ((APP_REQUIREMENTS, app_pins), (DEV_REQUIREMENTS, dev_pins)):
        for name, pinned in sorted(pins.items()):
            installed = installed_version(name)
            # A local label names a build, not a release: Cloud's torch 2.14.1+cpu is the pinned 2.14.1.
            if installed is None or Version(installed.public) != pinned:
                wrong.append(f"{name}: {path.name} pins =={pinned}, installed: {installed or 'nothing'}")
    assert not wrong, "installed packages and pins disagree:\n" + "\n".join(wrong)


def test_every_package_the_app_imports_is_pinned(app_pins):
    missing = sorted(imported_distributions() - set(app_pins))
    assert not missing, f"the app imports {missing}, not pinned in {APP_REQUIREMENTS.name}"


def test_everything_the_app_needs_is_pinned_and_nothing_else(app_pins):
    needed = reachable(imported_distributions())
    missing = [f"{name}=={installed_version(name)}" for name in sorted(needed - set(app_pins))]
    assert not missing, f"required, installed, but not pinned in {APP_REQUIREMENTS.name}: {', '.join(missing)}"
    unneeded = sorted(set(app_pins) - needed)
    assert not unneeded, f"pinned in {APP_REQUIREMENTS.name} but nothing the app imports requires them: {unneeded}"


def test_everything_the_tools_need_is_pinned(app_pins, dev_pins):
    pinned = set(app_pins) | set(dev_pins)
    missing = [f"{name}=={installed_version(name)}" for name in sorted(reachable(set(dev_pins)) - pinned)]
    assert not missing, f"required, installed, but not pinned in {DEV_REQUIREMENTS.name}: {', '.join(missing)}"


def test_no_cuda_only_package_is_pinned(app_pins, dev_pins):
    cuda = sorted(name for name in {*app_pins, *dev_pins} if cuda_only(name))
    assert not cuda, f"{cuda} come only with the CUDA build of torch: pinned, Cloud would download them (GBs)"
