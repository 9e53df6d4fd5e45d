"""Finding 4: many different universal perturbations fool the same model."""

import ui
from uap_core.experiments.figures import diversity_perturbations_figure

r = ui.finding_page(
    "diversity",
    "universal perturbations from different seeds (another subset of training images, another order), "
    "the cosine similarity of every pair, and the fooling rate of each on the test images.",
    lambda r: (
        f"the {len(r.seeds)} perturbations fool between {ui.share(min(r.fooling_rates))} and "
        f"{ui.share(max(r.fooling_rates))} of the test images (random noise of each one's norm: "
        f"{ui.share_range(r.random_fooling_rates)}); "
        f"their mean pairwise cosine similarity is {r.mean_off_diagonal:.2f}, where 1 is the same pattern and 0 "
        "unrelated ones. The lower it is, the more diverse the perturbations, as the paper found on ImageNet."
    ),
)
ui.show_figure(diversity_perturbations_figure(r), "The perturbations themselves, on the same colour scale.")
