"""Every bad input gets a clear ValueError (library) or a clean error and exit code 2 (command line)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from uap_core import load_fashion_mnist, load_model, universal_perturbation
from uap_core.data import DataUnavailableError
from uap_core.files import perturbation_from_npy

GOOD = torch.rand(4, 1, 28, 28)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"xi": 0}, "xi"),
        ({"xi": -0.1}, "xi"),
        ({"xi": float("nan")}, "xi"),
        ({"xi": float("inf")}, "xi"),
        ({"xi": "big"}, "xi"),
        ({"delta": 0}, "delta"),
        ({"delta": 1}, "delta"),
        ({"delta": 1.5}, "delta"),
        ({"norm": 1}, "unknown norm"),
        ({"norm": "l3"}, "unknown norm"),
        ({"algorithm": "magic"}, "unknown algorithm"),
        ({"max_passes": 0}, "max_passes"),
        ({"images": torch.rand(0, 1, 28, 28)}, "empty"),
        ({"images": torch.rand(1, 28, 28)}, r"\(N, C, H, W\)"),
        ({"images": torch.full((2, 1, 28, 28), float("nan"))}, "NaN"),
        ({"images": torch.rand(2, 1, 28, 28) * 2 - 1}, r"\[0, 1\]"),
        ({"images": torch.randint(0, 255, (2, 1, 28, 28))}, "floats"),
        ({"images": np.zeros((2, 1, 28, 28), dtype=np.float32)}, "torch.Tensor"),
    ],
)
def test_universal_perturbation_rejects(model, kwargs, message):
    arguments = {"images": GOOD, "xi": 0.1, "norm": "inf", "delta": 0.2, "max_passes": 1} | kwargs
    images = arguments.pop("images")
    with pytest.raises(ValueError, match=message):
        universal_perturbation(model, images, **arguments)


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*convnet"):
        load_model("resnet")


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split"):
        load_fashion_mnist("validation")


def test_missing_data_says_where_and_how(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_fashion_mnist("test", root=tmp_path, download=False)
    assert str(tmp_path) in str(error.value) and "UAP_DATA_DIR" in str(error.value)


def test_undownloadable_data_says_where_and_how(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("UAP_DATA_DIR", str(tmp_path / "file" / "data"))
    with pytest.raises(DataUnavailableError, match="UAP_DATA_DIR"):
        load_fashion_mnist("train")


def npy(array) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, message",
    [
        (npy(np.zeros((28, 28), np.float32)), r"shaped \(1, 28, 28\)"),
        (npy(np.zeros((3, 28, 28), np.float32)), r"shaped \(1, 28, 28\)"),
        (npy(np.full((1, 28, 28), np.nan, np.float32)), "finite"),
        (npy(np.zeros((1, 28, 28), np.int64)), "floating-point"),
        (npy(np.array([{"a": 1}], dtype=object)), "not a valid .npy"),
        (b"not a numpy file at all", "not a valid .npy"),
        (b"\x93NUMPY" + b"\x00" * (2 << 20), "at most"),
    ],
)
def test_perturbation_files_are_validated(data, message):
    with pytest.raises(ValueError, match=message):
        perturbation_from_npy(data)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uap_core", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--xi", "0"], "xi must be"),
        (["--xi", "nan"], "xi must be"),
        (["--delta", "1"], "delta must"),
        (["--n-train", "0"], "asked for 0 images"),
        (["--n-train", "100000"], "asked for 100000 images"),
        (["--max-passes", "0"], "max_passes"),
    ],
)
def test_cli_bad_values_exit_cleanly(tmp_path, args, message):
    done = cli("run", "--out", str(tmp_path), *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [["--model", "resnet"], ["--norm", "1"], ["--algorithm", "magic"], ["--xi", "big"]],
)
def test_cli_bad_choices_exit_cleanly(tmp_path, args):
    done = cli("run", "--out", str(tmp_path), *args)
    assert done.returncode == 2 and "invalid" in done.stderr and "Traceback" not in done.stderr


def test_cli_missing_data_exits_cleanly(tmp_path):
    # A data folder that cannot exist (below a file): no download can be attempted, with or without network.
    (tmp_path / "file").write_text("")
    env = os.environ | {"UAP_DATA_DIR": str(tmp_path / "file" / "data")}
    done = subprocess.run([sys.executable, "-m", "uap_core", "run", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 2
    assert "UAP_DATA_DIR" in done.stderr and "Traceback" not in done.stderr
