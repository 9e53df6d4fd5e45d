"""Shared fixtures. The real Fashion-MNIST subset is found through UAP_DATA_DIR (set by .ci/run);
when it is unset and ../shared/data exists beside the project, that folder is used."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("UAP_DATA_DIR") and SHARED_DATA.is_dir():
    os.environ["UAP_DATA_DIR"] = str(SHARED_DATA)


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
