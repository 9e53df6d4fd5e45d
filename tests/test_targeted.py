"""Targeted universal perturbations: the target argument, the targeted success rate, both algorithms, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_deepfool import affine  # tests/ is on sys.path under pytest

from uap_core import (
    CLASS_NAMES,
    deepfool,
    evaluate,
    iter_universal_perturbation,
    parse_target,
    predict,
    targeted_success_rate,
    universal_perturbation,
)
from uap_core.cli import main
from uap_core.norms import lp_norm

BAG = CLASS_NAMES.index("Bag")
BAD_TARGETS = [
    ("Hat", "got 'Hat'"),  # unknown name
    ("", "got ''"),
    (10, "index 10"),  # out of range
    (-1, "index -1"),
    (True, "bool"),  # wrong types
    (2.0, "float"),
    ([8], "list"),
]


@pytest.fixture(scope="module")
def images(train_set):
    return train_set.subset(60, seed=2).images


def plain_success_rate(clean, perturbed, target):
    """The definition, one image at a time."""
    candidates = [(c, q) for c, q in zip(clean.tolist(), perturbed.tolist(), strict=True) if c != target]
    return sum(q == target for _, q in candidates) / len(candidates) if candidates else 0.0


@pytest.mark.parametrize(
    "target, index",
    [(0, 0), (9, 9), (np.int64(3), 3), (torch.tensor(5), 5), ("bag", 8), ("T-SHIRT/TOP", 0), (" Ankle boot ", 9),
     (None, None)],
)  # fmt: skip
def test_parse_target_accepts_indices_and_names_in_any_case(target, index):
    assert parse_target(target) == index


@pytest.mark.parametrize("target, detail", BAD_TARGETS)
def test_bad_targets_name_the_argument_what_is_expected_and_what_came(model, images, target, detail):
    for call in (
        lambda: parse_target(target),
        lambda: universal_perturbation(model, images, algorithm="fast", max_passes=1, target=target),
        lambda: next(iter_universal_perturbation(model, images, algorithm="paper", target=target)),
        lambda: evaluate(model, images, torch.zeros(len(images), dtype=torch.long), images[0] * 0, 2.0, target=target),
    ):
        with pytest.raises(ValueError, match="target must be a class index 0-9 or one of the names") as error:
            call()
        assert detail in str(error.value)


def test_success_rate_matches_the_plain_definition():
    clean = torch.tensor([0, 1, 2, 2, 3, 8])
    perturbed = torch.tensor([2, 0, 2, 1, 3, 2])
    # Not predicted 2 when clean: images 0, 1, 4, 5; of those, 0 and 5 are sent to 2.
    assert targeted_success_rate(clean, perturbed, 2) == pytest.approx(2 / 4)
    assert targeted_success_rate(torch.full((3,), 4), torch.tensor([4, 1, 4]), 4) == 0.0  # nothing to send
    generator = torch.Generator().manual_seed(0)
    for target in range(10):
        clean, perturbed = torch.randint(0, 10, (2, 200), generator=generator)
        assert targeted_success_rate(clean, perturbed, target) == pytest.approx(
            plain_success_rate(clean, perturbed, target)
        )


def test_evaluate_reports_the_targeted_success_rate(model, test_set):
    images = test_set.images[:300]
    v = torch.rand(images.shape[1:], generator=torch.Generator().manual_seed(0)) * 0.4 - 0.2
    judged = evaluate(model, images, test_set.labels[:300], v, float("inf"), target="Bag")
    assert judged.target_class == BAG
    expected = plain_success_rate(predict(model, images), predict(model, images, v), BAG)
    assert judged.targeted_success_rate == pytest.approx(expected)
    untargeted = evaluate(model, images, test_set.labels[:300], v, float("inf"))
    assert untargeted.target_class is None and untargeted.targeted_success_rate is None
    assert untargeted.fooling_rate == judged.fooling_rate


@pytest.mark.parametrize("algorithm", ["fast", "paper"])
def test_targeted_run_sends_images_to_the_target(model, images, algorithm):
    images = images[:30] if algorithm == "paper" else images  # paper: fewer, it steps per image
    options = {"batch_size": 10} if algorithm == "fast" else {}  # a few steps even in one pass
    result = universal_perturbation(model, images, xi=0.3, delta=0.01, max_passes=1, algorithm=algorithm, target="Bag",
                                    **options)  # fmt: skip
    assert result.target_class == BAG and result.finished
    # At v = 0 no image is sent anywhere (the rate is 0); one pass sends a real share to Bag.
    assert result.targeted_success_rate > 0.2
    assert result.targeted_success_rate == pytest.approx(
        plain_success_rate(predict(model, images), predict(model, images, result.perturbation), BAG)
    )
    assert lp_norm(result.perturbation, result.p).item() <= 0.3 * (1 + 1e-5)
    # The best v is chosen by targeted success, and every measured report carries both rates (fast measures at its
    # first report and at the end of each pass, paper at every report).
    measured = [r for r in result.history if r.measured]
    assert len(measured) == (4 if algorithm == "paper" else 2)
    assert result.targeted_success_rate == max(r.targeted_success_rate for r in measured)
    assert all(r.targeted_success_rate is not None and 0 <= r.fooling_rate <= 1 for r in measured)
    assert all(r.targeted_success_rate is None for r in result.history if not r.measured)


@pytest.mark.parametrize("algorithm", ["fast", "paper"])
def test_untargeted_runs_are_unchanged(model, images, algorithm):
    images = images[:30]
    plain = universal_perturbation(model, images, xi=0.1, max_passes=1, algorithm=algorithm)
    explicit = universal_perturbation(model, images, xi=0.1, max_passes=1, algorithm=algorithm, target=None)
    assert torch.equal(plain.perturbation, explicit.perturbation)
    assert plain.target_class is None and plain.targeted_success_rate is None
    assert all(r.targeted_success_rate is None for r in plain.history)
    if algorithm == "fast":  # the same run aimed at a class is another run
        targeted = universal_perturbation(model, images, xi=0.1, max_passes=1, algorithm=algorithm, target=0)
        assert not torch.equal(targeted.perturbation, plain.perturbation)


def test_targeted_run_stops_once_the_success_rate_reaches_one_minus_delta(model, images):
    result = universal_perturbation(model, images, xi=0.3, delta=0.5, max_passes=10, algorithm="fast", target="Bag")
    assert result.target_reached and result.targeted_success_rate >= 0.5
    assert len(result.history) < 10 * 4


def test_targeted_deepfool_on_a_linear_classifier_reaches_the_target_boundary():
    torch.manual_seed(0)
    weight, bias = torch.randn(3, 12), torch.randn(3)
    model = affine(weight, bias)
    x = 0.4 + 0.2 * torch.rand(200, 1, 3, 4)  # inside the box: no pixel is pinned
    result = deepfool(model, x, 2, overshoot=0.0, iterate="clipped")
    assert result.converged.all()
    scores = x.flatten(1) @ weight.T + bias
    label = scores.argmax(1)
    assert ((x + result.perturbation * 1.01).clamp(0, 1).flatten(1) @ weight.T + bias).argmax(1).eq(2).all()
    # Where the straight step to the label/2 boundary lands in class 2 (the third class does not
    # get in the way), one linearisation is exact: the distance |z_2 - z_label| / ‖w_2 - w_label‖.
    one_step = (result.iterations == 1) & (label != 2)
    assert one_step.sum() > 20
    gap = (scores[:, 2] - scores.gather(1, label[:, None]).squeeze(1)).abs()
    distance = gap / (weight[2] - weight[label]).norm(dim=1)
    found = result.perturbation.flatten(1).norm(dim=1)
    assert torch.allclose(found[one_step], distance[one_step], atol=2e-4)
    assert (result.perturbation[label == 2] == 0).all() and (result.iterations[label == 2] == 0).all()


@pytest.mark.parametrize("algorithm, options", [("fast", {"batch_size": 10}), ("paper", {})])
def test_should_stop_ends_the_steps_at_once(model, images, algorithm, options):
    calls = []

    def stop_on_third_check():
        calls.append(1)
        return len(calls) == 3

    run = iter_universal_perturbation(model, images, algorithm=algorithm, target="Bag", reports_per_pass=1,
                                      should_stop=stop_on_third_check, **options)  # fmt: skip
    assert list(run) == [] and len(calls) == 3


@pytest.mark.parametrize("target, detail", [("Hat", "got 'Hat'"), ("10", "index 10"), ("2.5", "got '2.5'")])
def test_cli_bad_targets_exit_with_status_2(tmp_path, capsys, target, detail):
    assert main(["run", "--target", target, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: target must be") and detail in error
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_targeted_run_writes_the_targeted_figures(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "uap_core", "run", "--algorithm", "fast", "--target", "bag", "--n-train", "100",
         "--xi", "0.3", "--max-passes", "3", "--delta", "0.01", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["target"] == "Bag" and metrics["target_index"] == BAG
    assert 0.2 < metrics["train_targeted_success_rate"] <= 1
    assert 0.2 < metrics["test_targeted_success_rate"] <= 1
    # Where the rates were measured (fast: the first report and every pass end), the targeted one is there too.
    measured = [record for record in metrics["history"] if "fooling_rate" in record]
    assert len(measured) == 4 and all("targeted_success_rate" in record for record in measured)
    assert f"test {metrics['test_targeted_success_rate']:.3f}" in done.stdout
    # The flow agrees: the images sent to Bag are the Bag column of the class flow, off the diagonal.
    flow = np.array(metrics["class_flow"])
    not_bag = flow.sum() - flow[BAG].sum()
    assert metrics["test_targeted_success_rate"] == pytest.approx((flow[:, BAG].sum() - flow[BAG, BAG]) / not_bag)
