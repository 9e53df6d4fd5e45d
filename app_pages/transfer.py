"""Finding 5: universal perturbations transfer between architectures ("doubly universal")."""

import ui


def reading(r) -> str:
    n = len(r.fooling_rates)
    if n == 0:
        return "the run was stopped before the first perturbation was finished."
    own = [r.fooling_rates[i][i] for i in range(n)]
    other = [r.fooling_rates[i][j] for i in range(n) for j in range(len(r.models)) if i != j]
    noise = ", ".join(
        f"{name} {ui.share(max(row[j] for row in r.random_fooling_rates))}" for j, name in enumerate(r.models)
    )
    if not other:
        return f"on its own model the perturbation fools {ui.share(own[0])}; there is no other model to transfer to."
    return (
        f"on the model it was computed on, a perturbation fools {ui.share_range(own)} "
        f"of the test images; on the other models {ui.share_range(other)}. Random noise of "
        f"exactly the perturbation's norm fools at most: {noise} (each cell gives its own)."
    )


ui.finding_page(
    "transfer",
    "one universal perturbation computed on each shipped model (a convnet, a LeNet-style CNN, an MLP, and the "
    "convnet trained without noise), each evaluated on every model: rows say where it was computed, columns "
    "where it is tested.",
    reading,
)
