"""Beyond the paper: can a network be defended? The shipped comparison of the undefended convnet with the one trained
by universal adversarial training (no computation on load), then both attacked live, side by side, through the job
service (:mod:`uap_app.comparison`).
"""

import streamlit as st

import ui
from uap_core import DEFAULT_MODEL, DEFENDED_MODEL, model_card
from uap_core.experiments import EXPERIMENTS
from uap_core.figures import perturbation_figure

ROLE = {DEFAULT_MODEL: "undefended", DEFENDED_MODEL: "defended"}

ui.require_data()
shipped = ui.shipped_result("defence")
summary = shipped.summary()
undefended, defended = shipped.models
accuracy, tuned, trained = summary["clean_accuracy"], summary["finetune"], summary["uat"]
sizes = summary["deepfool_median_l2"]
# Fooling rates on the test images, means over the seeds: attack -> judged model
own = {name: rates["built_on_undefended_judged_on_undefended"] for name, rates in summary["attacks"].items()}
unaware = {name: rates["built_on_undefended_judged_on_defended"] for name, rates in summary["attacks"].items()}
aware = {name: rates["built_on_defended_judged_on_defended"] for name, rates in summary["attacks"].items()}
cost, tuned_cost = trained["clean_accuracy_cost"] * 100, tuned["clean_accuracy_cost"] * 100  # points

st.title("Can it be defended? Universal adversarial training")
st.markdown(
    f"The paper's own defence, fine-tuning on perturbed images (finding 7), helps little. **Universal adversarial "
    f"training** (Shafahi et al., AAAI 2020) trains the network while a universal perturbation is trained against "
    f"it: at every batch the perturbation takes a step that raises the loss, then the weights take a step that "
    f"lowers it on the same perturbed images. `{defended}` is the default `{undefended}`, trained further this way "
    f"at ℓ∞ ξ = {shipped.xi:g}. Shipped numbers, computed by `{shipped.command}` on {shipped.n_test:,} test images "
    f"(means over seeds {', '.join(map(str, shipped.seeds))}):"
)

# The cards: what the defended model shows, each beside the undefended model's figure (or the other defence's).
cards = st.columns(6, gap="small")
cards[0].metric(
    "Clean accuracy", f"{accuracy[defended]:.1%}", delta=f"{-cost:+.1f} pts vs {accuracy[undefended]:.1%}",
    help=f"Test accuracy of {defended}, against {undefended}'s.",
)  # fmt: skip
attacks = (
    ("Unaware attacker", unaware["fast"], own["fast"], f"v built against {undefended} (fast), applied to {defended}."),
    ("Aware attacker, fast", aware["fast"], own["fast"], f"A fresh v built against {defended} itself with fast."),
    ("Aware attacker, paper", aware["paper"], own["paper"], f"A fresh v built against {defended} itself with paper."),
)
for card, (label, rate, undefended_rate, how) in zip(cards[1:4], attacks, strict=True):
    card.metric(
        label, f"{rate:.0%}", delta=f"vs {undefended_rate:.0%} undefended", delta_color="off", delta_arrow="off",
        help=f"Test fooling rate. {how} The same attack against {undefended} fools {undefended_rate:.0%}.",
    )  # fmt: skip
cards[4].metric(
    "Fine-tuning instead", f"{tuned['fooling_rate']:.0%}", delta=f"costs {tuned_cost:.1f} pts", delta_color="off",
    delta_arrow="off", help=f"The paper's defence ({tuned['rounds']} rounds of fine-tuning): a fresh fast v's test "
    f"fooling rate after it, and its clean-accuracy cost ({aware['fast']:.0%} and {cost:.1f} points here).",
)  # fmt: skip
cards[5].metric(
    "Per-image ‖r‖₂", f"{sizes[defended]:.2f}", delta=f"vs {sizes[undefended]:.2f} undefended", delta_color="off",
    delta_arrow="off", help=f"DeepFool's median per-image perturbation on {shipped.n_deepfool} test images; it "
    f"fooled {min(shipped.deepfool_fooled):.0%} of them on both models.",
)  # fmt: skip

st.markdown(
    f"- **Clean accuracy:** {accuracy[undefended]:.1%} undefended, {accuracy[defended]:.1%} defended: the defence "
    f"costs {cost:.1f} points.\n"
    f"- **The attacker who does not know** builds v against `{undefended}`: it fools {own['fast']:.0%} of that "
    f"model's test images and only {unaware['fast']:.0%} of `{defended}`'s (random noise of the same size: "
    f"{shipped.random_fooling_rates[1]:.0%}).\n"
    f"- **The attacker who knows** builds a fresh v against `{defended}` itself: it fools {aware['fast']:.0%} with "
    f"`fast` and {aware['paper']:.0%} with `paper`, against {own['fast']:.0%} and {own['paper']:.0%} on the "
    f"undefended model.\n"
    f"- **Fine-tuning against universal adversarial training:** the paper's fine-tuning ({tuned['rounds']} rounds) "
    f"brings a fresh perturbation to {tuned['fooling_rate']:.0%} for {tuned_cost:.1f} points of accuracy; universal "
    f"adversarial training to {aware['fast']:.0%} for {cost:.1f} points, with {trained['training_seconds']:.0f} s of "
    f"training on top of `{undefended}`'s {trained['undefended_training_seconds']:.0f} s.\n"
    f"- **The limit:** the defence is against *one* pattern for every image. Each image on its own can still be "
    f"pushed into another class: DeepFool did it for {min(shipped.deepfool_fooled):.0%} of the test images it tried "
    f"on both models, with a change of median size {sizes[undefended]:.2f} on `{undefended}` and "
    f"{sizes[defended]:.2f} on `{defended}`, far smaller than the largest universal pattern allowed "
    f"({shipped.xi * 28:.1f})."
)
ui.show_figure(EXPERIMENTS["defence"].figure(shipped), f"{shipped.caption()} · shipped", key="defence_figure")

# ---------------------------------------------------------------- both attacked live, side by side
st.header("Attack both, live")
compare = ui.comparison()
compare.come_back()
st.markdown(
    f"Press **Run** to build a universal perturbation against each model with the same settings, side by side "
    f"(ℓ∞; the other settings are the live page's defaults: at most {compare.settings().max_passes} passes, stop at "
    f"{1 - compare.settings().delta:.0%})."
)
row = st.columns([1.6, 1.6, 1, 0.8, 1.2, 1.2], gap="medium", vertical_alignment="bottom")
row[0].radio("Algorithm", ui.ALGORITHM_TEXT, key=compare.ALGORITHM, format_func=ui.ALGORITHM_TEXT.get, horizontal=True)
low, high, step = ui.XI_RANGES["inf"]
row[1].slider("ξ, the largest change of any pixel", low, high, step=step, key=compare.XI)
row[2].select_slider("Training images", ui.TRAIN_SIZES, key=compare.N_TRAIN)
row[3].number_input("Random seed", *ui.SEED_RANGE, step=1, key=compare.SEED)
row[4].button("Run", type="primary", key="defence_run", icon=":material/play_arrow:", width="stretch",
              on_click=compare.start)  # fmt: skip
row[5].button(
    "Stop", key="defence_stop", icon=":material/stop_circle:", disabled=not compare.watching, width="stretch",
    help="Stop both now and keep the best perturbations measured so far.", on_click=compare.stop,
)  # fmt: skip
if compare.watching:
    ui.quiet_looks()


# Read once per script run: the live panels below redraw them at every look.
HEADINGS = {model: f"`{model}` ({ROLE[model]}, {model_card(model)['test_accuracy']:.1%} clean test accuracy)"
            for model in compare.runs}  # fmt: skip


@st.fragment(run_every=compare.refresh_s)
def live_panels() -> None:
    """Each run's progress, fooling-rate chart and before/after strip, side by side."""
    looks = compare.look()
    if any(look.ended for look in looks.values()):
        st.rerun()
    for column, (model, look) in zip(st.columns(2, gap="large"), looks.items(), strict=True):
        with column:
            st.markdown(f"**{HEADINGS[model]}**")
            if look.queued:
                st.info(ui.queue_notice(look.position, look.estimate_s), icon=":material/hourglass_top:")
            if look.view is None:
                continue
            if compare.runs[model].job is not None:
                st.progress(min(max(look.view.fraction, 0.0), 1.0), text=look.view.message)
            st.html(look.view.chart_html)
            st.html(look.view.strip_html)


live_panels()

outcomes = compare.outcomes()
if compare.watching or not all(outcome is not None and outcome.has_result for outcome in outcomes.values()):
    st.stop()

# ---------------------------------------------------------------- both results, judged on all test images
st.subheader("The two perturbations on all test images")
results = {model: outcome.view.result for model, outcome in outcomes.items()}
for column, (model, outcome) in zip(st.columns(2, gap="large"), outcomes.items(), strict=True):
    result = results[model]
    evaluation = ui.evaluation(model, result.perturbation, result.p)
    with column:
        st.markdown(f"**v built against {HEADINGS[model]}**")
        if not outcome.finished:
            why = "at the compute budget" if outcome.budget_spent else "before the end"
            st.caption(f"Stopped {why}: the best perturbation measured so far.")
        cards = st.columns(3)
        cards[0].metric("Fooling rate", f"{evaluation.fooling_rate:.1%}", help="Share of test images v fools.")
        cards[1].metric(
            "Accuracy with v", f"{evaluation.perturbed_accuracy:.1%}",
            delta=f"{(evaluation.perturbed_accuracy - evaluation.clean_accuracy) * 100:+.1f} pts",
            help=f"Test accuracy with v added; clean: {evaluation.clean_accuracy:.1%}.",
        )  # fmt: skip
        cards[2].metric(
            "Random noise", f"{evaluation.random_fooling_rate:.1%}", help="Fooling rate of random noise of v's size."
        )
        ui.show_figure(
            perturbation_figure(result.perturbation, f"v against {model}", height=320),
            key=f"v_{model}_{compare.started}",
        )
transferred = ui.evaluation(DEFENDED_MODEL, results[DEFAULT_MODEL].perturbation, results[DEFAULT_MODEL].p)
st.markdown(
    f"**The attacker who does not know:** the perturbation built against `{DEFAULT_MODEL}` fools "
    f"{transferred.fooling_rate:.1%} of `{DEFENDED_MODEL}`'s test images."
)
