"""A plain Algorithm 1, one image at a time, with DeepFool as the authors' code runs it: the yardstick for ``paper``.

Written the way a researcher would write it from the paper and the authors' code (LTS4/universal), without any
of the engine's batching or tracing: every image is checked on its own; an image that v does not fool yet gets
a DeepFool run from clip(x + v), whose iterates x' + r are evaluated as they are (no clipping inside DeepFool),
with the gradients of the top-10 logits by autograd, one backward pass each; a converged step is added to v and
v is projected onto the ξ-ball. The fooled check and the fooling rate are on clip(x + v).
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn


def deepfool_one(model: nn.Module, x: torch.Tensor, num_classes: int = 10, overshoot: float = 0.02,
                 max_iter: int = 50) -> tuple[torch.Tensor, int, bool]:  # fmt: skip
    """DeepFool on one image ``x`` (1, C, H, W): (r with overshoot, iterations, whether the label changed)."""
    with torch.no_grad():
        order = model(x)[0].argsort(descending=True)[:num_classes]
    label = int(order[0])
    r_total = torch.zeros_like(x)
    point, iterations, current = x, 0, label
    while current == label and iterations < max_iter:
        point = point.detach().requires_grad_(True)
        z = model(point)[0]
        gradients = [torch.autograd.grad(z[int(k)], point, retain_graph=True)[0] for k in order]
        best, best_w = math.inf, None
        for k in range(1, len(order)):
            w = gradients[k] - gradients[0]
            f = (z[int(order[k])] - z[label]).item()
            distance = abs(f) / w.norm().item()
            if distance < best:
                best, best_w = distance, w
        r_total = r_total + (best + 1e-4) * best_w / best_w.norm()
        point = x + (1 + overshoot) * r_total
        iterations += 1
        with torch.no_grad():
            current = int(model(point).argmax())
    return (1 + overshoot) * r_total, iterations, current != label


def plain_uap(model: nn.Module, images: torch.Tensor, xi: float, passes: int, seed: int, max_iter: int = 50) -> dict:
    """ℓ∞ Algorithm 1 over ``images`` for ``passes`` passes; v, and the seconds and DeepFool work of each pass."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = model(images).argmax(1)
    v = torch.zeros_like(images[0])
    per_pass = []
    for _ in range(passes):
        start, calls, steps = time.perf_counter(), 0, 0
        for i in torch.randperm(len(images), generator=generator).tolist():
            x = (images[i] + v).clamp(0, 1)[None]
            with torch.no_grad():
                if int(model(x).argmax()) != int(clean[i]):
                    continue
            r, iterations, changed = deepfool_one(model, x, max_iter=max_iter)
            calls, steps = calls + 1, steps + iterations
            if changed:
                v = (v + r[0]).clamp(-xi, xi)
        per_pass.append({"seconds": time.perf_counter() - start, "deepfool_calls": calls, "deepfool_steps": steps})
    return {"perturbation": v, "passes": per_pass}
