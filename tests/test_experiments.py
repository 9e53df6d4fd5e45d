"""The paper's findings as experiments: small real runs, stop requests, bad settings, the CLI, the shipped results."""

import itertools
import json
import subprocess
import sys

import pytest
import torch

from uap_core import fooling_rate, load_model, universal_perturbation
from uap_core.experiments import EXPERIMENTS, common, figure, load_result, result_path
from uap_core.experiments.figures import diversity_perturbations_figure
from uap_core.models import weights_path

N_TEST = 200
SMALL = {
    "sample_size": {"sizes": (20, 60), "seeds": (0, 1), "max_passes": 1, "min_visits": 60},
    "random_noise": {"xis_inf": (0.1, 0.25), "xis_2": (3.0,), "n_train": 60, "max_passes": 2, "random_trials": 2},
    "dominant_labels": {"n_train": 40, "max_passes": 1},
    "diversity": {"seeds": (0, 1, 2), "algorithm": "fast", "n_train": 60, "max_passes": 2},
    "transfer": {"models": ("lenet", "mlp"), "n_train": 60, "max_passes": 2},
    "geometry": {"n_points": 60, "dims": (5, 20), "trials": 2},
    "finetune": {"rounds": 1, "uaps_per_round": 1, "n_finetune": 256, "n_train": 60, "max_passes": 2},
}


@pytest.fixture(scope="module")
def results():
    """Every experiment once on small settings (real data), shared by the tests below."""
    return {name: EXPERIMENTS[name].run(**settings, n_test=N_TEST) for name, settings in SMALL.items()}


def _rates(values):
    flat = [x for row in values for x in (row if isinstance(row, list) else [row])]
    return all(0.0 <= x <= 1.0 for x in flat)


def test_sample_size_shapes(results):
    r = results["sample_size"]
    assert r.complete and r.sizes == [20, 60] and r.n_test == N_TEST
    assert [len(row) for row in r.fooling_rates] == [2, 2] and _rates(r.fooling_rates)
    assert _rates(r.train_fooling_rates) and 0 <= r.random_fooling_rate <= 1
    assert all(sd >= 0 for sd in r.std) and len(r.mean) == 2


def test_random_noise_uses_the_perturbations_own_norm(results):
    r = results["random_noise"]
    assert r.norms == ["inf", "2"] and r.xis == [[0.1, 0.25], [3.0]]
    for xis, sizes in zip(r.xis, r.uap_norms, strict=True):
        assert all(0 < size <= xi * (1 + 1e-5) for xi, size in zip(xis, sizes, strict=True))
    assert _rates(r.fooling_rates) and _rates(r.random_fooling_rates)


def test_dominant_labels_flow_accounts_for_every_test_image(results):
    r = results["dominant_labels"]
    assert r.algorithm == "paper" and r.norms == ["inf", "2"]
    for flow, rate, top1, top2 in zip(r.flows, r.fooling_rates, r.top1_share, r.top2_share, strict=True):
        counts = torch.tensor(flow)
        assert counts.shape == (10, 10) and counts.sum() == N_TEST
        fooled = counts.sum() - counts.diagonal().sum()
        assert rate == pytest.approx(fooled.item() / N_TEST)
        assert 0 <= top1 <= top2 <= 1


def test_diversity_cosine_matrix(results):
    r = results["diversity"]
    cosine = torch.tensor(r.cosine)
    assert cosine.shape == (3, 3)
    assert torch.allclose(cosine.diagonal(), torch.ones(3), atol=1e-6)
    assert torch.allclose(cosine, cosine.T) and cosine.abs().max() <= 1 + 1e-6
    assert len(r.perturbations) == 3 and r.perturbation(0).shape == (1, 28, 28)
    assert max(r.perturbation(i).abs().max() for i in range(3)) <= r.xi + 1e-3
    assert _rates(r.fooling_rates) and -1 <= r.mean_off_diagonal < 1


def test_transfer_diagonal_is_each_perturbations_own_fooling_rate(results):
    r = results["transfer"]
    assert len(r.fooling_rates) == 2 and all(len(row) == 2 for row in r.fooling_rates)
    assert _rates(r.fooling_rates) and _rates(r.random_fooling_rates)
    model, test = load_model("mlp"), common.test_data(N_TEST).images
    uap = universal_perturbation(model, common.train_images(60, 0), 0.2, "inf", 0.2, 2, 0, "fast")
    assert r.fooling_rates[1][1] == pytest.approx(fooling_rate(model, test, uap.perturbation))


def test_geometry_spectrum_sorted_and_normals_decay_faster_than_random(results):
    r = results["geometry"]
    normals, random = r.normal_singular_values, r.random_singular_values
    assert len(normals) == len(random) <= 60 and normals[0] == random[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(normals)) and all(a >= b for a, b in itertools.pairwise(random))
    assert normals[10] < random[10]
    assert r.dims == [5, 20] and _rates(r.subspace_fooling_rates) and 0 <= r.whole_space_fooling_rate <= 1


def test_finetune_never_touches_the_shared_model(results):
    before = {k: v.clone() for k, v in load_model("convnet").state_dict().items()}
    weights = weights_path("convnet").read_bytes()
    r = EXPERIMENTS["finetune"].run(**SMALL["finetune"], n_test=N_TEST)
    after = load_model("convnet").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert weights_path("convnet").read_bytes() == weights
    assert len(r.clean_accuracy) == len(r.fooling_rates) == 2 and len(r.previous_fooling_rates) == 1
    test = common.test_data(N_TEST)
    shipped = (load_model("convnet")(test.images).argmax(1) == test.labels).float().mean().item()
    assert r.clean_accuracy[0] == pytest.approx(shipped, abs=0.01)
    assert r.clean_accuracy == results["finetune"].clean_accuracy  # seeded: the same run twice


@pytest.mark.parametrize("name", list(SMALL))
def test_round_trip_and_figure(results, name):
    r = results[name]
    data = json.loads(r.to_json())
    again = type(r).from_dict(data)
    assert again.to_dict() == r.to_dict() and data["experiment"] == name
    assert "s" in r.caption() and len(figure(r).data) > 0


def test_diversity_perturbations_figure(results):
    assert len(diversity_perturbations_figure(results["diversity"]).data) == 3


@pytest.mark.parametrize("name", list(SMALL))
def test_stop_at_the_first_report_gives_a_partial_result(name):
    calls = []
    r = EXPERIMENTS[name].run(**SMALL[name], n_test=N_TEST, progress=lambda f, m: calls.append(m) or True)
    assert not r.complete and len(calls) == 1 and "stopped early" in r.caption()
    type(r).from_dict(r.to_dict())  # a partial result still stores and loads
    figure(r)


def test_stop_midway_keeps_the_finished_points():
    r = EXPERIMENTS["diversity"].run(**{**SMALL["diversity"], "seeds": (0, 1)}, n_test=N_TEST,
                                     progress=lambda fraction, message: message.startswith("seed 1"))  # fmt: skip
    assert not r.complete and r.seeds == [0] and r.cosine == [[pytest.approx(1.0)]]


def _never_called(fraction, message):
    pytest.fail("progress was called: bad settings must fail before any computation")


BAD = [
    ("sample_size", {"sizes": []}), ("sample_size", {"seeds": [0, 0]}), ("sample_size", {"norm": "l3"}),
    ("sample_size", {"xi": -1.0}), ("sample_size", {"algorithm": "magic"}), ("sample_size", {"n_test": 0}),
    ("sample_size", {"sizes": [10**6]}), ("random_noise", {"xis_inf": [0.0]}), ("random_noise", {"n_train": 0}),
    ("dominant_labels", {"norms": ["inf", "linf"]}), ("dominant_labels", {"delta": 1.5}),
    ("diversity", {"seeds": "01"}), ("transfer", {"models": ["resnet"]}), ("transfer", {"models": ["mlp", "mlp"]}),
    ("geometry", {"dims": [0]}), ("geometry", {"num_candidates": 1}), ("geometry", {"n_points": 1}),
    ("geometry", {"dims": [100], "n_points": 50}), ("finetune", {"share": 0}), ("finetune", {"rounds": 0}),
    ("finetune", {"lr": 2.0}), ("finetune", {"model": "resnet"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "settings"), BAD)
def test_bad_settings_raise_before_computing(name, settings):
    with pytest.raises(ValueError):
        EXPERIMENTS[name].run(**settings, progress=_never_called)


def test_cli_writes_result_and_figure(tmp_path):
    out = tmp_path / "transfer"
    args = ["experiment", "transfer", "--models", "lenet", "mlp", "--n-train", "40", "--max-passes", "1",
            "--n-test", "100", "--out", str(out)]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "uap_core", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "result.json").read_text())
    assert data["command"].startswith("python -m uap_core experiment transfer --models lenet mlp")
    assert data["models"] == ["lenet", "mlp"] and data["n_test"] == 100 and data["complete"]
    html = (out / "figure.html").read_text()
    assert "plotly" in html and "Transfer between architectures" in html


def test_cli_bad_settings_exit_2(tmp_path):
    args = ["experiment", "geometry", "--dims", "0", "--out", str(tmp_path / "g")]
    done = subprocess.run([sys.executable, "-m", "uap_core", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "error: every value of dims" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_shipped_result_loads_and_draws(name):
    assert result_path(name).stat().st_size < 200_000
    r = load_result(name)
    assert r.complete and r.command.startswith(f"python -m uap_core experiment {name}")
    assert r.caption() and len(figure(r).data) > 0
