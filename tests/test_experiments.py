"""The paper's findings as experiments: small real runs, stop requests, bad settings, the CLI, the shipped results."""

import contextlib
import itertools
import json
import subprocess
import sys

import pytest
import torch

from uap_core import CLASS_NAMES, deepfool, fooling_rate, load_model, random_fooling_rate, universal_perturbation
from uap_core.experiments import EXPERIMENTS, common, figure, load_result, result_path
from uap_core.experiments.figures import diversity_perturbations_figure
from uap_core.experiments.geometry import normals
from uap_core.models import weights_path
from uap_core.norms import lp_norm

N_TEST = 200
SMALL = {
    "sample_size": {"sizes": (20, 60), "seeds": (0, 1), "max_passes": 1, "min_visits": 60},
    "random_noise": {
        "xis_inf": (0.1, 0.25),
        "xis_2": (3.0,),
        "n_train": 60,
        "max_passes": 2,
        "random_trials": 2,
        "sweep_xis": (0.02, 0.1),
    },
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
    assert _rates(r.train_fooling_rates) and _rates(r.random_fooling_rates) and len(r.random_mean) == 2
    assert all(sd >= 0 for sd in r.std) and len(r.mean) == 2


def _judge(model: str = "convnet") -> common.Judge:
    return common.Judge.load(model, N_TEST)


def test_baseline_is_drawn_at_the_perturbations_own_norm():
    judge = _judge()
    v = torch.zeros(1, 28, 28)
    v[0, 10:14, 10:14] = 0.05  # ‖v‖∞ = 0.05, far inside a ξ = 0.2 ball
    size, rate = judge.baseline(v, float("inf"), trials=2, seed=3)
    assert size == pytest.approx(0.05)
    assert rate == random_fooling_rate(judge.model, judge.images, 0.05, float("inf"), 2, 3)
    assert rate < random_fooling_rate(judge.model, judge.images, 0.2, float("inf"), 2, 3)


def test_random_noise_baseline_at_each_uaps_own_norm(results):
    r = results["random_noise"]
    assert r.norms == ["inf", "2"] and r.xis == [[0.1, 0.25], [3.0]]
    for xis, sizes in zip(r.xis, r.uap_norms, strict=True):
        assert all(0 < size <= xi * (1 + 1e-5) for xi, size in zip(xis, sizes, strict=True))
    assert _rates(r.fooling_rates) and _rates(r.random_fooling_rates)
    # The ℓ2 point recomputed here: the stored norm is the UAP's, and the baseline is drawn at exactly that norm.
    judge = _judge()
    uap = universal_perturbation(
        judge.model, common.train_images(60, 0), xi=3.0, norm="2", max_passes=2, algorithm="fast"
    ).perturbation
    size = lp_norm(uap, 2).item()
    assert r.uap_norms[1][0] == pytest.approx(size, rel=1e-3)
    assert r.random_fooling_rates[1][0] == pytest.approx(random_fooling_rate(judge.model, judge.images, size, 2, 2, 0))


def test_random_noise_sweep_puts_the_plain_convnet_beside_the_default(results):
    r = results["random_noise"]
    assert r.sweep_models == ["convnet", "convnet_plain"] and r.sweep_xis == [0.02, 0.1]
    assert all(len(row) == 2 for rows in (r.sweep_fooling_rates, r.sweep_random_fooling_rates) for row in rows)
    assert _rates(r.sweep_fooling_rates) and _rates(r.sweep_random_fooling_rates)
    assert all(size <= xi * (1 + 1e-5) for row in r.sweep_uap_norms for xi, size in zip(r.sweep_xis, row, strict=True))
    # Without noise training random noise fools the convnet more: the point of the second model.
    assert r.sweep_random_fooling_rates[1][1] > r.sweep_random_fooling_rates[0][1]
    quiet = r.quiet_size(0)
    assert quiet is None or all(rate < 0.05 for xi, rate in zip(r.sweep_xis, r.sweep_random_fooling_rates[0],
                                                                  strict=True) if xi <= quiet)  # fmt: skip


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
    judge = _judge()
    for index, (size, rate) in enumerate(zip(r.uap_norms, r.random_fooling_rates, strict=True)):
        assert size == pytest.approx(r.perturbation(index).abs().max().item(), rel=1e-3)  # stored to 4 digits
        assert rate == pytest.approx(random_fooling_rate(judge.model, judge.images, size, float("inf"), 5, 0))


def test_transfer_diagonal_is_each_perturbations_own_fooling_rate(results):
    r = results["transfer"]
    assert len(r.fooling_rates) == 2 and all(len(row) == 2 for row in r.fooling_rates)
    assert _rates(r.fooling_rates) and _rates(r.random_fooling_rates)
    model, test = load_model("mlp"), common.test_data(N_TEST).images
    uap = universal_perturbation(model, common.train_images(60, 0), xi=0.2, max_passes=2, algorithm="fast").perturbation
    assert r.fooling_rates[1][1] == pytest.approx(fooling_rate(model, test, uap))
    size = uap.abs().max().item()
    assert r.uap_norms[1] == pytest.approx(size, rel=1e-3)
    assert r.random_fooling_rates[1][0] == pytest.approx(
        random_fooling_rate(load_model("lenet"), test, size, float("inf"), 5, 0)
    )


def test_geometry_spectra_on_one_scale_and_the_normals_stand_out(results):
    r = results["geometry"]
    assert 2 <= r.n_normals <= 60
    for values in (r.normal_singular_values, r.random_singular_values, r.masked_singular_values):
        assert all(a >= b for a, b in itertools.pairwise(values))
        assert sum(v * v for v in values) == pytest.approx(1.0, abs=1e-3)  # unit rows, divided by √m
    assert len(r.normal_singular_values) == len(r.random_singular_values) == r.n_normals
    assert r.normal_singular_values[0] > 1.2 * r.random_singular_values[0]
    assert r.energy(r.normal_singular_values, 5) > r.energy(r.random_singular_values, 5)
    assert r.dims == [5, 20] and _rates(r.subspace_fooling_rates) and 0 <= r.whole_space_fooling_rate <= 1


def test_geometry_normals_are_plain_deepfools_unit_directions():
    model, images = load_model("convnet"), common.train_images(8, 0)
    plain = normals(model, images, 4, False, lambda done: None)
    expected = deepfool(model, images, num_candidates=4).perturbation.flatten(1).double()
    assert torch.allclose(plain, expected / expected.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(plain.norm(dim=1), torch.ones(len(plain), dtype=torch.float64))
    assert not torch.allclose(plain, normals(model, images, 4, True, lambda done: None), atol=1e-3)


def test_finetune_never_touches_the_shared_model_data_or_generator(results):
    model = load_model("convnet")  # the object a caller (the web app) holds and shares
    train, test = common.dataset("train"), common.dataset("test")  # the process-wide data finetune reads
    held = {name: t.clone() for name, t in model.state_dict().items()}
    data = [t.clone() for t in (train.images, train.labels, test.images, test.labels)]
    weights = weights_path("convnet").read_bytes()
    generator = torch.get_rng_state()
    r = EXPERIMENTS["finetune"].run(**SMALL["finetune"], n_test=N_TEST)
    assert common.dataset("train") is train and common.dataset("test") is test
    assert all(torch.equal(held[name], t) for name, t in model.state_dict().items())
    assert not model.training and all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(data, (train.images, train.labels, test.images, test.labels),
                                                   strict=True))  # fmt: skip
    assert weights_path("convnet").read_bytes() == weights
    assert torch.equal(torch.get_rng_state(), generator)  # neither reseeded nor advanced
    assert len(r.clean_accuracy) == len(r.fooling_rates) == 2 and len(r.previous_fooling_rates) == 1
    shipped = (model(common.test_data(N_TEST).images).argmax(1) == common.test_data(N_TEST).labels).float().mean()
    assert r.clean_accuracy[0] == pytest.approx(shipped.item(), abs=0.01)
    assert r.clean_accuracy == results["finetune"].clean_accuracy  # seeded: the same run twice


def _flat(values) -> list[float]:
    """Nested lists or arrays of numbers as one flat list of floats."""
    if isinstance(values, (list, tuple)) or hasattr(values, "tolist"):
        items = values.tolist() if hasattr(values, "tolist") else values
        return [x for item in items for x in _flat(item)]
    return [float(values)]


def _geometry_bars(r) -> list[float]:
    """The geometry figure's bars: each subspace, then the whole space once it was measured."""
    whole = [] if r.whole_space_fooling_rate is None else [r.whole_space_fooling_rate]
    return [*r.subspace_fooling_rates, *whole]


# The series each experiment's figure must draw, straight from the result's fields.
SERIES = {
    "sample_size": lambda r: [r.mean, r.random_mean, *map(list, zip(*r.fooling_rates, strict=True))],
    "random_noise": lambda r: [*r.fooling_rates, *r.random_fooling_rates, *r.sweep_fooling_rates,
                               *r.sweep_random_fooling_rates],
    "dominant_labels": lambda r: [_flat(flow) for flow in r.flows],  # the counts written in the cells
    "diversity": lambda r: [_flat(r.cosine)],
    "transfer": lambda r: [_flat(r.fooling_rates)],
    "geometry": lambda r: [r.normal_singular_values, r.random_singular_values, r.masked_singular_values,
                           _geometry_bars(r)],
    "finetune": lambda r: [r.clean_accuracy, r.fooling_rates, r.previous_fooling_rates],
}  # fmt: skip


def drawn_series(fig) -> list[list[float]]:
    """Every numeric y, z and cell text of the figure's traces, each flattened."""
    series = []
    for trace in fig.data:
        for name in ("y", "z", "text"):
            values = getattr(trace, name, None)
            if values is not None and not isinstance(values, str):
                with contextlib.suppress(TypeError, ValueError):  # text labels such as "66%" are not series
                    series.append(_flat(values))
    return series


def assert_figure_draws(r) -> None:
    fig = figure(r)
    assert fig.layout.title.text, "the figure has no title"
    drawn = drawn_series(fig)
    for expected in SERIES[r.NAME](r):
        if expected:
            assert any(series == pytest.approx(expected) for series in drawn), f"{expected} is not drawn"


@pytest.mark.parametrize("name", list(SMALL))
def test_round_trip_and_figure(results, name):
    r = results[name]
    data = json.loads(r.to_json())
    again = type(r).from_dict(data)
    assert again == type(r).from_dict(r.to_dict()) and again.to_dict() == r.to_dict() and data["experiment"] == name
    assert again.caption_parts() == r.caption_parts() and r.caption().endswith(f"· {r.seconds:.0f} s")
    assert f"tested on {N_TEST} test images" in r.caption()
    assert_figure_draws(r)


def test_dominant_labels_figure_titles_carry_the_top_classes(results):
    r = results["dominant_labels"]
    titles = [annotation.text for annotation in figure(r).layout.annotations]
    for title, top, top1, top2 in zip(titles, r.top_classes, r.top1_share, r.top2_share, strict=False):
        assert CLASS_NAMES[top[0]] in title and f"{top1:.0%}" in title and f"{top2:.0%}" in title


def test_diversity_perturbations_figure(results):
    assert len(diversity_perturbations_figure(results["diversity"]).data) == 3


@pytest.mark.parametrize("name", list(SMALL))
def test_stop_at_the_first_report_gives_a_partial_result(name):
    calls = []
    r = EXPERIMENTS[name].run(**SMALL[name], n_test=N_TEST, progress=lambda f, m: calls.append(m) or True)
    assert not r.complete and len(calls) == 1 and r.caption().endswith("stopped early: partial result")
    again = type(r).from_dict(json.loads(r.to_json()))  # a partial result still stores and loads
    assert not again.complete and again.to_dict() == r.to_dict()
    assert_figure_draws(again)


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


@pytest.mark.slow
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
    assert "plotly" in html and "Transfer between models" in html


@pytest.mark.slow
def test_cli_bad_settings_exit_2(tmp_path):
    args = ["experiment", "geometry", "--dims", "0", "--out", str(tmp_path / "g")]
    done = subprocess.run([sys.executable, "-m", "uap_core", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "error: every value of dims" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_shipped_result_loads_and_draws(name):
    assert result_path(name).stat().st_size < 200_000
    r = load_result(name)
    assert r.complete and r.command.startswith(f"python -m uap_core experiment {name}")
    models = [r.model] if getattr(r, "model", None) else r.models
    assert all(model in r.caption() for model in models)
    assert f"{r.seconds:.0f} s" in r.caption() and "stopped early" not in r.caption()
    assert type(r).from_dict(json.loads(result_path(name).read_text())).to_dict() == r.to_dict()
    if name in SERIES:
        assert_figure_draws(r)
