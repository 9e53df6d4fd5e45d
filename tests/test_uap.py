"""The UAP loop: ball constraint, determinism, progress within a pass, stopping, keeping the best."""

import itertools
import math

import pytest
import torch

from uap_core import fooling_rate, iter_universal_perturbation, universal_perturbation
from uap_core.norms import lp_norm

ALGORITHMS = ["paper", "fast"]


@pytest.fixture(scope="module")
def images(train_set):
    return train_set.subset(120, seed=1).images


def sized(images, algorithm):
    """``paper`` runs the paper's DeepFool (about 7 linearisations per unfooled image): fewer images and
    passes keep the suite short; ``fast`` keeps all of them. Returns (images, max_passes)."""
    return (images[:20], 1) if algorithm == "paper" else (images, 2)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("norm, xi", [("inf", 0.1), (2, 1.5)])
def test_result_is_in_the_ball_and_its_fooling_rate_is_exact(model, images, algorithm, norm, xi):
    images, passes = sized(images, algorithm)
    result = universal_perturbation(model, images, xi=xi, norm=norm, delta=0.05, max_passes=passes,
                                    algorithm=algorithm)  # fmt: skip
    assert result.perturbation.shape == images.shape[1:]
    assert lp_norm(result.perturbation, result.p).item() <= xi * (1 + 1e-5)
    assert result.fooling_rate == pytest.approx(fooling_rate(model, images, result.perturbation))
    assert result.fooling_rate == max(record.fooling_rate for record in result.history if record.measured)
    assert result.finished


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_same_seed_same_perturbation_other_seed_other(model, images, algorithm):
    images, _ = sized(images, algorithm)

    def run(seed):
        return universal_perturbation(model, images, xi=0.1, max_passes=1, seed=seed, algorithm=algorithm).perturbation

    first = run(0)
    assert torch.equal(first, run(0))
    assert not torch.equal(first, run(1))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_reports_several_times_within_each_pass(model, images, algorithm):
    images, passes = sized(images, algorithm)
    snapshots = list(iter_universal_perturbation(model, images, xi=0.05, delta=0.01, max_passes=passes,
                                                 algorithm=algorithm, reports_per_pass=4))  # fmt: skip
    history = snapshots[-1].history
    first_pass = [r for r in history if r.pass_index == 1]
    assert len(first_pass) == 4
    quarter = len(images) // 4
    assert [r.images_seen for r in first_pass] == [quarter, 2 * quarter, 3 * quarter, 4 * quarter]
    assert len(history) == 4 * passes
    assert all(b.seconds >= a.seconds for a, b in itertools.pairwise(history))
    assert [s.finished for s in snapshots] == [False] * (len(snapshots) - 1) + [True]
    # paper measures the fooling rate at every report; fast at its first report and at the end of every pass.
    measured = [True] * 4 * passes if algorithm == "paper" else [True, False, False, True, False, False, False, True]
    assert [r.measured for r in history] == measured[: len(history)]


def test_fast_keeps_the_best_measured_v_and_measures_it_exactly(model, images):
    snapshots = list(iter_universal_perturbation(model, images, xi=0.1, delta=0.01, max_passes=3, algorithm="fast"))
    for before, snapshot in itertools.pairwise(snapshots):
        record = snapshot.history[-1]
        if record.measured:  # the rate of the current v, measured on all the images
            assert record.fooling_rate == pytest.approx(fooling_rate(model, images, snapshot.current))
        else:  # an unmeasured v never becomes the best: the best stays the one measured before
            assert torch.equal(snapshot.perturbation, before.perturbation)
        best = max(r.fooling_rate for r in snapshot.history if r.measured)
        assert snapshot.fooling_rate == best
        assert fooling_rate(model, images, snapshot.perturbation) == pytest.approx(best)


def test_stopping_keeps_the_best_perturbation_so_far(model, images):
    seen = []

    def stop_after_three(snapshot):
        seen.append(snapshot)
        return len(seen) == 3

    result = universal_perturbation(model, images[:40], xi=0.1, delta=0.01, max_passes=5, callback=stop_after_three)
    assert not result.finished and len(result.history) == 3
    best = max(result.history, key=lambda r: r.fooling_rate)
    assert result.fooling_rate == best.fooling_rate
    assert fooling_rate(model, images[:40], result.perturbation) == pytest.approx(best.fooling_rate)


def test_stops_once_target_is_reached(model, images):
    result = universal_perturbation(model, images, xi=0.3, delta=0.9, max_passes=5)
    assert result.target_reached and result.finished
    assert result.fooling_rate >= 0.1
    assert result.passes == 1 and len(result.history) < 4


def test_model_parameters_are_untouched(model, images):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    universal_perturbation(model, images[:20], xi=0.1, max_passes=1, algorithm="paper")
    universal_perturbation(model, images[:20], xi=0.1, max_passes=1, algorithm="fast")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())


def test_norm_spellings_are_equivalent(model, images):
    runs = [universal_perturbation(model, images[:30], xi=1.0, norm=n, max_passes=1, algorithm="fast") for n in
            (2, "2", 2.0)]  # fmt: skip
    assert all(torch.equal(runs[0].perturbation, r.perturbation) for r in runs)
    linf = [universal_perturbation(model, images[:30], xi=0.1, norm=n, max_passes=1, algorithm="fast") for n in
            ("inf", math.inf)]  # fmt: skip
    assert torch.equal(linf[0].perturbation, linf[1].perturbation)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_should_stop_ends_the_generator_without_another_snapshot(model, images, algorithm):
    asked, stop = [], []

    def should_stop():
        asked.append(True)
        return bool(stop)

    snapshots = iter_universal_perturbation(model, images[:40], xi=0.1, delta=0.01, max_passes=3,
                                            algorithm=algorithm, should_stop=should_stop)  # fmt: skip
    first = next(snapshots)
    stop.append(True)
    asked_before = len(asked)
    assert list(snapshots) == []  # returns at once: no further snapshot, not even a final one
    assert len(asked) == asked_before + 1  # asked before the next inner step, which never ran
    assert not first.finished and first.fooling_rate >= 0
    assert list(iter_universal_perturbation(model, images[:40], xi=0.1, algorithm=algorithm,
                                            should_stop=lambda: True)) == []  # fmt: skip
