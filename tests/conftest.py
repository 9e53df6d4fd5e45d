"""Shared fixtures and the test tiers.

The real Fashion-MNIST subset is found through UAP_DATA_DIR (set by .ci/run); when it is unset and ../shared/data
exists beside the project, that folder is used.

Tiers (markers registered in pyproject.toml): every test gets exactly one of ``unit``, ``app`` (Streamlit's
AppTest) and ``browser`` (a real server and Chromium), by its module unless it is marked explicitly; ``slow`` marks
the unit tests of two seconds or more. The fast tier:

    python3 -m pytest -m "not app and not browser and not slow"
"""

import os
import shutil
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("UAP_DATA_DIR") and SHARED_DATA.is_dir():
    os.environ["UAP_DATA_DIR"] = str(SHARED_DATA)

TIERS = ("unit", "app", "browser")
APP_MODULES = {"test_app", "test_uploads_app"}  # pages rendered by AppTest, in this process
BROWSER_PREFIX = "test_browser"  # `streamlit run app.py` driven by Chromium

# Unit tests of two seconds or more (measured with --durations on 2 cores) in modules that carry no marks of their own;
# the other modules mark theirs with @pytest.mark.slow.
SLOW_TESTS = {
    "test_layers": {"test_the_modules_that_say_they_hold_no_streamlit_load_none_and_the_others_import_it"},
    "test_live": {"test_a_live_run_that_spends_its_budget_ends_with_its_best_so_far_and_is_kept"},
    "test_uat": {"test_defence_command_line_writes_its_result"},
}

# torch's thread count when the tests start. The app sets it process-wide as it first loads a model or the data (the
# server runs torch on one thread), also when AppTest renders a page here; every test starts and ends with this count.
TORCH_THREADS = torch.get_num_threads()


def tier(item: pytest.Item) -> str:
    """The tier of a test: its own marker, else its module's."""
    own = [name for name in TIERS if item.get_closest_marker(name) is not None]
    if own:
        return own[0]
    module = item.module.__name__.rpartition(".")[2]
    if module in APP_MODULES:
        return "app"
    if module.startswith(BROWSER_PREFIX):
        return "browser"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = tier(item)
        item.add_marker(name)
        module = item.module.__name__.rpartition(".")[2]
        if name == "unit" and item.originalname in SLOW_TESTS.get(module, ()):
            item.add_marker("slow")


CHROMIUM = "chromium"  # Debian's package, and the command it installs


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A browser test without Debian's Chromium is skipped, saying which package to install; in CI (the environment
    variable CI set) it fails instead."""
    if item.get_closest_marker("browser") is not None and shutil.which(CHROMIUM) is None:
        message = f"Debian's Chromium is missing: install it with `apt-get install -y {CHROMIUM}`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _torch_threads():
    """Each test runs with the thread count the tests started with, whatever an import or another test set."""
    if torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
    yield
    if torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)


@pytest.fixture(scope="session")
def model():
    from uap_core import load_model

    return load_model("convnet")


@pytest.fixture(scope="session")
def train_set():
    from uap_core import load_fashion_mnist

    return load_fashion_mnist("train")


@pytest.fixture(scope="session")
def test_set():
    from uap_core import load_fashion_mnist

    return load_fashion_mnist("test")
