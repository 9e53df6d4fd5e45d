"""Fooling rate, accuracy, random baseline and class flow on a classifier whose answers are known."""

import math

import pytest
import torch
from torch import nn

from uap_core import (
    accuracy,
    class_flow,
    dominant_labels,
    evaluate,
    fooling_rate,
    predict,
    random_fooling_rate,
    random_perturbation,
)


class Brightness(nn.Module):
    """Class 1 when the mean pixel exceeds ``threshold``, else class 0: easy to reason about."""

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True) - self.threshold
        return torch.cat([-m, m], dim=1)


def test_fooling_rate_counts_changed_predictions_not_errors():
    model = Brightness()
    images = torch.cat([torch.full((3, 1, 2, 2), 0.45), torch.full((1, 1, 2, 2), 0.9)])
    v = torch.full((1, 2, 2), 0.1)  # pushes the three dark images over 0.5, the bright one stays bright
    assert fooling_rate(model, images, v) == pytest.approx(0.75)
    # Accuracy uses true labels; here all labels say class 1, so perturbation "fixes" three images.
    labels = torch.ones(4, dtype=torch.long)
    assert accuracy(model, images, labels) == pytest.approx(0.25)
    assert accuracy(model, images, labels, v) == pytest.approx(1.0)


def test_predictions_use_clipped_images():
    # 0.9 + 0.5 = 1.4 would be class 1, but the image that exists is clipped to 1.0: class 0.
    model = Brightness(threshold=1.2)
    images = torch.full((2, 1, 2, 2), 0.9)
    assert predict(model, images, torch.full((1, 2, 2), 0.5)).tolist() == [0, 0]
    assert fooling_rate(model, images, torch.full((1, 2, 2), 0.5)) == 0.0


def test_class_flow_and_dominant_labels():
    clean = torch.tensor([0, 0, 1, 1, 2, 2])
    perturbed = torch.tensor([0, 2, 2, 1, 2, 0])
    flow = class_flow(clean, perturbed, num_classes=3)
    assert flow.tolist() == [[1, 0, 1], [0, 1, 1], [1, 0, 1]]
    assert flow.sum() == 6
    shares = dominant_labels(flow)
    assert shares.tolist() == pytest.approx([1 / 3, 0.0, 2 / 3])


def test_random_fooling_rate_is_deterministic_and_uses_the_norm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    images = torch.rand(50, 1, 4, 4)
    a = random_fooling_rate(model, images, 0.5, math.inf, trials=3, seed=1)
    assert a == random_fooling_rate(model, images, 0.5, math.inf, trials=3, seed=1)
    assert random_fooling_rate(model, images, 1e-6, 2.0) == 0.0


def test_evaluate_reports_norms_and_consistent_figures():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    images, labels = torch.rand(40, 1, 4, 4), torch.randint(0, 4, (40,))
    v = torch.randn(1, 4, 4) * 0.2
    e = evaluate(model, images, labels, v, 2.0)
    assert e.l2 == pytest.approx(v.norm().item(), rel=1e-5)
    assert e.linf == pytest.approx(v.abs().max().item(), rel=1e-5)
    assert e.fooling_rate == pytest.approx(fooling_rate(model, images, v))
    assert e.flow.sum() == 40
    assert e.flow.trace().item() == round(40 * (1 - e.fooling_rate))


def test_evaluate_with_given_clean_labels_and_no_draws_matches_the_full_evaluation():
    # What a caller that keeps the clean predictions and the noise baselines itself (the web app) gets:
    # every figure of the full evaluation, the baseline left NaN for it to fill, and no clean pass made.
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    images, labels = torch.rand(60, 1, 4, 4), torch.randint(0, 4, (60,))
    v = torch.randn(1, 4, 4) * 0.3
    full = evaluate(model, images, labels, v, math.inf, random_trials=2)
    clean = predict(model, images)
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].clone()))
    given = evaluate(model, images, labels, v, math.inf, random_trials=0, clean_labels=clean)
    assert len(calls) == 1 and not torch.equal(calls[0], images)  # only the perturbed images went through
    assert math.isnan(given.random_fooling_rate)
    for name in ("fooling_rate", "clean_accuracy", "perturbed_accuracy", "linf", "l2"):
        assert getattr(given, name) == getattr(full, name)
    assert torch.equal(given.flow, full.flow) and torch.equal(given.perturbed_labels, full.perturbed_labels)
    # The caller's clean labels are taken as given: wrong ones change the fooling rate.
    assert evaluate(model, images, labels, v, math.inf, random_trials=0, clean_labels=(clean + 1) % 4).fooling_rate != (
        full.fooling_rate
    )


def test_evaluate_split_between_threads_gives_the_same_labels():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    images, labels = torch.rand(601, 1, 4, 4), torch.randint(0, 4, (601,))  # shares of 301 and 300, over 2 batches
    v = torch.randn(1, 4, 4) * 0.3
    alone = evaluate(model, images, labels, v, math.inf, random_trials=0)
    shared = evaluate(model, images, labels, v, math.inf, random_trials=0, workers=2)
    assert torch.equal(shared.perturbed_labels, alone.perturbed_labels) and shared.fooling_rate == alone.fooling_rate
    assert torch.equal(evaluate(model, images, labels, v, 2, random_trials=0, workers=3).flow, alone.flow)
    with pytest.raises(ValueError, match="workers"):
        evaluate(model, images, labels, v, math.inf, workers=0)


@pytest.mark.parametrize("p", [2.0, math.inf, "inf", "l2"])
def test_evaluate_baseline_draws_noise_of_exactly_the_norm_of_v(monkeypatch, p):
    # The baseline is random noise of the perturbation's own norm ‖v‖, not of ξ: here v is far inside
    # any ball it might come from. Record every noise evaluate actually draws and measure it.
    from uap_core import metrics
    from uap_core.norms import lp_norm, parse_norm

    drawn = []

    def recording(shape, size, norm, generator=None):
        noise = random_perturbation(shape, size, norm, generator)
        drawn.append(noise)
        return noise

    monkeypatch.setattr(metrics, "random_perturbation", recording)
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    images, labels = torch.rand(30, 1, 4, 4), torch.randint(0, 4, (30,))
    v = torch.randn(1, 4, 4) * 0.05
    e = evaluate(model, images, labels, v, p, random_trials=3, seed=4)
    q = parse_norm(p)
    assert len(drawn) == 3
    for noise in drawn:
        assert noise.shape == v.shape
        assert lp_norm(noise, q).item() == pytest.approx(lp_norm(v, q).item(), rel=1e-5)
    # The reported rate is the mean fooling rate of exactly those draws.
    assert e.random_fooling_rate == pytest.approx(sum(fooling_rate(model, images, n) for n in drawn) / 3)
