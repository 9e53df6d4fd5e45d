"""`paper` is Algorithm 1: the same perturbation and the same DeepFool work as a plain, sequential loop.

The loop below is written the way the paper states Algorithm 1, one image at a time, with none of
the engine's shortcuts (no batched look-ahead, no shared code for the fooled check or the projection):
same shuffle, same DeepFool, same rule for accepting its step.
"""

import math

import pytest
import torch

from uap_core import deepfool, iter_universal_perturbation


def plain_algorithm_1(model, images, xi, p, passes, seed, **deepfool_options):
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
                if int(model(perturbed).argmax()) != clean[i]:
                    continue  # already fooled: v stays
            step = deepfool(model, perturbed, **deepfool_options)
            calls += 1
            iterations += int(step.iterations[0])
            if not step.converged[0]:
                rejected += 1
                continue
            v = v + step.perturbation[0]
            v = v.clamp(-xi, xi) if math.isinf(p) else v * min(1.0, xi / float(v.norm()))
    return v, calls, iterations, rejected


@pytest.mark.parametrize(
    "norm, xi, box_aware, max_iter",
    [
        ("inf", 0.08, False, 50),
        (2, 1.0, False, 50),
        ("inf", 0.08, True, 50),
        (2, 1.0, True, 50),
        ("inf", 0.08, False, 5),
    ],
    ids=["linf", "l2", "linf-box-aware", "l2-box-aware", "linf-some-unconverged"],
)
def test_paper_is_the_sequential_algorithm(model, train_set, norm, xi, box_aware, max_iter):
    images = train_set.subset(12, seed=3).images
    p = math.inf if norm == "inf" else 2.0
    options = {"box_aware": box_aware, "max_iter": max_iter}
    *_, result = iter_universal_perturbation(model, images, xi=xi, norm=norm, delta=0.01, max_passes=2, seed=5,
                                             algorithm="paper", **options)  # fmt: skip
    v, calls, iterations, rejected = plain_algorithm_1(model, images, xi, p, passes=2, seed=5, **options)

    assert result.passes == 2 and result.history[-1].images_seen == len(images)  # no early stop
    assert calls > 0 and v.abs().max() > 0
    if max_iter < 50:
        assert rejected > 0  # the case exercises the accept-only-if-converged rule
    assert result.history[-1].deepfool_calls == calls
    assert result.history[-1].deepfool_iterations == iterations
    assert torch.allclose(result.current, v, atol=1e-5)
    if max_iter == 50:  # the projection binds: v reached the sphere of radius ξ, so it was exercised
        assert max(record.norm for record in result.history) >= xi * (1 - 1e-4)
