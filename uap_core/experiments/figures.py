"""One plotly figure per experiment (no Streamlit here): ``figure(result)`` picks the right one.

Figures carry a title; what produced the numbers (model, norm, ξ, images, seeds, seconds) is
``result.caption()``, shown beside the figure by the page and under the title in ``figure.html``.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ..data import CLASS_NAMES
from ..figures import TARGET_COLOUR, TEST_COLOUR, TRAIN_COLOUR, class_flow_figure, perturbation_figure, style
from ..norms import norm_label, parse_norm
from .common import ExperimentResult
from .defence import TARGET_RATIO, DefenceResult
from .diversity import DiversityResult
from .dominant_labels import DominantLabelsResult
from .finetune import FinetuneResult
from .geometry import GeometryResult
from .random_noise import RandomNoiseResult
from .sample_size import SampleSizeResult
from .transfer import TransferResult

RANDOM_COLOUR = "#777777"
MASKED_COLOUR = "#8c6bb1"
SWEEP_COLOURS = (TRAIN_COLOUR, "#e08214", "#2166ac", "#1b7837")  # one per model of the random-noise sweep
PERCENT = {"tickformat": ".0%", "range": [0, 1.02]}


def _line(x, y, name: str, colour: str, dash: str | None = None, **kwargs) -> go.Scatter:
    return go.Scatter(x=x, y=y, name=name, mode="lines+markers", line={"color": colour, "width": 3, "dash": dash},
                      marker={"size": 8}, **kwargs)  # fmt: skip


def sample_size_figure(result: SampleSizeResult) -> go.Figure:
    """Test fooling rate (mean ± standard deviation over the seeds, and each seed) against training images."""
    fig = go.Figure()
    for column in range(len(result.seeds)):
        rates = [row[column] for row in result.fooling_rates]
        marker = {"color": TEST_COLOUR, "opacity": 0.35, "size": 7}
        fig.add_trace(go.Scatter(x=result.sizes, y=rates, mode="markers", name="single seeds", marker=marker,
                                 showlegend=column == 0, legendgroup="seeds"))  # fmt: skip
    fig.add_trace(_line(result.sizes, result.mean, f"mean ± sd over {len(result.seeds)} seeds", TEST_COLOUR,
                        error_y={"type": "data", "array": result.std, "visible": True}))  # fmt: skip
    fig.add_trace(_line(result.sizes, result.random_mean, "random noise of each perturbation's own norm",
                        RANDOM_COLOUR, "dot"))  # fmt: skip
    fig.update_xaxes(type="log", title_text="training images the perturbation is built from")
    fig.update_yaxes(title_text="fooling rate on the test images", **PERCENT)
    return style(fig, "A few images suffice")


def random_noise_figure(result: RandomNoiseResult) -> go.Figure:
    """Fooling rate against ξ, one panel per norm: the universal perturbation and random noise of its norm;
    a last panel over small ℓ∞ sizes for each model of the sweep (trained with and without noise)."""
    labels = [norm_label(parse_norm(norm)) for norm in result.norms]
    sweep = bool(result.sweep_models)
    titles = [*labels, "ℓ∞, small ξ: with and without noise training"] if sweep else labels
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, shared_yaxes=True)
    for column, _ in enumerate(result.norms, start=1):
        first = column == 1
        fig.add_trace(_line(result.xis[column - 1], result.fooling_rates[column - 1], "universal perturbation",
                            TRAIN_COLOUR, showlegend=first, legendgroup="uap"), row=1, col=column)  # fmt: skip
        fig.add_trace(_line(result.xis[column - 1], result.random_fooling_rates[column - 1],
                            "random noise of the same norm", RANDOM_COLOUR, "dot", showlegend=first,
                            legendgroup="random"), row=1, col=column)  # fmt: skip
        fig.update_xaxes(title_text=f"ξ ({labels[column - 1]}, pixel units)", row=1, col=column)
    if sweep:
        column = len(titles)
        for name, rates, noise, colour in zip(
            result.sweep_models,
            result.sweep_fooling_rates,
            result.sweep_random_fooling_rates,
            SWEEP_COLOURS,
            strict=False,
        ):
            fig.add_trace(_line(result.sweep_xis, rates, f"{name}: universal", colour), row=1, col=column)
            fig.add_trace(_line(result.sweep_xis, noise, f"{name}: random noise", colour, "dot"), row=1, col=column)
        fig.update_xaxes(title_text="ξ (ℓ∞, pixel units)", row=1, col=column)
    fig.update_yaxes(title_text="fooling rate on the test images", row=1, col=1)
    fig.update_yaxes(**PERCENT)
    return style(fig, "Universal perturbation vs random noise of the same norm", height=480)


def dominant_labels_figure(result: DominantLabelsResult) -> go.Figure:
    """The class-flow heatmaps side by side, one per norm, titled with the top classes' share of fooled images."""
    titles = [
        f"{norm_label(parse_norm(norm))} ξ = {xi:g}: top class {CLASS_NAMES[top[0]]} {top1:.0%}, top two {top2:.0%}"
        for norm, xi, top, top1, top2 in zip(result.norms, result.xis, result.top_classes, result.top1_share,
                                             result.top2_share, strict=True)
    ]  # fmt: skip
    fig = make_subplots(rows=1, cols=max(len(titles), 1), subplot_titles=titles, horizontal_spacing=0.12)
    for column, flow in enumerate(result.flows, start=1):
        panel = class_flow_figure(torch.tensor(flow))
        for trace in panel.data:
            fig.add_trace(trace.update(showscale=column == len(result.flows)), row=1, col=column)
        fig.update_xaxes(title_text="predicted on the perturbed image", tickangle=-40, row=1, col=column)
        fig.update_yaxes(autorange="reversed", row=1, col=column, showticklabels=column == 1)
    fig.update_yaxes(title_text="predicted on the clean image", row=1, col=1)
    fig.update_annotations(font_size=14)
    return style(fig, "Dominant labels: where the fooled images go", height=620)


def diversity_figure(result: DiversityResult) -> go.Figure:
    """Cosine similarity between the perturbations; axis labels carry each one's test fooling rate."""
    names = [f"seed {seed}<br>FR {rate:.0%} (noise {noise:.0%})" for seed, rate, noise
             in zip(result.seeds, result.fooling_rates, result.random_fooling_rates, strict=True)]  # fmt: skip
    fig = go.Figure(go.Heatmap(z=result.cosine, x=names, y=names, zmin=-1, zmax=1, colorscale="RdBu_r",
                               text=[[f"{c:.2f}" for c in row] for row in result.cosine], texttemplate="%{text}",
                               colorbar={"title": {"text": "cosine"}},
                               hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    mean = result.mean_off_diagonal
    title = "Diversity: cosine similarity of perturbations from different seeds"
    return style(fig, title + (f" (mean off-diagonal {mean:.2f})" if mean is not None else ""), height=520)


def diversity_perturbations_figure(result: DiversityResult) -> go.Figure:
    """The perturbations side by side on one diverging colour scale, each titled with its seed and fooling rate."""
    n = len(result.seeds)
    titles = [f"seed {s}: FR {r:.0%}" for s, r in zip(result.seeds, result.fooling_rates, strict=True)]
    fig = make_subplots(rows=1, cols=max(n, 1), subplot_titles=titles, horizontal_spacing=0.02)
    for column in range(1, n + 1):
        panel = perturbation_figure(result.perturbation(column - 1))
        for trace in panel.data:
            fig.add_trace(trace.update(zmin=-result.xi, zmax=result.xi, showscale=column == n), row=1, col=column)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{column if column > 1 else ''}", showticklabels=False,
                         row=1, col=column)  # fmt: skip
        fig.update_xaxes(showticklabels=False, row=1, col=column)
    return style(fig, "Universal perturbations from different seeds", height=320)


def transfer_figure(result: TransferResult) -> go.Figure:
    """Heatmap: rows the model a perturbation was computed on, columns the model it fools; each cell also
    gives its baseline, random noise of that perturbation's own norm on that column's model."""
    rows = [f"computed on {m}" for m in result.models[: len(result.fooling_rates)]]
    columns = [f"evaluated on {m}" for m in result.models]
    text = [[f"{v:.0%}<br><sub>noise {n:.0%}</sub>" for v, n in zip(row, noise, strict=True)]
            for row, noise in zip(result.fooling_rates, result.random_fooling_rates, strict=True)]  # fmt: skip
    fig = go.Figure(go.Heatmap(z=result.fooling_rates, x=columns, y=rows, zmin=0, zmax=1, colorscale="Reds",
                               text=text, texttemplate="%{text}",
                               colorbar={"title": {"text": "fooling rate"}, "tickformat": ".0%"},
                               hovertemplate="%{y}, %{x}: %{z:.1%}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return style(fig, "Transfer between models (test fooling rate; random noise of the same norm below)", height=460)


def geometry_figure(result: GeometryResult) -> go.Figure:
    """Left: singular values of unit vectors divided by √(number of vectors), so that σ₁² + σ₂² + … = 1 for
    every matrix: plain DeepFool normals vs as many random unit vectors, and the box-masked normals.
    Right: fooling rate of random vectors from the top-d subspace of the normals vs the whole space, same ℓ2 norm."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], subplot_titles=(
        "singular values ÷ √(number of vectors)", f"random vectors of ℓ2 norm {result.xi:g}"))  # fmt: skip
    lines = [
        (result.normal_singular_values, "DeepFool normals (plain, as in the paper)", TRAIN_COLOUR, None),
        (result.random_singular_values, "random unit vectors", RANDOM_COLOUR, "dot"),
        (result.masked_singular_values, "box-masked DeepFool normals", MASKED_COLOUR, "dash"),
    ]
    for values, name, colour, dash in lines:
        index = list(range(1, len(values) + 1))
        fig.add_trace(_line(index, values, name, colour, dash, marker_size=3), row=1, col=1)
    fig.update_xaxes(title_text="index i", row=1, col=1)
    fig.update_yaxes(type="log", title_text="σᵢ / √n", row=1, col=1)
    bars = [(f"top-{d} subspace", rate, TRAIN_COLOUR) for d, rate in zip(result.dims, result.subspace_fooling_rates,
                                                                           strict=True)]  # fmt: skip
    if result.whole_space_fooling_rate is not None:  # None: stopped before it was measured
        bars.append(("whole space", result.whole_space_fooling_rate, RANDOM_COLOUR))
    names, rates, colours = ([bar[i] for bar in bars] for i in range(3))
    fig.add_trace(go.Bar(x=names, y=rates, marker_color=colours, showlegend=False, text=[f"{r:.0%}" for r in rates],
                         textposition="outside"), row=1, col=2)  # fmt: skip
    fig.update_yaxes(title_text="fooling rate on the test images", row=1, col=2, **PERCENT)
    return style(fig, "Geometry: the normals to the decision boundary share a small subspace", height=460)


def finetune_figure(result: FinetuneResult) -> go.Figure:
    """Clean accuracy and the fooling rate of a fresh UAP, for the shipped model and after each round."""
    stages = ["shipped model"] + [f"after round {r}" for r in range(1, len(result.clean_accuracy))]
    fig = go.Figure()
    fig.add_trace(_line(stages, result.clean_accuracy, "clean test accuracy", "#1b7837"))
    fig.add_trace(_line(stages, result.fooling_rates, "fooling rate of a fresh UAP", TRAIN_COLOUR))
    fig.add_trace(_line(stages[1:], result.previous_fooling_rates, "fooling rate of the UAP it was fine-tuned on",
                        RANDOM_COLOUR, "dot"))  # fmt: skip
    fig.update_yaxes(title_text="share of test images", **PERCENT)
    return style(fig, "Fine-tuning on universal perturbations")


FINETUNE_COLOUR = "#e08214"
SCENARIO_COLOURS = (TRAIN_COLOUR, "#92c5de", TEST_COLOUR)  # own attack, unaware attacker, aware attacker


def defence_figure(result: DefenceResult) -> go.Figure:
    """Four panels: clean accuracy of the undefended, defended and fine-tuned models; the fooling rates of universal
    perturbations (mean over the seeds, their range as whiskers) for the three attacks and each algorithm, with the
    target; what each defence buys and costs; DeepFool's median per-image ℓ2 size on both models."""
    undefended, defended = result.models
    label = f"{norm_label(parse_norm(result.norm))} ξ = {result.xi:g}"
    titles = ("clean test accuracy", f"universal perturbations, {label}: test fooling rate",
              "two defences: what each buys and costs", "per-image attacks still work (DeepFool)")  # fmt: skip
    fig = make_subplots(rows=2, cols=2, subplot_titles=titles, vertical_spacing=0.22, horizontal_spacing=0.1)
    rounds = len(result.finetune_clean_accuracy) - 1
    tuned = f"{undefended}<br>fine-tuned {rounds}×"
    accuracy = [*result.clean_accuracy, result.finetune_clean_accuracy[-1]]
    fig.add_trace(go.Bar(x=[undefended, defended, tuned], y=accuracy, showlegend=False,
                         marker_color=[TRAIN_COLOUR, TEST_COLOUR, FINETUNE_COLOUR], text=[f"{a:.1%}" for a in accuracy],
                         textposition="outside"), row=1, col=1)  # fmt: skip

    scenarios = [(0, 0, f"built on {undefended}, judged on it"),
                 (0, 1, f"built on {undefended}, judged on {defended} (attacker unaware)"),
                 (1, 1, f"built on {defended}, judged on it (attacker aware)")]  # fmt: skip
    finished = [(a, name) for a, name in enumerate(result.algorithms) if a < len(result.fooling_rates)
                and result.fooling_rates[a]]  # fmt: skip
    groups = [f"{name}, ≤ {result.max_passes[a]} passes" for a, name in finished]
    for (built, judged, name), colour in zip(scenarios, SCENARIO_COLOURS, strict=True):
        seeds = [[block[built][judged] for block in result.fooling_rates[a]] for a, _ in finished]
        means = [sum(rates) / len(rates) for rates in seeds]
        spread = list(zip(seeds, means, strict=True))  # each seed's rates beside their mean: the whiskers' range
        whiskers = {"type": "data", "symmetric": False, "array": [max(r) - m for r, m in spread],
                    "arrayminus": [m - min(r) for r, m in spread]}  # fmt: skip
        fig.add_trace(go.Bar(x=groups, y=means, name=name, marker_color=colour, error_y=whiskers,
                             text=[f"{m:.0%}" for m in means], textposition="outside"), row=1, col=2)  # fmt: skip
    targets = [TARGET_RATIO * result.mean(a, 0, 0) for a, _ in finished]
    fig.add_trace(go.Scatter(x=groups, y=targets, mode="markers", name=f"target for the last bar: ≤ {TARGET_RATIO:g} × "
                             f"the first", marker={"symbol": "line-ew-open", "size": 90, "color": TARGET_COLOUR,
                             "line": {"width": 3, "color": TARGET_COLOUR}}), row=1, col=2)  # fmt: skip

    fast = result.algorithms.index("fast") if "fast" in result.algorithms else 0
    uat_rate, own_rate = result.mean(fast, 1, 1), result.mean(fast, 0, 0)
    seconds = result.training_seconds
    trained = ""
    if None not in seconds:
        trained = f"<br>{seconds[1]:.0f} s of training<br>(on top of {undefended}'s {seconds[0]:.0f} s)"
    tuning = f"fine-tuning, {rounds} rounds<br>(UAPs: ≤ {result.finetune_max_passes} passes)"
    defences = ["no defence", tuning, f"universal adversarial<br>training{trained}"]
    rates = [own_rate, result.finetune_fooling_rates[-1], uat_rate]
    costs = [0.0, result.finetune_clean_accuracy[0] - result.finetune_clean_accuracy[-1],
             result.clean_accuracy[0] - result.clean_accuracy[1]]  # fmt: skip
    shown = [i for i, rate in enumerate(rates) if rate is not None]
    fig.add_trace(go.Bar(x=[defences[i] for i in shown], y=[rates[i] for i in shown], marker_color=TRAIN_COLOUR,
                         name="fooling rate of a fresh fast UAP",
                         text=[f"FR {rates[i]:.0%}" for i in shown], textposition="outside"), row=2, col=1)  # fmt: skip
    fig.add_trace(go.Bar(x=defences, y=costs, marker_color="#1b7837", name="clean-accuracy cost",
                         text=[f"cost {c:.1%}" for c in costs], textposition="outside"), row=2, col=1)  # fmt: skip

    done = len(result.deepfool_median_l2)
    fig.add_trace(go.Bar(x=result.models[:done], y=result.deepfool_median_l2, showlegend=False,
                         marker_color=[TRAIN_COLOUR, TEST_COLOUR][:done],
                         text=[f"‖r‖₂ {size:.2f}, fools {share:.0%}" for size, share
                               in zip(result.deepfool_median_l2, result.deepfool_fooled, strict=True)],
                         textposition="outside"), row=2, col=2)  # fmt: skip
    if result.norm == "inf":  # the ℓ2 size of a full ±ξ sign pattern, the largest universal perturbation allowed
        corner = result.xi * 28  # ξ·√(28·28)
        fig.add_hline(y=corner, line={"dash": "dot", "color": RANDOM_COLOUR}, row=2, col=2,
                      annotation_text=f"ℓ2 size of a ±{result.xi:g} sign pattern: {corner:.1f}")  # fmt: skip
    fig.update_yaxes(**PERCENT, row=1, col=1)
    fig.update_yaxes(title_text="share of test images", **PERCENT, row=1, col=2)
    fig.update_yaxes(**PERCENT, row=2, col=1)
    fig.update_yaxes(title_text=f"median ‖r‖₂ over {result.n_deepfool} test images", rangemode="tozero", row=2, col=2)
    fig.update_xaxes(tickangle=0, row=2, col=1)
    fig = style(fig, "Can it be defended? Universal adversarial training", height=880)
    return fig.update_layout(barmode="group", margin={"t": 110})  # room for the caption under the title


FIGURES = {
    SampleSizeResult: sample_size_figure,
    RandomNoiseResult: random_noise_figure,
    DominantLabelsResult: dominant_labels_figure,
    DiversityResult: diversity_figure,
    TransferResult: transfer_figure,
    GeometryResult: geometry_figure,
    FinetuneResult: finetune_figure,
    DefenceResult: defence_figure,
}


def figure(result: ExperimentResult) -> go.Figure:
    """The figure of any experiment's result."""
    return FIGURES[type(result)](result)
