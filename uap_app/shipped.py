"""Where the perturbation the app ships lives: the home page's, made by
`python -m uap_core run --algorithm fast --out uap_core/results/home` (see its metrics.json).

Plain paths, no torch: the home page shows this run's numbers and picture before torch is loaded. No Streamlit here.
"""

from pathlib import Path

SHIPPED_RUN = Path(__file__).resolve().parents[1] / "uap_core" / "results" / "home"
SHIPPED_PERTURBATION = SHIPPED_RUN / "perturbation.npy"  # (1, 28, 28) float32, ℓ∞ ξ = 0.2
SHIPPED_PICTURE = SHIPPED_RUN / "perturbation.png"  # the same v: blue < 0 < red, white at 0, full colour at ±ξ
SHIPPED_METRICS = SHIPPED_RUN / "metrics.json"  # its numbers on all test images
