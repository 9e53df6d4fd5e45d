"""Universal adversarial training: the training step, the shipped defended model, the defence experiment."""

import copy
import itertools
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import uap_core.train as train_module
from uap_core import accuracy, fooling_rate, load_model, model_card, universal_perturbation
from uap_core.cli import build_parser, main
from uap_core.experiments import (
    EXPERIMENTS,
    common,  # not its test_data by name: pytest would collect it as a test
    figure,
    load_result,
)
from uap_core.experiments.defence import TARGET_RATIO, run_defence, shipped_finetune
from uap_core.models import MODEL_NAMES, MODELS, weights_path
from uap_core.train import train
from uap_core.uat import METHOD, UATOptions, perturbed, uat_step


def _tiny_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = 0.3 + 0.4 * torch.rand(16, 1, 4, 4, generator=generator)  # far from 0 and 1: no pixel is clipped
    return images, torch.randint(0, 3, (16,), generator=generator)


def _loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, delta: torch.Tensor) -> float:
    """The batch's loss in training mode (batch statistics, as the step sees it), on a copy: nothing is updated."""
    with torch.no_grad():
        return F.cross_entropy(copy.deepcopy(model).train()(perturbed(images, delta)), labels).item()


def test_step_ascends_the_loss_with_delta_and_descends_it_with_the_weights():
    model, (images, labels) = _tiny_model(), _batch()
    before = copy.deepcopy(model)
    delta = torch.full((1, 4, 4), 0.01)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    new, loss = uat_step(model, optimizer, images, labels, delta, xi=0.1, step=0.02)
    assert torch.equal(delta, torch.full((1, 4, 4), 0.01)) and not new.requires_grad  # no in-place change
    # δ moved by exactly one sign step of the gradient of the loss at clip(x + δ), with the weights before the step.
    probe = delta.clone().requires_grad_(True)
    F.cross_entropy(copy.deepcopy(before).train()(perturbed(images, probe)), labels).backward()
    assert torch.allclose(new, (delta + 0.02 * probe.grad.sign()).clamp(-0.1, 0.1))
    # Ascent: the old weights' loss rose; the returned loss is that loss at the new δ, before the weights moved.
    ascended = _loss(before, images, labels, new)
    assert ascended > _loss(before, images, labels, delta)
    assert loss.item() == pytest.approx(ascended, rel=1e-5)
    # Descent: the new weights' loss at the same perturbed batch is lower.
    assert _loss(model, images, labels, new) < ascended


def test_delta_stays_in_its_ball_and_batch_norm_counts_each_batch_once():
    model, (images, labels) = _tiny_model(), _batch()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    delta = torch.zeros(1, 4, 4)
    for _ in range(30):  # steps of half the radius: without the projection δ would leave its ball at once
        delta, _ = uat_step(model, optimizer, images, labels, delta, xi=0.1, step=0.05)
        assert delta.abs().max() <= 0.1 + 1e-7
    assert (delta.abs() > 0.1 - 1e-6).float().mean() > 0.5  # it moved: most pixels sit on a face of the ball
    # One step updates the running statistics once, with the batch the weights were trained on (the new δ).
    reference = copy.deepcopy(model)
    new, _ = uat_step(model, optimizer, images, labels, delta, xi=0.1, step=0.05)
    with torch.no_grad():
        reference.train()(perturbed(images, new))
    assert torch.allclose(model[1].running_mean, reference[1].running_mean)
    assert torch.allclose(model[1].running_var, reference[1].running_var)
    assert model[1].momentum == 0.1  # restored after the ascent pass


def test_training_keeps_delta_across_batches_and_epochs(monkeypatch, train_set, test_set):
    seen, real = [], train_module.universal_adversarial_step

    starts = []

    def recording(model, optimizer, images, labels, delta, xi, step):
        if not seen:  # the weights the training starts from
            starts.append({key: value.clone() for key, value in model.state_dict().items()})
        new, loss = real(model, optimizer, images, labels, delta, xi, step)
        seen.append((delta.clone(), new.clone(), xi, step))
        return new, loss

    monkeypatch.setattr(train_module, "universal_adversarial_step", recording)
    _, report = train("convnet_uat", train_set.subset(48, 0), test_set.subset(32, 0), epochs=2, batch_size=16)
    assert len(seen) == 6 and torch.count_nonzero(seen[0][0]) == 0  # 3 batches × 2 epochs, δ starts at zero
    for (_, returned, _, _), (given, _, _, _) in itertools.pairwise(seen):  # epoch boundary included
        assert torch.equal(given, returned)
    assert all(xi == 0.2 and step == pytest.approx(0.02) for _, _, xi, step in seen)
    assert report.method == METHOD and report.uat_xi == 0.2 and report.uat_step == pytest.approx(0.02)
    assert report.noise == MODELS["convnet"].noise  # the same noise augmentation as the undefended convnet
    # It fine-tunes the shipped convnet: its first step starts from that model's trained weights.
    shipped = torch.load(weights_path("convnet"), weights_only=True)
    assert report.uat_start == "convnet" and starts[0].keys() == shipped.keys()
    assert all(torch.equal(starts[0][key], shipped[key]) for key in shipped)


def test_uat_step_option_is_checked_and_natural_models_stay_natural(train_set, test_set):
    small_train, small_test = train_set.subset(32, 0), test_set.subset(32, 0)
    with pytest.raises(ValueError, match="uat_step"):
        train("mlp", small_train, small_test, epochs=1, uat_step=0.01)
    for bad in (0.0, 0.5, True):
        with pytest.raises(ValueError, match="uat_step"):
            train("convnet_uat", small_train, small_test, epochs=1, uat_step=bad)
    _, report = train("mlp", small_train, small_test, epochs=1)
    assert report.method == "natural training" and report.uat_xi is None and report.uat_step is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "convnet_uat", "--uat-step", "0"])
    assert UATOptions(0.2).delta_step == pytest.approx(0.02) and UATOptions(0.2, 0.05).delta_step == 0.05


def test_shipped_defended_model_matches_its_card(test_set):
    assert "convnet_uat" in MODEL_NAMES
    card, plain = model_card("convnet_uat"), model_card("convnet")
    assert card["method"] == METHOD and card["uat_xi"] == 0.2 and 0 < card["uat_step"] <= 0.2
    assert card["command"].startswith("python -m uap_core train --model convnet_uat")
    # A fair comparison: the convnet itself, fine-tuned on the same images with the same seed and noise augmentation.
    for key in ("parameters", "train_images", "noise", "seed"):
        assert card[key] == plain[key], key
    assert card["uat_start"] == "convnet" and f"--epochs {card['epochs']}" in card["command"]
    assert 0 < card["seconds"] + plain["seconds"] < 20 * 60  # both trainings together: the target's 20 minutes
    measured = accuracy(load_model("convnet_uat"), test_set.images, test_set.labels)
    assert card["test_images"] == len(test_set) and measured == pytest.approx(card["test_accuracy"], abs=2e-3)
    assert 0.85 <= measured < plain["test_accuracy"]  # the defence costs clean accuracy, within the target


def test_shipped_defence_result_and_its_figure():
    r = load_result("defence")
    assert r.complete and r.command.startswith("python -m uap_core experiment defence")
    assert r.models == ["convnet", "convnet_uat"] and r.algorithms == ["fast", "paper"] and r.max_passes == [10, 5]
    assert r.seeds == [0, 1, 2] and r.n_train == 500 and r.xi == 0.2 and r.norm == "inf" and r.n_test == 4443
    assert [[len(block) for block in seeds] for seeds in r.fooling_rates] == [[2, 2, 2], [2, 2, 2]]
    assert all(0 <= x <= 1 for seeds in r.fooling_rates for block in seeds for row in block for x in row)
    for model, acc in zip(r.models, r.clean_accuracy, strict=True):  # the accuracy the cards record
        assert acc == pytest.approx(model_card(model)["test_accuracy"], abs=2e-3)
    finetune = shipped_finetune()
    assert r.finetune_fooling_rates == finetune.fooling_rates and r.finetune_clean_accuracy == finetune.clean_accuracy
    summary = json.loads(r.to_json())["summary"]
    for a, algorithm in enumerate(r.algorithms):
        own = sum(block[0][0] for block in r.fooling_rates[a]) / 3
        fresh = sum(block[1][1] for block in r.fooling_rates[a]) / 3
        attack = summary["attacks"][algorithm]
        assert attack["built_on_undefended_judged_on_undefended"] == pytest.approx(own, rel=1e-3)
        assert attack["target_met"] == (fresh <= TARGET_RATIO * own)
        assert own > 0.5  # the undefended convnet is fooled by most test images, as the paper's networks are
    # What docs/defence.md reports: the target met with both algorithms, at a cost in clean accuracy.
    assert all(summary["attacks"][a]["target_met"] for a in r.algorithms)
    assert summary["uat"]["clean_accuracy_cost"] == pytest.approx(r.clean_accuracy[0] - r.clean_accuracy[1], abs=1e-3)
    # DeepFool still carries (nearly) every image across on both models, with small per-image perturbations.
    assert min(r.deepfool_fooled) >= 0.95 and all(0 < size < 0.2 * 28 for size in r.deepfool_median_l2)
    fig = figure(r)
    bars = {trace.name: trace for trace in fig.data if trace.type == "bar" and trace.name}
    aware = next(trace for name, trace in bars.items() if "attacker aware" in name)
    assert list(aware.y) == pytest.approx([r.mean(0, 1, 1), r.mean(1, 1, 1)])
    accuracy_bar = fig.data[0]
    assert list(accuracy_bar.y) == pytest.approx([*r.clean_accuracy, r.finetune_clean_accuracy[-1]])
    target = next(trace for trace in fig.data if trace.type == "scatter" and "target" in trace.name)
    assert list(target.y) == pytest.approx([TARGET_RATIO * r.mean(0, 0, 0), TARGET_RATIO * r.mean(1, 0, 0)])
    assert "Can it be defended" in fig.layout.title.text and len(fig.layout.annotations) >= 4


TINY = {"n_train": 40, "seeds": (0,), "algorithms": ("fast",), "max_passes": (1,), "n_test": 200, "n_deepfool": 20,
        "random_trials": 1}  # fmt: skip


def test_defence_runs_end_to_end_on_tiny_settings():
    r = run_defence(**TINY)
    assert r.complete and r.models == ["convnet", "convnet_uat"] and len(r.fooling_rates[0][0]) == 2
    test = common.test_data(200)
    assert r.clean_accuracy == [accuracy(load_model(m), test.images, test.labels) for m in r.models]
    # The cell "built on convnet, judged on convnet" is that perturbation's own fooling rate, recomputed here.
    model = load_model("convnet")
    uap = universal_perturbation(model, common.train_images(40, 0), algorithm="fast", xi=0.2, norm="inf", max_passes=1,
                                 seed=0).perturbation  # fmt: skip
    assert r.fooling_rates[0][0][0][0] == pytest.approx(fooling_rate(model, test.images, uap))
    assert all(0 <= x <= 1 for row in r.fooling_rates[0][0] for x in row) and r.fooling_rates[0][0][0][0] > 0
    assert r.deepfool_fooled == [1.0, 1.0] and all(0 < s < 0.2 * 28 for s in r.deepfool_median_l2)
    assert all(lin <= l2 for lin, l2 in zip(r.deepfool_median_linf, r.deepfool_median_l2, strict=True))
    again = type(r).from_dict(json.loads(r.to_json()))
    assert again.to_dict() == r.to_dict() and len(figure(again).data) >= 6


def test_defence_stops_at_the_first_report_and_still_draws():
    calls = []
    r = run_defence(**TINY, progress=lambda fraction, message: calls.append(message) or True)
    assert not r.complete and len(calls) == 1 and r.fooling_rates == [[]] and r.deepfool_median_l2 == []
    assert "stopped early" in r.caption() and len(figure(type(r).from_dict(r.to_dict())).data) > 0


def _never_called(fraction, message):
    pytest.fail("progress was called: bad settings must fail before any computation")


@pytest.mark.parametrize(
    "settings",
    [{"models": ("convnet",)}, {"models": ("convnet", "convnet")}, {"models": ("convnet", "resnet")},
     {"algorithms": ("fast", "magic"), "max_passes": (1, 1)}, {"max_passes": (10,)}, {"max_passes": (10, 0)},
     {"seeds": (0, 0)}, {"n_deepfool": 0}, {"xi": -0.1}, {"random_trials": 0}],
)  # fmt: skip
def test_defence_bad_settings_raise_before_computing(settings):
    with pytest.raises(ValueError):
        run_defence(**settings, progress=_never_called)


def test_defence_command_line_writes_its_result(tmp_path):
    out = tmp_path / "defence"
    args = ["experiment", "defence", "--n-train", "20", "--seeds", "1", "--algorithms", "fast", "--max-passes", "1",
            "--n-test", "100", "--n-deepfool", "10", "--random-trials", "1", "--out", str(out)]  # fmt: skip
    assert main(args) == 0  # in this process: the command line's parser and writer, without a new interpreter
    data = json.loads((out / "result.json").read_text())
    assert data["command"].startswith("python -m uap_core experiment defence --n-train 20")
    assert data["seeds"] == [1] and data["max_passes"] == [1] and data["n_test"] == 100 and data["complete"]
    assert set(data["summary"]["attacks"]) == {"fast"} and "Can it be defended" in (out / "figure.html").read_text()
    assert EXPERIMENTS["defence"].quick["max_passes"] == (3, 1)
