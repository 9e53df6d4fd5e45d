"""Finding 3: fooled images fall mostly into a few dominant classes."""

import torch

import ui
from uap_core.norms import norm_label, parse_norm


def reading(r) -> str:
    parts = []
    for row, norm in enumerate(r.norms):
        flow = torch.tensor(r.flows[row], dtype=torch.float)
        fooled = flow.sum() - flow.diagonal().sum()
        received = flow.sum(0) - flow.diagonal()  # fooled images landing in each class
        top = received.sort(descending=True).values
        names = r.top_class_names(row)
        parts.append(
            f"with {norm_label(parse_norm(norm))}, {ui.share(top[0] / fooled)} of the fooled images land in "
            f"*{names[0]}* and {ui.share(top[:2].sum() / fooled)} in *{names[0]}* or *{names[1]}*"
        )
    return "; ".join(parts) + " (out of ten classes)."


ui.finding_page(
    "dominant_labels",
    "the class flow of a universal perturbation on the test images (rows: class predicted on the clean image, "
    "columns: on the perturbed one), one per norm, and the share of fooled images that land in the top one "
    "or two classes.",
    reading,
)
