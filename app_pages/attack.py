"""Attack page: build a universal perturbation live, watch the fooling rate climb, then inspect what it does.

Only layout and drawing here. The session's run and settings are held by its controller
(:mod:`uap_app.live_controller`): the search runs as a job of the server's job service, the live panel looks at it
every few seconds, and once it ends its last snapshot is this session's result, drawn below. The settings live in
the URL; every range and default comes from :mod:`uap_app.settings`.
"""

import json

import streamlit as st

import ui
from uap_core import ALGORITHMS, CLASS_NAMES, MODEL_NAMES, model_card
from uap_core.norms import norm_label, rescale
from uap_core.report import metrics_dict

TARGETED_TEXT = (
    "**Targeted** (beyond the paper): the paper's perturbation sends each image to whichever other class is "
    "nearest; this one is built to send them to the class you chose. Its success rate is the share of images "
    "not already predicted as that class that the model now predicts as it."
)

ui.require_data()
live = ui.live_controller()
live.follow_address(st.query_params.to_dict())

# ---------------------------------------------------------------- the controls
st.title("Build a universal perturbation, live")
for notice in live.notices:
    st.warning(notice, icon=":material/link_off:")

row = st.columns([1.1, 1.8, 0.7, 1.0, 0.75], gap="medium")
row[0].selectbox(
    "Model",
    MODEL_NAMES,
    key="model",
    format_func=lambda name: f"{name} ({model_card(name)['test_accuracy']:.1%} test accuracy)",
)
row[1].radio("Algorithm", ALGORITHMS[::-1], key="algorithm", format_func=ui.ALGORITHM_TEXT.get, horizontal=True)
norm = row[2].radio(
    "Norm", ui.NORMS, key="norm", horizontal=True, format_func=lambda n: f"ℓ{'∞' if n == 'inf' else '2'}"
)
row[3].selectbox(
    "Target class", (ui.UNTARGETED, *CLASS_NAMES), key="target", help=TARGETED_TEXT.replace("**", ""),
    format_func=lambda name: "none (untargeted)" if name == ui.UNTARGETED else name,
)  # fmt: skip
row[4].number_input("Random seed", *ui.SEED_RANGE, step=1, key="seed")

row = st.columns([1.3, 1.5, 0.8, 0.8], gap="medium")
low, high, step = ui.XI_RANGES[norm]
row[0].slider(
    f"ξ, the largest {norm_label(float(norm))} norm of v", low, high, step=step, key=ui.xi_key(norm),
    help="ℓ∞: every pixel changes by at most ξ (0 to 1 scale). ℓ2: the Euclidean length of v, in pixel units.",
)  # fmt: skip
low, high, step = ui.DELTA_RANGE
row[1].slider(
    f"δ: stop at the target fooling rate 1 − δ = {1 - st.session_state['delta']:.0%}", low, high, step=step,
    key="delta",
)  # fmt: skip
row[2].select_slider("Training images", ui.TRAIN_SIZES, key="n_train")
row[3].slider("Passes at most", *ui.MAX_PASSES_RANGE, key="max_passes")

settings = live.settings()
ui.prepare(settings.model)  # cached: the first Run's first progress report then comes at once
if (address := live.address_to_write(st.query_params.to_dict())) is not None:
    st.query_params.from_dict(address)

# ---------------------------------------------------------------- Run and Stop
live.come_back()
buttons = st.columns([1, 1, 5], vertical_alignment="center")
buttons[0].button("Run", type="primary", key="run", icon=":material/play_arrow:", width="stretch", on_click=live.start)
buttons[1].button(
    "Stop", key="stop", icon=":material/stop_circle:", disabled=live.job is None, width="stretch",
    help="Stop now and keep the best perturbation measured so far.", on_click=live.stop,
)  # fmt: skip
if live.job is None and live.outcome is None:
    buttons[2].markdown(
        "Press **Run**: the fooling rate is drawn live, on training images and on test images v never sees."
    )
if live.job is not None:
    ui.quiet_looks()


# ---------------------------------------------------------------- the live panel
@st.fragment(run_every=live.refresh_s)
def live_panel() -> None:
    """Progress, the fooling-rate chart and the before/after strip, from the latest snapshot of the run."""
    look = live.look()
    if look.ended:
        st.rerun()
    if look.queued:
        st.info(ui.queue_notice(look.position, look.estimate_s), icon=":material/hourglass_top:")
    view = look.view
    if view is None:
        return
    if live.job is not None:
        audience = f"{look.watchers} visitor{'s' if look.watchers > 1 else ''} watching this run"
        if look.in_flight > 1 and not look.queued:
            audience += f", taking turns with {look.in_flight - 1} other run{'s' if look.in_flight > 2 else ''}"
        st.progress(min(max(view.fraction, 0.0), 1.0), text=f"{view.message} · {audience}")
    chart, strip = st.columns([1, 1.35], gap="medium")
    with chart:
        st.html(view.chart_html)  # both made once per snapshot by the run's thread
    with strip:
        st.html(view.strip_html)


live_panel()

outcome = live.outcome
if outcome is None or outcome.view is None or outcome.view.result is None:
    if outcome is not None and outcome.failed:
        st.error(f"The run failed: {outcome.error}", icon=":material/error:")
    elif outcome is not None:
        st.warning("Stopped before the first progress report: nothing to show yet.", icon=":material/stop_circle:")
    st.stop()

# ---------------------------------------------------------------- results (drawn from the session state)
result, used = outcome.view.result, outcome.view.settings
if outcome.budget_spent:
    st.warning(
        f"Stopped at the compute budget of {outcome.budget_s:.0f} s: this is the best perturbation measured so far.",
        icon=":material/timer:",
    )
elif not outcome.finished:
    st.warning(
        f"Stopped after {result.seconds:.1f} s: showing the best perturbation measured so far.",
        icon=":material/stop_circle:",
    )
else:
    rate = "fooling rate" if used.target_name is None else f"share sent to {used.target_name}"
    best = result.fooling_rate if used.target_name is None else result.targeted_success_rate
    if result.target_reached:
        st.success(f"Target reached: {rate} {best:.1%} on the training images in {result.seconds:.1f} s.")
    else:
        st.info(
            f"Used all {result.passes} pass{'es' if result.passes > 1 else ''} in {result.seconds:.1f} s; "
            f"best {rate} on the training images {best:.1%} (target {result.target:.0%})."
        )
if used != settings:
    st.caption("The controls above have changed since this run: press **Run** to compute with them.")

st.header("What the perturbation does")
low, high, step = ui.XI_RANGES[used.norm]
shown_xi = st.slider(
    f"Rescale the found pattern to another size ξ ({norm_label(result.p)})",
    min(low, result.xi),
    max(high, result.xi),
    result.xi,
    step,
    key=f"rescale_{live.runs}",
)
st.caption(
    "This slider only rescales the pattern found by the last run and re-evaluates it on the test images, "
    "instantly; **Run** searches for a new pattern."
)
v = result.perturbation if shown_xi == result.xi else rescale(result.perturbation, shown_xi, result.p)
evaluation = ui.evaluation(used.model, v, result.p, used.target_name)
if used.target_name is not None:
    st.markdown(TARGETED_TEXT)
ui.metric_cards(evaluation)
st.caption(
    f"On all {evaluation.clean_labels.numel():,} test images; the perturbation was built from "
    f"{used.n_train} training images."
)

ui.effects(used.model, v, evaluation, f"The perturbation v (ξ = {ui.format_size(shown_xi, result.p)})")

st.subheader("Download")
metrics = metrics_dict(
    result,
    evaluation,
    model=used.model,
    n_train=used.n_train,
    seed=used.seed,
    max_passes=used.max_passes,
    shown_xi=shown_xi,
)
ui.perturbation_downloads(v, json.dumps(metrics, indent=2), stem=f"uap-{used.model}-{used.norm}")
