"""``paper``: Algorithm 1 of Moosavi-Dezfooli et al. (CVPR 2017), for any objective.

Images are visited one at a time in a shuffled order; whenever v does not do an image yet (the objective's
``done``: its label changed, or it is predicted the target class), DeepFool finds a small extra step r that
does it from x + v, and v <- project(v + r) onto the ξ-ball. Passes repeat until the driver
(:mod:`uap_core.uap`) stops them.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .deepfool import DeepFool
from .metrics import perturb, predict
from .norms import project
from .steps import Problem, Step

# Look-ahead of the batched check: it starts at 8 images, doubles (up to 256) while every image is done, and
# after a DeepFool call restarts at twice the images the last check used (at least 4).
FIRST_LOOKAHEAD, MAX_LOOKAHEAD, MIN_LOOKAHEAD = 8, 256, 4


def paper_steps(problem: Problem) -> Iterator[Step]:
    """Algorithm 1; yields a measured :class:`~uap_core.steps.Step` at every report.

    ``problem.should_stop()`` is asked before every batched check and every DeepFool call.
    """
    model, images, clean, settings, done = (
        problem.model,
        problem.images,
        problem.clean,
        problem.settings,
        problem.objective.done,
    )
    n, report_every, stats = images.shape[0], problem.report_every, problem.stats
    generator = torch.Generator().manual_seed(settings.seed)
    solver = DeepFool(model, settings.deepfool, stats)
    v = torch.zeros_like(images[0])
    lookahead = FIRST_LOOKAHEAD
    for pass_index in range(1, settings.max_passes + 1):
        order = torch.randperm(n, generator=generator).to(images.device)
        position = 0
        while position < n:
            if problem.should_stop():
                return
            # Algorithm 1 visits one image at a time, but v only changes at an image it does not do yet. So the
            # next few images are checked in one batch at the current v: every image before the first one still
            # waiting is skipped exactly as the sequential loop would skip it.
            report_at = min(n, (position // report_every + 1) * report_every)
            batch = order[position : min(report_at, position + lookahead)]
            with stats.timing("checks"):
                waiting = (~done(clean[batch], predict(model, images[batch], v))).nonzero()
            if len(waiting) == 0:
                position += len(batch)
                lookahead = min(2 * lookahead, MAX_LOOKAHEAD)
            else:
                if problem.should_stop():
                    return
                first = int(waiting[0])
                i = int(batch[first])
                step = solver.run(perturb(images[i : i + 1], v), problem.objective.target)
                # Only a step that got across is added (the authors' code has nearly the same rule,
                # iterations < max_iter - 1): an unconverged one points nowhere useful.
                if step.converged[0]:
                    v = project(v + step.perturbation[0], settings.xi, settings.p)
                position += first + 1
                lookahead = max(MIN_LOOKAHEAD, 2 * (first + 1))
            if position == report_at:
                yield Step(pass_index, position, v, measure=True)
