"""Finding 7: fine-tuning on universally perturbed images does not make the model robust."""

import ui


def reading(r) -> str:
    stages = len(r.clean_accuracy)
    return (
        f"before fine-tuning, a fresh universal perturbation fools {ui.share(r.fooling_rates[0])} of the test "
        f"images (clean accuracy {ui.share(r.clean_accuracy[0])}); after {stages - 1} round(s) a new one computed "
        f"against the fine-tuned model fools {ui.share(r.fooling_rates[-1])} (clean accuracy "
        f"{ui.share(r.clean_accuracy[-1])})."
    )


ui.finding_page(
    "finetune",
    "a copy of the shipped model (never the shared one) is fine-tuned on training images of which a share carry "
    "universal perturbations computed against it, keeping their true labels; then a fresh universal perturbation "
    "is computed against the fine-tuned model. Clean accuracy and fooling rate before and after each round.",
    reading,
)
