"""`paper` is Algorithm 1: the same perturbation and the same DeepFool work as a plain, sequential loop.

The loop below is written the way the paper states Algorithm 1, one image at a time, with none of
the engine's shortcuts (no batched look-ahead, no shared code for the check or the projection):
same shuffle, same DeepFool, same rule for accepting its step; for a target class, an image is
done once it is predicted that class instead of once its label changes.
"""

import math

import pytest
import torch

from uap_core import CLASS_NAMES, DeepFoolOptions, Stats, deepfool, iter_universal_perturbation


def plain_algorithm_1(model, images, xi, p, passes, seed, target=None, **deepfool_options):
    """Algorithm 1 of the paper, one image at a time. Returns (v, DeepFool calls, DeepFool iterations, rejected)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = [int(model(x[None]).argmax()) for x in images]
    v = torch.zeros_like(images[0])
    calls = iterations = rejected = 0
    for _ in range(passes):
        for i in torch.randperm(len(images), generator=generator).tolist():
            perturbed = (images[i] + v).clamp(0, 1)[None]
            with torch.no_grad():
                label = int(model(perturbed).argmax())
            if (label != clean[i]) if target is None else (label == target):
                continue  # already done: v stays
            step = deepfool(model, perturbed, target, **deepfool_options)
            calls += 1
            iterations += int(step.iterations[0])
            if not step.converged[0]:
                rejected += 1
                continue
            v = v + step.perturbation[0]
            v = v.clamp(-xi, xi) if math.isinf(p) else v * min(1.0, xi / float(v.norm()))
    return v, calls, iterations, rejected


CASES = {
    "linf": ("inf", 0.08, "plain", 50, None),
    "l2": (2, 1.0, "plain", 50, None),
    "linf-clipped": ("inf", 0.08, "clipped", 50, None),
    "l2-clipped": (2, 1.0, "clipped", 50, None),
    "linf-box-aware": ("inf", 0.08, "box_aware", 50, None),
    "l2-box-aware": (2, 1.0, "box_aware", 50, None),
    "linf-some-unconverged": ("inf", 0.08, "plain", 2, None),
    "targeted-linf": ("inf", 0.15, "plain", 50, "Bag"),
    "targeted-l2": (2, 2.0, "plain", 50, "Sandal"),
    "targeted-linf-clipped": ("inf", 0.15, "clipped", 50, "Bag"),
    "targeted-l2-box-aware": (2, 2.0, "box_aware", 50, "Sandal"),
}


@pytest.mark.parametrize("norm, xi, iterate, max_iter, target", CASES.values(), ids=CASES.keys())
def test_paper_is_the_sequential_algorithm(model, train_set, norm, xi, iterate, max_iter, target):
    images = train_set.subset(12, seed=3).images
    p = math.inf if norm == "inf" else 2.0
    options = {"iterate": iterate, "max_iter": max_iter}
    stats = Stats()
    *_, result = iter_universal_perturbation(model, images, xi=xi, norm=norm, delta=0.01, max_passes=2, seed=5,
                                             algorithm="paper", target=target, deepfool=DeepFoolOptions(**options),
                                             stats=stats)  # fmt: skip
    index = None if target is None else CLASS_NAMES.index(target)
    v, calls, iterations, rejected = plain_algorithm_1(model, images, xi, p, passes=2, seed=5, target=index,
                                                       **options)  # fmt: skip

    assert result.passes == 2 and result.history[-1].images_seen == len(images)  # no early stop
    assert calls > 0 and v.abs().max() > 0
    if max_iter < 50:
        assert rejected > 0  # the case exercises the accept-only-if-converged rule
    assert stats.counts["deepfool_calls"] == calls
    assert stats.counts["deepfool_steps"] == iterations
    assert torch.allclose(result.current, v, atol=1e-5)
    if max_iter == 50:  # the projection binds: v reached the sphere of radius ξ, so it was exercised
        assert max(record.norm for record in result.history) >= xi * (1 - 1e-4)
