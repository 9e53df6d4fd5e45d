"""Finding 5: universal perturbations transfer between architectures ("doubly universal")."""

import ui


def reading(r) -> str:
    n = len(r.fooling_rates)
    own = [r.fooling_rates[i][i] for i in range(n)]
    other = [r.fooling_rates[i][j] for i in range(n) for j in range(len(r.models)) if i != j]
    return (
        f"on the architecture it was computed on, a perturbation fools {ui.share(min(own))}–{ui.share(max(own))} "
        f"of the test images; on the other architectures {ui.share(min(other))}–{ui.share(max(other))}, against "
        f"{ui.share(min(r.random_fooling_rates))}–{ui.share(max(r.random_fooling_rates))} for random noise "
        "of the same norm."
    )


ui.finding_page(
    "transfer",
    "one universal perturbation computed on each shipped architecture (a convnet, a LeNet-style CNN and an MLP), "
    "each evaluated on every architecture: rows say where it was computed, columns where it is tested.",
    reading,
)
