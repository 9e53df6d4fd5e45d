"""Attack page: build a universal perturbation live, watch the fooling rate climb, then inspect what it does.

The search runs in the server's worker threads (:mod:`uap_app.runs`), not in this script: the page asks
for the run of its settings (joining one in flight, or served at once when it has finished before, or
queued), then a fragment looks at the run every 2 s, waiting up to 0.9 s for its next snapshot
(drawn as soon as it is published; every 4 s and up to 2 s for a page that joins a run watched by more than
two); each look also tells the server that somebody is still watching. When
the run ends, or on Stop, the snapshot becomes this session's result, and the results below are drawn from
the session state. The settings live in the URL.
"""

import json

import streamlit as st

import ui
from uap_app.effects import effects
from uap_app.live import prepare
from uap_app.page import LEFT_RUN, LIVE_RUN
from uap_app.runs import DONE, FAILED, QUEUED, STOPPED
from uap_app.settings import DEFAULT_XI, TRAIN_SIZES, UNTARGETED, XI_RANGES, LiveSettings, from_query
from uap_core import ALGORITHMS, CLASS_NAMES, MODEL_NAMES, model_card
from uap_core.norms import norm_label, rescale
from uap_core.report import metrics_dict

RESULT, RUNS = "attack_result", "attack_runs"
NOTICES, ERROR = "attack_url_notices", "attack_error"
SEEN_URLS, KEPT_URLS = "attack_seen_urls", 8  # the addresses this session has followed or written, latest last
DRAWN, STARTED = "attack_drawn", "attack_started"  # (run number, snapshot version) on screen; Run just pressed
# How often the live panel looks at the run's snapshot (and tells the server it is watched), and how long each look
# waits for the next snapshot. Every look costs a browser about 0.1 s of CPU whatever it shows: looking every 2 s
# instead of every 1 s let 10 pages on the server's 2 cores get their result in 14 s instead of 20 s. A look must end
# well within the interval: the browser asks for the next look every 2 s whether or not this one is over, and a look
# still running when asked for again is never drawn (looks waiting 3 s left a crowd's pages frozen for as long as the
# run's reports came more than 2 s apart). The wait also delays Stop (its callback runs once the look is over).
REFRESH_S, NEWS_WAIT_S = 2.0, 0.9
# A page that starts watching a run more than two visitors watch looks every 4 s instead, each look waiting up to 2 s:
# a crowd's browsers then pay for half as many looks. Stop then takes up to 2 s on that page, and the run goes on for
# the others anyway; a lone watcher's Stop still frees the slot within a second.
CROWD, CROWD_REFRESH_S, CROWD_WAIT_S = 2, 4.0, 2.0
FIRST_WAIT_S = 1.5  # how long the look right after Run waits for the first progress report (the next look is 2 s on)
ALGORITHM_TEXT = {"fast": "fast (batched)", "paper": "paper (Alg. 1, slow)"}
WIDGET_KEYS = ("model", "algorithm", "norm", "delta", "n_train", "max_passes", "seed", "target")
TARGETED_TEXT = (
    "**Targeted** (beyond the paper): the paper's perturbation sends each image to whichever other class is "
    "nearest; this one is built to send them to the class you chose. Its success rate is the share of images "
    "not already predicted as that class that the model now predicts as it."
)

ui.require_data()
runs = ui.live_runs()
watcher = ui.live_watcher()


def remember(address: dict[str, str]) -> None:
    """Add ``address`` to the ones this session has followed or written, as the latest."""
    seen = [url for url in st.session_state.get(SEEN_URLS, []) if url != address]
    st.session_state[SEEN_URLS] = [*seen, address][-KEPT_URLS:]


# ---------------------------------------------------------------- settings: the URL, then the controls
# A link with settings (a new visit, or an address from elsewhere) sets the controls; an address without
# them (a visit from another page) leaves the session's controls as they were. An address this session has
# already followed or written is not a new link but a browser that has not caught up yet: a control moved
# while the address of the previous change was still on its way reports the address before it, and applying
# that one would undo both changes. Streamlit drops the values of widgets not on screen, so they are written
# back from the session state (defaults first).
query = st.query_params.to_dict()
if query and query not in st.session_state.get(SEEN_URLS, []):
    remember(query)
    wanted, st.session_state[NOTICES] = from_query(query)
    for key in WIDGET_KEYS:
        st.session_state[key] = getattr(wanted, key)
    st.session_state[f"xi_{wanted.norm}"] = wanted.xi
defaults = LiveSettings()
for key in WIDGET_KEYS:
    st.session_state[key] = st.session_state.get(key, getattr(defaults, key))
for norm_key, xi_default in DEFAULT_XI.items():
    st.session_state[f"xi_{norm_key}"] = st.session_state.get(f"xi_{norm_key}", xi_default)

st.title("Build a universal perturbation, live")
for notice in st.session_state.get(NOTICES, []):
    st.warning(notice, icon=":material/link_off:")

row = st.columns([1.1, 1.8, 0.7, 1.0, 0.75], gap="medium")
row[0].selectbox(
    "Model",
    MODEL_NAMES,
    key="model",
    format_func=lambda name: f"{name} ({model_card(name)['test_accuracy']:.1%} test accuracy)",
)
row[1].radio("Algorithm", ALGORITHMS[::-1], key="algorithm", format_func=ALGORITHM_TEXT.get, horizontal=True)
norm = row[2].radio(
    "Norm", ("inf", "2"), key="norm", horizontal=True, format_func=lambda n: f"ℓ{'∞' if n == 'inf' else '2'}"
)
row[3].selectbox(
    "Target class", (UNTARGETED, *CLASS_NAMES), key="target", help=TARGETED_TEXT.replace("**", ""),
    format_func=lambda name: "none (untargeted)" if name == UNTARGETED else name,
)  # fmt: skip
row[4].number_input("Random seed", min_value=0, max_value=9999, step=1, key="seed")

row = st.columns([1.3, 1.5, 0.8, 0.8], gap="medium")
low, high, step = XI_RANGES[norm]
row[0].slider(
    f"ξ, the largest {norm_label(float(norm))} norm of v", low, high, step=step, key=f"xi_{norm}",
    help="ℓ∞: every pixel changes by at most ξ (0 to 1 scale). ℓ2: the Euclidean length of v, in pixel units.",
)  # fmt: skip
row[1].slider(
    f"δ: stop at the target fooling rate 1 − δ = {1 - st.session_state['delta']:.0%}",
    0.05, 0.95, step=0.05, key="delta",
)  # fmt: skip
row[2].select_slider("Training images", TRAIN_SIZES, key="n_train")
row[3].slider("Passes at most", 1, 10, key="max_passes")


def current_settings() -> LiveSettings:
    """The settings the controls show (callbacks run before the widgets, so read the session state)."""
    state = st.session_state
    xi_now, delta_now = round(state[f"xi_{state.norm}"], 6), round(state.delta, 6)
    return LiveSettings(
        state.model,
        state.algorithm,
        state.norm,
        xi_now,
        delta_now,
        *map(int, (state.n_train, state.max_passes, state.seed)),
        state.target,
    )


settings = current_settings()
prepare(settings.model)  # cached: the first Run's first progress report then comes at once
address = settings.to_query()
latest = st.session_state.get(SEEN_URLS, [None])[-1]  # the address last written (or followed)
if address != query or address != latest:  # the browser's may be behind the one last written
    st.query_params.from_dict(address)
    remember(address)


# ---------------------------------------------------------------- Run and Stop
def finish(run, stopped: bool) -> None:
    """Make the run's latest snapshot this session's result, and share its perturbation with other pages."""
    view = run.snapshot
    st.session_state.pop(LIVE_RUN, None)
    st.session_state[RESULT] = (view, stopped)
    if view is not None and view.result is not None:
        used = view.settings
        st.session_state["uap_latest"] = {
            "perturbation": view.result.perturbation,
            "p": view.result.p,
            "model": used.model,
            "description": f"built on the live page ({used.algorithm}, {norm_label(view.result.p)} "
            f"ξ = {ui.format_size(used.xi, view.result.p)}, {used.n_train} training images, seed {used.seed}"
            f"{f', sends images to {used.target_name}' if used.target_name else ''}"
            f"{', stopped early' if stopped else ''})",
        }


def start() -> None:
    """Run: join, reuse or queue the run of the current settings (a callback, so Stop is ready at once)."""
    st.session_state[NOTICES] = []
    st.session_state.pop(ERROR, None)
    if (previous := st.session_state.get(LIVE_RUN)) is not None:
        runs.leave(previous, watcher)
    st.session_state[RUNS] = st.session_state.get(RUNS, 0) + 1  # keys the rescale slider of this run's result
    st.session_state.pop(RESULT, None)
    st.session_state[LIVE_RUN] = runs.request(current_settings(), watcher)
    st.session_state[STARTED] = True


def stop() -> None:
    """Stop: keep the best perturbation so far; the run goes on only if another visitor still watches it."""
    if (run := st.session_state.get(LIVE_RUN)) is not None:
        runs.leave(run, watcher)
        finish(run, stopped=run.state != DONE)


# Back from another page that opened while a run was watched here: the run was left then (app.py), and its best
# perturbation so far is this session's result, as after Stop.
if (left := st.session_state.pop(LEFT_RUN, None)) is not None:
    finish(left, stopped=left.state != DONE)

buttons = st.columns([1, 1, 5], vertical_alignment="center")
buttons[0].button("Run", type="primary", key="run", icon=":material/play_arrow:", width="stretch", on_click=start)
buttons[1].button(
    "Stop", key="stop", icon=":material/stop_circle:", disabled=LIVE_RUN not in st.session_state, width="stretch",
    help="Stop now and keep the best perturbation measured so far.", on_click=stop,
)  # fmt: skip
watching = st.session_state.get(LIVE_RUN)
if watching is None and RESULT not in st.session_state:
    buttons[2].markdown(
        "Press **Run**: the fooling rate is drawn live, on training images and on test images v never sees."
    )


# ---------------------------------------------------------------- the live panel
if watching is not None:
    # Streamlit's "running" animation would play at every look in every watching browser: without a GPU to draw
    # it, it cost the browsers about a third of their CPU in the lecture-hall test; and a look that a busy server
    # answers late would grey the chart. The progress line says what is going on.
    st.html(
        "<style>[data-testid='stStatusWidget'] { visibility: hidden; }"
        "[data-stale='true'] { opacity: 1 !important; transition: none !important; }</style>"
    )


# Decided when the page starts watching (the fragment's interval is set by the whole page's run): visitors who join
# a crowd look less often, the first ones (the lecturer's projector, usually) keep the 2 s looks.
crowd = watching is not None and len(watching.watchers) > CROWD
refresh, news_wait = (CROWD_REFRESH_S, CROWD_WAIT_S) if crowd else (REFRESH_S, NEWS_WAIT_S)


@st.fragment(run_every=refresh if watching is not None else None)
def live_panel() -> None:
    """Progress, the fooling-rate chart and the before/after strip, from the latest snapshot of the run."""
    run = st.session_state.get(LIVE_RUN)
    if run is not None:
        runs.heartbeat(run, watcher)
        if run.state == STOPPED:
            # Nobody watched it for a moment (a browser pauses a page's timers while a tab is hidden or busy):
            # ask again, which rejoins the run if another visitor restarted it, or queues it anew.
            run = st.session_state[LIVE_RUN] = runs.request(run.key, watcher)
        # Each look waits a moment for the run's next snapshot and draws it as soon as it comes: fewer looks
        # (each costs the server and the browser a page update), yet every report is on screen at once.
        # Until the first progress report, the wait skips the "Starting" snapshot.
        number, seen = st.session_state.get(DRAWN, (None, 0))
        seen = seen if number == run.number else 0
        run.wait_for(max(seen + 1, 2), FIRST_WAIT_S if st.session_state.pop(STARTED, False) else news_wait)
        if run.state == DONE:
            finish(run, stopped=False)
            st.rerun()
        if run.state == FAILED:
            st.session_state.pop(LIVE_RUN, None)
            st.session_state[RESULT] = (None, False)
            st.session_state[ERROR] = run.error
            st.rerun()
        if run.state == QUEUED:
            position, wait = runs.position(run), runs.estimate(run)
            st.info(
                f"Waiting for a free slot: number {position or 1} in the queue, starting in about {wait:.0f} s. "
                "It starts by itself; keep this page open.",
                icon=":material/hourglass_top:",
            )
        version, view = run.version, run.snapshot
        st.session_state[DRAWN] = (run.number, version)
        if view is not None:
            watchers = len(run.watchers)
            audience = f"{watchers} visitor{'s' if watchers > 1 else ''} watching this run"
            st.progress(min(max(view.fraction, 0.0), 1.0), text=f"{view.message} · {audience}")
    else:
        view = st.session_state.get(RESULT, (None, False))[0]
    if view is None:
        return
    chart, strip = st.columns([1, 1.35], gap="medium")
    with chart:
        st.html(view.chart_html)  # both made once per snapshot by the run's thread
    with strip:
        st.html(view.strip_html)


live_panel()

view, stopped = st.session_state.get(RESULT, (None, False))
if view is None or view.result is None:
    if ERROR in st.session_state:
        st.error(f"The run failed: {st.session_state[ERROR]}", icon=":material/error:")
    elif stopped:
        st.warning("Stopped before the first progress report: nothing to show yet.", icon=":material/stop_circle:")
    st.stop()

# ---------------------------------------------------------------- results (drawn from the session state)
result, used = view.result, view.settings
if not result.finished:
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
low, high, step = XI_RANGES[used.norm]
shown_xi = st.slider(
    f"Rescale the found pattern to another size ξ ({norm_label(result.p)})",
    min(low, result.xi),
    max(high, result.xi),
    result.xi,
    step,
    key=f"rescale_{st.session_state.get(RUNS, 0)}",
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

effects(used.model, v, evaluation, f"The perturbation v (ξ = {ui.format_size(shown_xi, result.p)})")

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
