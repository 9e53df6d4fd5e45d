"""The command line end to end: real data, real files."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from uap_core.files import load_perturbation

REQUIRED = {
    "train_fooling_rate", "test_fooling_rate", "random_fooling_rate", "clean_accuracy", "perturbed_accuracy",
    "linf", "l2", "passes", "seconds", "history",
}  # fmt: skip


@pytest.mark.slow
def test_run_writes_perturbation_picture_and_metrics(tmp_path, test_set):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "uap_core", "run", "--model", "convnet", "--algorithm", "paper", "--norm", "inf",
         "--xi", "0.15", "--delta", "0.2", "--n-train", "100", "--max-passes", "1", "--seed", "0", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "UAP (paper)" in done.stderr  # the progress bar
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics.keys() >= REQUIRED
    v = np.load(out / "perturbation.npy", allow_pickle=False)
    assert v.shape == (1, 28, 28) and v.dtype == np.float32
    assert np.abs(v).max() <= 0.15 + 1e-6
    assert abs(metrics["linf"] - float(np.abs(v).max())) < 1e-6
    assert load_perturbation(out / "perturbation.npy").shape == (1, 28, 28)
    assert Image.open(out / "perturbation.png").size == (280, 280)
    # Evaluated on the whole test split, whatever its size (the full data set has 10,000 images).
    assert metrics["test_images"] == len(test_set) and metrics["n_train"] == 100
    assert 0 <= metrics["test_fooling_rate"] <= 1 and metrics["passes"] == 1
    assert len(metrics["history"]) == 4 and metrics["history"][-1]["images_seen"] == 100
    assert metrics["clean_accuracy"] > metrics["perturbed_accuracy"]
