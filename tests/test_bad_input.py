"""A catalogue of bad inputs: every one ends in a clear ValueError (library) or `error: ...` and exit status 2
(command line), whose message names the argument, says what was expected and what came."""

import io
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from uap_app.environment import env_int
from uap_core import (
    DeepFoolOptions,
    UAPSettings,
    accuracy,
    class_flow,
    deepfool,
    dominant_labels,
    evaluate,
    fooling_rate,
    iter_universal_perturbation,
    load_fashion_mnist,
    load_model,
    perturb,
    predict,
    project,
    random_fooling_rate,
    random_perturbation,
    rescale,
    universal_perturbation,
)
from uap_core.cli import main
from uap_core.data import DataUnavailableError, data_dir
from uap_core.files import MAX_NPY_BYTES, load_perturbation, perturbation_from_npy, perturbation_png
from uap_core.report import metrics_dict
from uap_core.shapes import expected_input_shape

IMAGES = torch.rand(4, 1, 28, 28)
V = torch.full((1, 28, 28), 0.05)
LABELS = torch.tensor([0, 1, 2, 3])
NAN_V = V.clone().index_fill_(2, torch.tensor([3]), float("nan"))


def run(model, **changes):
    """universal_perturbation with good settings (one short pass), except for ``changes``."""
    arguments = {"model": model, "images": IMAGES, "xi": 0.1, "norm": "inf", "delta": 0.2, "max_passes": 1,
                 "algorithm": "fast"} | changes  # fmt: skip
    return universal_perturbation(**arguments)


def with_nan(images: torch.Tensor, value: float = float("nan")) -> torch.Tensor:
    images = images.clone()
    images[0, 0, 5, 5] = value
    return images


# (case, call(model), a pattern the message must match: it names the argument first)
API = [
    # ξ and δ: numbers only, finite, in range; a bool is not a number
    ("xi zero", lambda m: run(m, xi=0), r"^xi must be a finite number > 0, got 0"),
    ("xi negative", lambda m: run(m, xi=-0.1), r"^xi must be .*> 0"),
    ("xi nan", lambda m: run(m, xi=float("nan")), r"^xi must be .*got nan"),
    ("xi inf", lambda m: run(m, xi=math.inf), r"^xi must be a finite number"),
    ("xi string", lambda m: run(m, xi="big"), r"^xi must be a finite number > 0, got 'big'"),
    ("xi True", lambda m: run(m, xi=True), r"^xi must be a finite number > 0, got True \(bool\)"),
    ("xi list", lambda m: run(m, xi=[0.1]), r"^xi must be .*list"),
    ("delta zero", lambda m: run(m, delta=0), r"^delta must be a number in \(0, 1\)"),
    ("delta one", lambda m: run(m, delta=1), r"^delta must be a number in \(0, 1\), got 1"),
    ("delta above one", lambda m: run(m, delta=1.5), r"^delta must be"),
    ("delta nan", lambda m: run(m, delta=float("nan")), r"^delta must be"),
    ("delta False", lambda m: run(m, delta=False), r"^delta must be .*bool"),
    # norms: one parser for every entry point
    ("norm 1", lambda m: run(m, norm=1), r"^norm must be 2 \(ℓ2\) or 'inf' \(ℓ∞\); unknown norm 1"),
    ("norm l3", lambda m: run(m, norm="l3"), r"^norm must be .*'l3'"),
    ("norm True", lambda m: run(m, norm=True), r"^norm must be .*True \(bool\)"),
    ("norm None", lambda m: run(m, norm=None), r"^norm must be .*None"),
    # choices, counts and seeds
    ("algorithm unknown", lambda m: run(m, algorithm="magic"), r"^algorithm must be one of 'paper', 'fast'"),
    ("algorithm None", lambda m: run(m, algorithm=None), r"^algorithm must be one of"),
    ("max_passes zero", lambda m: run(m, max_passes=0), r"^max_passes must be a whole number >= 1, got 0"),
    ("max_passes float", lambda m: run(m, max_passes=1.5), r"^max_passes must be a whole number .*float"),
    ("max_passes True", lambda m: run(m, max_passes=True), r"^max_passes must be .*bool"),
    ("seed negative", lambda m: run(m, seed=-1), r"^seed must be a whole number from 0 to .*got -1"),
    ("seed float", lambda m: run(m, seed=1.5), r"^seed must be a whole number .*1\.5 \(float\)"),
    ("seed string", lambda m: run(m, seed="0"), r"^seed must be a whole number .*'0'"),
    ("seed True", lambda m: run(m, seed=True), r"^seed must be .*bool"),
    ("seed too big", lambda m: run(m, seed=2**64), r"^seed must be a whole number from 0 to"),
    ("reports_per_pass zero", lambda m: run(m, reports_per_pass=0), r"^reports_per_pass must be"),
    ("batch_size zero", lambda m: run(m, batch_size=0), r"^batch_size must be a whole number >= 1"),
    ("step_size zero", lambda m: run(m, step_size=0), r"^step_size .*must be a number in \(0, 1\]"),
    ("step_size above one", lambda m: run(m, step_size=2.0), r"^step_size .*must be"),
    ("num_candidates one", lambda m: run(m, deepfool=DeepFoolOptions(num_candidates=1)),
     r"^num_candidates must be a whole number >= 2"),
    ("overshoot negative", lambda m: run(m, deepfool=DeepFoolOptions(overshoot=-0.1)),
     r"^overshoot must be a finite number >= 0"),
    ("overshoot nan", lambda m: run(m, deepfool=DeepFoolOptions(overshoot=float("nan"))), r"^overshoot must be"),
    ("max_iter zero", lambda m: run(m, deepfool=DeepFoolOptions(max_iter=0)), r"^max_iter must be a whole number >= 1"),
    ("iterate unknown", lambda m: run(m, deepfool=DeepFoolOptions(iterate="clip")),
     r"^iterate must be one of 'plain', 'clipped', 'box_aware', got 'clip'"),
    ("deepfool options as a dict", lambda m: run(m, deepfool={"max_iter": 3}), r"^deepfool must be a DeepFoolOptions"),
    ("unknown setting", lambda m: run(m, clip=True), r"^unknown setting 'clip'; the settings are algorithm, norm"),
    ("settings not a record", lambda m: universal_perturbation(m, IMAGES, {"xi": 0.1}),
     r"^settings must be a UAPSettings, got \{'xi': 0.1\} \(dict\)"),
    ("stats not Stats", lambda m: run(m, stats={}), r"^stats must be a uap_core.Stats or None"),
    ("target unknown", lambda m: run(m, target="Hat"), r"^target must be a class index 0-9 or one of the names"),
    ("callback not callable", lambda m: run(m, callback=5), r"^callback must be a function or None"),
    ("model name instead of model", lambda m: run("convnet"), r"^model must be a torch.nn.Module .*load_model"),
    # images: float32 tensors (N, C, H, W) in [0, 1], finite, of the shape the model takes
    ("images empty", lambda m: run(m, images=torch.rand(0, 1, 28, 28)), r"^images must be a non-empty .*empty"),
    ("images 3-D", lambda m: run(m, images=torch.rand(1, 28, 28)), r"^images must be .*\(N, C, H, W\)"),
    ("images nan", lambda m: run(m, images=with_nan(IMAGES)), r"^images must be .*finite.*got NaN"),
    ("images inf", lambda m: run(m, images=with_nan(IMAGES, math.inf)), r"^images must lie in \[0, 1\]"),
    ("images outside [0, 1]", lambda m: run(m, images=IMAGES * 2 - 1), r"^images must lie in \[0, 1\]"),
    ("images uint8", lambda m: run(m, images=(IMAGES * 255).to(torch.uint8)), r"^images must be a non-empty float32"),
    ("images int64", lambda m: run(m, images=torch.randint(0, 2, (2, 1, 28, 28))), r"^images must be .*float32"),
    ("images float64", lambda m: run(m, images=IMAGES.double()), r"^images must be .*float32.*float64.*\.float\(\)"),
    ("images NumPy", lambda m: run(m, images=IMAGES.numpy()), r"^images must be .*torch.Tensor.*NumPy array"),
    ("images 3 channels", lambda m: run(m, images=torch.rand(2, 3, 28, 28)),
     r"^images must be shaped \(N, 1, 28, 28\) for this model, got \(N, 3, 28, 28\)"),
    ("images 32x32", lambda m: run(m, images=torch.rand(2, 1, 32, 32)),
     r"^images must be shaped \(N, 1, 28, 28\) for this model, got \(N, 1, 32, 32\)"),
    # DeepFool: the same image checks, its options at call time, images in [0, 1]
    ("deepfool images above 1", lambda m: deepfool(m, IMAGES + 1), r"^images must lie in \[0, 1\]"),
    ("deepfool images nan", lambda m: deepfool(m, with_nan(IMAGES)), r"^images must be .*NaN"),
    ("deepfool images float64", lambda m: deepfool(m, IMAGES.double()), r"^images must be .*float32"),
    ("deepfool images shape", lambda m: deepfool(m, torch.rand(2, 1, 27, 27)), r"^images must be shaped \(N, 1, 28"),
    ("deepfool num_candidates", lambda m: deepfool(m, IMAGES, num_candidates=1), r"^num_candidates must be"),
    ("deepfool num_candidates float", lambda m: deepfool(m, IMAGES, num_candidates=2.5), r"^num_candidates must"),
    ("deepfool overshoot", lambda m: deepfool(m, IMAGES, overshoot=-1), r"^overshoot must be"),
    ("deepfool overshoot string", lambda m: deepfool(m, IMAGES, overshoot="0.02"), r"^overshoot must be .*'0.02'"),
    ("deepfool max_iter", lambda m: deepfool(m, IMAGES, max_iter=0), r"^max_iter must be"),
    ("deepfool clip", lambda m: deepfool(m, IMAGES, clip=True), r"^unknown DeepFool option 'clip'; the DeepFool"),
    ("deepfool iterate", lambda m: deepfool(m, IMAGES, iterate=True), r"^iterate must be one of .*True \(bool\)"),
    ("deepfool batch_size", lambda m: deepfool(m, IMAGES, batch_size=0), r"^batch_size must be"),
    # evaluate and the metrics
    ("evaluate norm l3", lambda m: evaluate(m, IMAGES, LABELS, V, "l3"), r"^p must be 2 \(ℓ2\) or 'inf'"),
    ("evaluate v nan", lambda m: evaluate(m, IMAGES, LABELS, NAN_V, "inf"), r"^v must be .*finite.*NaN"),
    ("evaluate v inf", lambda m: evaluate(m, IMAGES, LABELS, V + math.inf, 2), r"^v must be .*infinite"),
    ("evaluate v shape", lambda m: evaluate(m, IMAGES, LABELS, V[0], 2), r"^v must be shaped \(1, 28, 28\)"),
    ("evaluate v float64", lambda m: evaluate(m, IMAGES, LABELS, V.double(), 2), r"^v must be a float32"),
    ("evaluate v None", lambda m: evaluate(m, IMAGES, LABELS, None, 2), r"^v must be a float32 torch.Tensor .*None"),
    ("evaluate labels length", lambda m: evaluate(m, IMAGES, LABELS[:3], V, 2), r"^labels must be .*\(4,\)"),
    ("evaluate labels float", lambda m: evaluate(m, IMAGES, LABELS.float(), V, 2), r"^labels must be an integer"),
    ("evaluate random_trials", lambda m: evaluate(m, IMAGES, LABELS, V, 2, random_trials=-1), r"^random_trials must"),
    ("evaluate clean_labels length", lambda m: evaluate(m, IMAGES, LABELS, V, 2, clean_labels=LABELS[:3]),
     r"^clean_labels must be .*\(4,\)"),
    ("evaluate seed", lambda m: evaluate(m, IMAGES, LABELS, V, 2, seed=-3), r"^seed must be"),
    ("evaluate images 3 channels", lambda m: evaluate(m, torch.rand(4, 3, 28, 28), LABELS, V, 2),
     r"^images must be shaped \(N, 1, 28, 28\)"),
    ("predict images float64", lambda m: predict(m, IMAGES.double()), r"^images must be .*float32"),
    ("predict images NumPy", lambda m: predict(m, IMAGES.numpy()), r"^images must be .*NumPy array"),
    ("predict v shape", lambda m: predict(m, IMAGES, torch.zeros(3, 28, 28)), r"^v must be shaped \(1, 28, 28\)"),
    ("perturb v nan", lambda m: perturb(IMAGES, NAN_V), r"^v must be .*NaN"),
    ("perturb images above 1", lambda m: perturb(IMAGES + 1, V), r"^images must lie in \[0, 1\]"),
    ("fooling_rate v nan", lambda m: fooling_rate(m, IMAGES, NAN_V), r"^v must be"),
    ("fooling_rate clean_labels", lambda m: fooling_rate(m, IMAGES, V, LABELS[:2]), r"^clean_labels must be"),
    ("accuracy labels", lambda m: accuracy(m, IMAGES, torch.tensor([0, 1, -1, 2])), r"^labels must be .*negative"),
    ("random_fooling_rate size", lambda m: random_fooling_rate(m, IMAGES, -1.0, 2), r"^size must be .*>= 0"),
    ("random_fooling_rate size nan", lambda m: random_fooling_rate(m, IMAGES, float("nan"), 2), r"^size must be"),
    ("random_fooling_rate norm", lambda m: random_fooling_rate(m, IMAGES, 0.1, "l1"), r"^p must be 2"),
    ("random_fooling_rate trials", lambda m: random_fooling_rate(m, IMAGES, 0.1, 2, trials=0), r"^trials must"),
    ("class_flow num_classes", lambda m: class_flow(LABELS, LABELS, 0), r"^num_classes must be"),
    ("class_flow labels too big", lambda m: class_flow(LABELS, LABELS, 3), r"num_classes = 3"),
    ("class_flow lengths", lambda m: class_flow(LABELS, LABELS[:2]), r"^perturbed_labels must be"),
    ("dominant_labels not square", lambda m: dominant_labels(torch.ones(2, 3)), r"^flow must be a square"),
    # norms: projection, rescaling, random noise
    ("rescale xi nan", lambda m: rescale(V, float("nan"), 2), r"^xi must be"),
    ("rescale v nan", lambda m: rescale(NAN_V, 0.1, 2), r"^v must be"),
    ("rescale norm", lambda m: rescale(V, 0.1, "l1"), r"^p must be 2"),
    ("project xi True", lambda m: project(V, True, math.inf), r"^xi must be .*bool"),
    ("project v list", lambda m: project([0.1, 0.2], 0.1, 2), r"^v must be .*torch.Tensor.*list"),
    ("random_perturbation shape", lambda m: random_perturbation((0, 28), 0.1, 2), r"^shape must be"),
    ("random_perturbation size inf", lambda m: random_perturbation((1, 28, 28), math.inf, 2), r"^size must be"),
    ("random_perturbation norm", lambda m: random_perturbation((1, 28, 28), 0.1, None), r"^p must be 2"),
    ("random_perturbation generator", lambda m: random_perturbation((1, 2, 2), 0.1, 2, 5), r"^generator must be"),
    # pictures and reports
    ("png upscale zero", lambda m: perturbation_png(V, upscale=0), r"^upscale must be a whole number from 1"),
    ("png upscale huge", lambda m: perturbation_png(V, upscale=10_000), r"^upscale must be .*to 32"),
    ("png v nan", lambda m: perturbation_png(NAN_V), r"^v must be"),
    ("metrics_dict", lambda m: metrics_dict(None, None), r"^result must be a UAPResult"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "call", "message"), API, ids=[case for case, _, _ in API])
def test_api_rejects(model, case, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)


@pytest.mark.parametrize(
    "changes",
    [{"xi": True}, {"images": IMAGES.double()}, {"seed": "a"}, {"target": 11}, {"step_size": 0}, {"clip": True},
     {"norm": "l1"}, {"images": torch.rand(2, 3, 28, 28)}],
)  # fmt: skip
def test_iter_universal_perturbation_checks_when_called(model, changes):
    # A generator's body runs at the first next(); the checks must not wait for it.
    arguments = {"images": IMAGES, "xi": 0.1, "max_passes": 1} | changes
    with pytest.raises(ValueError):
        iter_universal_perturbation(model, **arguments)


def test_every_norm_spelling_is_accepted_everywhere(model):
    # One parser serves all entry points: evaluate and the noise take "inf" as universal_perturbation does.
    for spelling in (math.inf, "inf", "linf", "ℓ∞", "Inf"):
        assert evaluate(model, IMAGES, LABELS, V, spelling, random_trials=1).linf == pytest.approx(0.05)
        assert random_perturbation((1, 2, 2), 0.3, spelling).abs().max().item() == pytest.approx(0.3)
    for spelling in (2, 2.0, "2", "l2", "L2", "ℓ2"):
        assert evaluate(model, IMAGES, LABELS, V, spelling, random_trials=1).l2 == pytest.approx(V.norm().item())
        assert project(V * 100, 1.0, spelling).norm().item() == pytest.approx(1.0, rel=1e-5)


def test_shipped_models_state_the_shape_they_expect():
    for name in ("convnet", "lenet", "mlp"):
        assert expected_input_shape(load_model(name)) == (1, 28, 28)
    # A model that cannot be told (it takes 16 numbers) says so instead of guessing.
    assert expected_input_shape(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).eval()) is None


def test_a_shape_the_model_cannot_take_is_named_even_without_an_expected_shape():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).eval()
    with pytest.raises(
        ValueError, match=r"^images must be of a shape it accepts for this model, got \(N, 1, 3, 3\) \(mat1"
    ):
        predict(model, torch.rand(2, 1, 3, 3))
    assert predict(model, torch.rand(2, 1, 4, 4)).shape == (2,)


def test_unknown_model_name():
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*convnet"):
        load_model("resnet")


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split"):
        load_fashion_mnist("validation")


@pytest.mark.parametrize(
    ("n", "seed", "message"),
    [(0, 0, r"^n must be a whole number from 1 to"), (True, 0, r"^n must be"), (2.0, 0, r"^n must be"),
     (10, -1, r"^seed must be"), (10, "x", r"^seed must be")],
)  # fmt: skip
def test_subset_rejects(test_set, n, seed, message):
    with pytest.raises(ValueError, match=message):
        test_set.subset(n, seed)


def test_missing_data_says_where_and_how(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_fashion_mnist("test", root=tmp_path, download=False)
    assert str(tmp_path) in str(error.value) and "UAP_DATA_DIR" in str(error.value)


@pytest.mark.parametrize("below", ["", "data"])
def test_data_dir_that_is_a_file_is_refused(tmp_path, monkeypatch, below):
    # UAP_DATA_DIR naming a file, or a folder below a file: a ValueError that is also a
    # DataUnavailableError, so the app and the command line report it as missing data.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("UAP_DATA_DIR", str(tmp_path / "file" / below))
    for call in (data_dir, lambda: load_fashion_mnist("train")):
        with pytest.raises(ValueError, match=r"^environment variable UAP_DATA_DIR must name a folder") as error:
            call()
        assert isinstance(error.value, DataUnavailableError) and "is a file" in str(error.value)


@pytest.mark.parametrize("text", ["abc", "0", "-2", "1.5"])
def test_integer_environment_variables_are_checked(monkeypatch, text):
    monkeypatch.setenv("UAP_TORCH_THREADS", text)
    with pytest.raises(ValueError, match=r"^environment variable UAP_TORCH_THREADS must be a whole number >= 1, got"):
        env_int("UAP_TORCH_THREADS")
    monkeypatch.setenv("UAP_TORCH_THREADS", " 3 ")
    assert env_int("UAP_TORCH_THREADS") == 3
    monkeypatch.delenv("UAP_TORCH_THREADS")
    assert env_int("UAP_TORCH_THREADS") is None


def npy(array, version=None) -> bytes:
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=True)
    else:
        np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def header_only(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A small .npy file whose header claims an array of ``shape`` but that holds no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\x00" * 64


GOOD_NPY = npy(np.zeros((1, 28, 28), np.float32))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (npy(np.zeros((28, 28), np.float32)), r"shaped \(1, 28, 28\) like one image .*got \(28, 28\)"),
        (npy(np.zeros((3, 28, 28), np.float32)), r"shaped \(1, 28, 28\)"),
        (npy(np.full((1, 28, 28), np.nan, np.float32)), "finite"),
        (npy(np.full((1, 28, 28), np.inf, np.float32)), "finite"),
        (npy(np.zeros((1, 28, 28), np.int64)), "floating-point numbers .*got dtype int64"),
        (npy(np.zeros((1, 28, 28), np.complex64)), "floating-point numbers"),
        (npy(np.array([{"a": 1}], dtype=object)), "pickle"),
        (header_only((100_000_000_000,)), r"shaped \(1, 28, 28\) like one image"),  # 200 bytes claiming 1e11 floats
        (header_only((1, 28, 28)), "data is 64 bytes where its header announces 3,136"),
        (GOOD_NPY[:-10], "header announces"),
        (GOOD_NPY + b"extra", "header announces"),
        (b"not a numpy file at all", "not a valid .npy"),
        (GOOD_NPY[:8], "not a valid .npy"),
        (npy(np.zeros((1, 28, 28), np.float32), version=(3, 0)), "unsupported .npy format version 3.0"),
        (b"\x93NUMPY" + b"\x00" * (2 << 20), "at most"),
    ],
)
def test_perturbation_files_are_validated(data, message):
    with pytest.raises(ValueError, match=message):
        perturbation_from_npy(data)


def test_a_huge_claimed_array_is_refused_before_allocating():
    data = header_only((100_000_000_000,))
    assert len(data) < 300
    with pytest.raises(ValueError, match="like one image"):
        perturbation_from_npy(data)


def test_good_files_in_every_float_type_and_order_are_read():
    v = np.random.default_rng(0).uniform(-0.2, 0.2, (1, 28, 28))
    for array in (v.astype(np.float32), v.astype(np.float64), v.astype(">f4"), np.asfortranarray(v)):
        read = perturbation_from_npy(npy(array))
        assert read.dtype == torch.float32 and torch.allclose(read, torch.from_numpy(v).float())
    assert torch.allclose(perturbation_from_npy(npy(v.astype(np.float32), version=(2, 0))), torch.from_numpy(v).float())


@pytest.mark.parametrize("kind", ["missing", "folder", "too big", "not a path"])
def test_perturbation_paths_are_validated(tmp_path, kind):
    path = {"missing": tmp_path / "none.npy", "folder": tmp_path, "too big": tmp_path / "big.npy", "not a path": 5}
    (tmp_path / "big.npy").write_bytes(b"\x00" * (MAX_NPY_BYTES + 1))
    with pytest.raises(ValueError, match=r"no perturbation file|at most|^path must be a file path"):
        load_perturbation(path[kind])


def cli_in_process(capsys, *args: str) -> tuple[int, str]:
    """Exit status and stderr of ``python -m uap_core ARGS`` run in this process (argparse exits by SystemExit)."""
    try:
        status = main(list(args))
    except SystemExit as stop:
        status = stop.code
    return status, capsys.readouterr().err


@pytest.fixture
def a_file(tmp_path):
    (tmp_path / "file").write_text("")
    return str(tmp_path / "file")


# (command line, a pattern stderr must match: it names the option); every one exits with status 2.
CLI = [
    (["run", "--xi", "0"], r"argument --xi: value must be a finite number > 0, got 0"),
    (["run", "--xi", "-1"], r"argument --xi: value must be"),
    (["run", "--xi", "nan"], r"argument --xi: value must be a finite number > 0, got nan"),
    (["run", "--xi", "inf"], r"argument --xi: value must be a finite number"),
    (["run", "--xi", "big"], r"argument --xi: value must be a finite number > 0, got 'big'"),
    (["run", "--delta", "1"], r"argument --delta: value must be a number in \(0, 1\)"),
    (["run", "--delta", "0"], r"argument --delta"),
    (["run", "--delta", "nan"], r"argument --delta"),
    (["run", "--n-train", "0"], r"argument --n-train: value must be a whole number >= 1, got 0"),
    (["run", "--n-train", "-5"], r"argument --n-train"),
    (["run", "--n-train", "1.5"], r"argument --n-train: value must be a whole number >= 1, got '1.5'"),
    (["run", "--n-train", "100000"], r"error: --n-train must be a whole number from 1 to \d+, got 100000"),
    (["run", "--max-passes", "0"], r"argument --max-passes: value must be a whole number >= 1"),
    (["run", "--seed", "-1"], r"argument --seed: value must be a whole number from 0 to"),
    (["run", "--seed", "abc"], r"argument --seed"),
    (["run", "--norm", "1"], r"argument --norm: invalid choice"),
    (["run", "--model", "resnet"], r"argument --model: invalid choice"),
    (["run", "--algorithm", "magic"], r"argument --algorithm: invalid choice"),
    (["run", "--out", "{file}"], r"error: --out must be a folder \(existing or new\), got '.*file', which is a file"),
    (["run", "--out", "{file}/below"], r"error: --out must be a folder that can be created, got .*is a file"),
    (["run", "--out", "/proc/uap-out"], r"error: --out must be a folder you can write to"),
    (["train", "--batch-size", "0"], r"argument --batch-size: value must be a whole number >= 1, got 0"),
    (["train", "--epochs", "0"], r"argument --epochs: value must be a whole number >= 1, got 0"),
    (["train", "--epochs", "2.5"], r"argument --epochs"),
    (["train", "--lr", "0"], r"argument --lr: value must be a finite number > 0"),
    (["train", "--lr", "nan"], r"argument --lr"),
    (["train", "--noise", "-0.1"], r"argument --noise: value must be a number in \[0, 1\]"),
    (["train", "--noise", "2"], r"argument --noise"),
    (["train", "--seed", "1.5"], r"argument --seed"),
    (["train", "--out", "{file}"], r"error: --out must be a folder"),
    (["experiment", "geometry", "--n-points", "0"], r"argument --n-points: value must be a whole number >= 1"),
    (["experiment", "geometry", "--seed", "-1"], r"argument --seed: value must be"),
    (["experiment", "geometry", "--xi", "nan"], r"argument --xi: value must be a finite number > 0"),
    (["experiment", "sample_size", "--delta", "1"], r"argument --delta: value must be a number in \(0, 1\)"),
    (["experiment", "transfer", "--n-train", "0"], r"argument --n-train: value must be"),
    (["experiment", "random_noise", "--random-trials", "0"], r"argument --random-trials: value must be"),
    (["experiment", "diversity", "--max-passes", "-1"], r"argument --max-passes"),
    (["experiment", "geometry", "--out", "{file}"], r"error: --out must be a folder"),
    (["experiment", "geometry", "--dims", "0", "--out", "{tmp}"], r"error: every value of dims"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), CLI, ids=[" ".join(args) for args, _ in CLI])
def test_cli_rejects(capsys, a_file, tmp_path, args, message):
    args = [arg.format(file=a_file, tmp=tmp_path / "o") for arg in args]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(tmp_path / "o")]
    status, err = cli_in_process(capsys, *args)
    assert status == 2 and "Traceback" not in err
    assert re.search(r"(^|: )error: ", err, re.MULTILINE) and re.search(message, err), err


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uap_core", *args], capture_output=True, text=True, timeout=300,
                          env=env)  # fmt: skip


# One catalogue of bad settings for every entry point: the settings record, the library call and the command line
# give the same refusal. (setting, value, command-line option, its text, what the message says after the name)
SETTINGS = [
    ("xi", 0, "--xi", "0", "must be a finite number > 0, got 0"),
    ("xi", math.nan, "--xi", "nan", "must be a finite number > 0, got nan"),
    ("delta", 1, "--delta", "1", r"must be a number in (0, 1), got 1"),
    ("max_passes", 0, "--max-passes", "0", "must be a whole number >= 1, got 0"),
    ("seed", -1, "--seed", "-1", "must be a whole number from 0 to"),
    ("algorithm", "magic", "--algorithm", "magic", "magic"),
    ("norm", "l3", "--norm", "l3", "l3"),
    ("target", "Hat", "--target", "Hat", "got 'Hat'"),
]


@pytest.mark.parametrize(
    ("name", "value", "option", "text", "message"), SETTINGS, ids=[s[2] + " " + s[3] for s in SETTINGS]
)
def test_bad_settings_are_refused_alike_everywhere(model, capsys, tmp_path, name, value, option, text, message):
    with pytest.raises(ValueError) as made:
        UAPSettings(**{name: value})
    assert made.value.args[0].startswith(name) and message in made.value.args[0]
    with pytest.raises(ValueError) as called:
        iter_universal_perturbation(model, IMAGES, **{name: value})
    assert called.value.args[0] == made.value.args[0]
    status, err = cli_in_process(capsys, "run", option, text, "--out", str(tmp_path / "o"))
    assert status == 2 and message in err and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_as_a_process_exits_2_with_one_error_line(tmp_path):
    done = cli("run", "--out", str(tmp_path), "--xi", "True")
    assert done.returncode == 2 and "argument --xi: value must be a finite number > 0, got 'True'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_cli_missing_data_exits_cleanly(tmp_path):
    # A data folder that cannot exist (below a file): no download can be attempted, with or without network.
    (tmp_path / "file").write_text("")
    env = os.environ | {"UAP_DATA_DIR": str(tmp_path / "file" / "data")}
    done = cli("run", "--out", str(tmp_path / "o"), env=env)
    assert done.returncode == 2
    assert "error: environment variable UAP_DATA_DIR must name a folder" in done.stderr
    assert "Traceback" not in done.stderr
