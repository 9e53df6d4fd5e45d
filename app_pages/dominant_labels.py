"""Finding 3: fooled images fall mostly into a few dominant classes."""

import ui
from uap_core.norms import norm_label, parse_norm


def reading(r) -> str:
    parts = []
    for row, norm in enumerate(r.norms):
        first, second = r.top_class_names(row)
        parts.append(
            f"with {norm_label(parse_norm(norm))}, {ui.share(r.top1_share[row])} of the fooled images land in "
            f"*{first}* and {ui.share(r.top2_share[row])} in *{first}* or *{second}*"
        )
    return "; ".join(parts) + " (out of ten classes)."


ui.finding_page(
    "dominant_labels",
    "the class flow of a universal perturbation on the test images (rows: class predicted on the clean image, "
    "columns: on the perturbed one), one per norm, and the share of fooled images that land in the top one "
    "or two classes.",
    reading,
)
