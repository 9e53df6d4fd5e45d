"""Attack page: build a universal perturbation live, watch the fooling rate climb, then inspect what it does.

The run's latest snapshot lives in ``st.session_state`` and is rewritten at every progress report,
so Stop (or any other click, which reruns the page and interrupts the run) leaves the best
perturbation found so far, and the results below are always drawn from the session state.
"""

import json
import math

import streamlit as st

import ui
from uap_core import ALGORITHMS, DEFAULT_MODEL, MODEL_NAMES, iter_universal_perturbation, model_card
from uap_core.figures import class_flow_figure, history_figure, perturbation_figure
from uap_core.metrics import predict
from uap_core.norms import norm_label, rescale
from uap_core.report import metrics_dict

RUN = "attack_run"  # session-state key of the latest run: settings, snapshot, live curve
LIVE_TEST_IMAGES = 1000  # held-out test images scored at every progress report
GRID_IMAGES = 12
TRAIN_SIZES = (50, 100, 200, 500, 1000, 2000, 4000, 8000)
XI_SLIDERS = {"inf": (0.02, 0.40, 0.01), "2": (0.5, 8.0, 0.1)}  # norm -> (min, max, step), pixel units
ALGORITHM_TEXT = {"fast": "fast (batched gradient steps)", "paper": "paper (Algorithm 1 with DeepFool; slow)"}
DEFAULTS = {
    "model": DEFAULT_MODEL,
    "algorithm": "fast",
    "norm": "inf",
    "xi_inf": 0.2,
    "xi_2": 4.0,
    "delta": 0.2,
    "n_train": 500,
    "max_passes": 5,
    "seed": 0,
}  # about 10 s on a 2-core machine

ui.require_data()

# The controls take their values from the session state (defaults first): Streamlit drops the values of
# widgets not on screen, so writing them back keeps the controls as they were after a visit to another page.
for key, default in DEFAULTS.items():
    st.session_state[key] = st.session_state.get(key, default)

st.title("Build a universal perturbation, live")
st.markdown(
    "Choose how large the perturbation may be (ξ) and which fooling rate to aim for (1 − δ), then press **Run**. "
    "The perturbation is built from training images and checked, while it grows, on test images it never sees."
)

# ---------------------------------------------------------------- controls
row = st.columns(4, gap="medium")
model_name = row[0].selectbox(
    "Model",
    MODEL_NAMES,
    key="model",
    format_func=lambda name: f"{name} ({model_card(name)['test_accuracy']:.1%} test accuracy)",
)
algorithm = row[1].radio("Algorithm", ALGORITHMS[::-1], key="algorithm", format_func=ALGORITHM_TEXT.get)
norm = row[2].radio(
    "Norm", ("inf", "2"), key="norm", horizontal=True, format_func=lambda n: f"ℓ{'∞' if n == 'inf' else '2'}"
)
seed = row[3].number_input("Random seed", min_value=0, max_value=9999, step=1, key="seed")

row = st.columns(4, gap="medium")
low, high, step = XI_SLIDERS[norm]
xi = row[0].slider(f"ξ, the largest {norm_label(float(norm))} norm of v", low, high, step=step, key=f"xi_{norm}")
p = math.inf if norm == "inf" else 2.0
row[0].caption(f"ξ = {ui.format_size(xi, p)}" + (" grey levels per pixel" if norm == "inf" else " (pixel units)"))
delta = row[1].slider("δ", 0.05, 0.95, step=0.05, key="delta", help="The search stops when 1 − δ is reached.")
row[1].caption(f"target fooling rate 1 − δ = {1 - delta:.0%}")
n_train = row[2].select_slider("Training images used to build v", TRAIN_SIZES, key="n_train")
max_passes = row[3].slider("Maximum passes over them", 1, 10, key="max_passes")

settings = {
    "model": model_name,
    "algorithm": algorithm,
    "norm": norm,
    "xi": xi,
    "delta": delta,
    "n_train": n_train,
    "max_passes": max_passes,
    "seed": int(seed),
}
run_clicked = st.button("Run", type="primary", key="run", icon=":material/play_arrow:")
progress_area = st.container()  # progress bar and Stop, between the Run button and the chart
chart_slot = st.empty()


# ---------------------------------------------------------------- the run
def live_figure(run: dict):
    """The fooling-rate chart of a run so far (train and test fooling rate, test accuracy, target line)."""
    curve = run["curve"]
    return history_figure(
        [c[0] for c in curve],
        [c[1] for c in curve],
        [c[2] for c in curve],
        [c[3] for c in curve],
        1 - run["settings"]["delta"],
        run["settings"]["max_passes"],
        "Fooling rate while v is being built",
    )


def build(report: ui.ProgressCallback) -> None:
    """Run the search, saving the snapshot and the live curve in the session state after every report."""
    st.session_state.pop(RUN, None)  # only now: a busy server leaves the previous result in place
    net = ui.model(model_name)
    train = ui.subset("train", n_train, int(seed))
    test = ui.subset("test", LIVE_TEST_IMAGES)
    clean_test = predict(net, test.images)

    def on_test(v) -> tuple[float, float]:
        """Fooling rate and accuracy on the held-out test images, from one forward pass."""
        labels = predict(net, test.images, v)
        return (labels != clean_test).float().mean().item(), (labels == test.labels).float().mean().item()

    # Curve points: (passes done, train fooling rate, test fooling rate, test accuracy).
    run = {"settings": settings, "result": None, "curve": [(0.0, 0.0, *on_test(None))]}
    n = len(train)
    for snapshot in iter_universal_perturbation(net, train.images, xi, norm, delta, max_passes, int(seed), algorithm):
        record = snapshot.history[-1]
        done = record.pass_index - 1 + record.images_seen / n
        curve_point = (done, record.fooling_rate, *on_test(snapshot.current))
        run = {**run, "result": snapshot, "curve": [*run["curve"], curve_point]}
        st.session_state[RUN] = run
        report(
            done / max_passes,
            f"pass {record.pass_index} of {max_passes}: fooling rate on the training images "
            f"{record.fooling_rate:.0%} (best {snapshot.fooling_rate:.0%}), {record.seconds:.1f} s",
        )
        with chart_slot:
            ui.show_figure(live_figure(run), key=f"live_{len(run['curve'])}")


if run_clicked:
    with progress_area:
        ui.run_task(build, "Starting…")

run = st.session_state.get(RUN)
if run is None or run["result"] is None:
    st.info("Press **Run** to build a perturbation with these settings (about 10 s with the defaults).")
    st.stop()

# ---------------------------------------------------------------- results (drawn from the session state)
with chart_slot:
    ui.show_figure(live_figure(run), key="live_final")
result, used = run["result"], run["settings"]
if not result.finished:
    st.warning(
        f"Stopped after {result.seconds:.1f} s: showing the best perturbation found so far.",
        icon=":material/stop_circle:",
    )
elif result.target_reached:
    st.success(
        f"Target reached: fooling rate {result.fooling_rate:.1%} on the training images in {result.seconds:.1f} s."
    )
else:
    st.info(
        f"Used all {result.passes} pass{'es' if result.passes > 1 else ''} in {result.seconds:.1f} s; "
        "best fooling rate on the training images "
        f"{result.fooling_rate:.1%} (target {result.target:.0%})."
    )
if used != settings:
    st.caption("The controls above have changed since this run: press **Run** to recompute with them.")

st.header("What the perturbation does")
low, high, step = XI_SLIDERS[used["norm"]]
shown_xi = st.slider(
    f"Rescale the found pattern to another size ξ ({norm_label(result.p)})",
    min(low, result.xi),
    max(high, result.xi),
    result.xi,
    step,
    key=f"rescale_{id(result)}",
)
st.caption(
    "This slider only rescales the pattern found by the last run and re-evaluates it on the test images, "
    "instantly; **Run** searches for a new pattern."
)
v = result.perturbation if shown_xi == result.xi else rescale(result.perturbation, shown_xi, result.p)
evaluation = ui.evaluation(used["model"], v, result.p)
ui.metric_cards(evaluation)
st.caption(
    f"On all {evaluation.clean_labels.numel():,} test images; the perturbation was built from "
    f"{used['n_train']} training images."
)

left, right = st.columns([2, 3], gap="large")
with left:
    ui.show_figure(
        perturbation_figure(v, f"The perturbation v (ξ = {ui.format_size(shown_xi, result.p)})", height=460),
        "Red brightens a pixel, blue darkens it, white leaves it unchanged; the colour bar is in pixel units.",
    )
with right:
    ui.show_figure(
        class_flow_figure(evaluation.flow, title="Where each class goes"),
        "Rows: class predicted on the clean test image; columns: on the perturbed one. Off the diagonal = fooled.",
    )

st.subheader("Test images before and after")
test = ui.dataset("test")
ui.prediction_rows(ui.model(used["model"]), test.images[ui.diverse_indices(test.labels, GRID_IMAGES)], v)

st.subheader("Download")
metrics = metrics_dict(
    result,
    evaluation,
    model=used["model"],
    n_train=used["n_train"],
    seed=used["seed"],
    max_passes=used["max_passes"],
    shown_xi=shown_xi,
)
ui.perturbation_downloads(v, json.dumps(metrics, indent=2), stem=f"uap-{used['model']}-{used['norm']}")
