"""The Lesson page's steps: one renderer per lesson step (arelu_core.lesson computes every answer).

A renderer draws the step's small live widget, returns the parameters the answer takes, and draws
what the answer brings (a chart, a table) once the class has pressed Reveal. To add a step: one
`@renderer("<key>")` function here beside its `@lesson_step` in arelu_core/lesson/steps.py.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable

import pandas as pd
import streamlit as st

from arelu_core import activation_info, explore, lesson
from arelu_core.data import dataset_info
from arelu_core.reproduce import get_experiment
from arelu_core.reproduce.claims import NOT_SUPPORTED, SUPPORTED
from ui import charts
from ui import inspect_figures
from ui.common import activation_colour, activation_name, checkpoint_label, user_errors
from ui.flow_figures import per_layer_figure
from ui.echarts import draw as draw_chart

RENDERERS: dict[str, Callable] = {}
# ReLU and AReLU keep the one colour each has on every page.
COLOURS = {key: activation_colour(key) for key in ("relu", "arelu")}


def renderer(key: str):
    def register(function: Callable) -> Callable:
        RENDERERS[key] = function
        return function
    return register


@st.cache_data(show_spinner="Computing the answer…", max_entries=64)
def cached_answer(number: int, params: tuple, results: tuple) -> lesson.Answer:
    """One step's answer per parameters and version of the shipped results (`results`), shared by sessions.
    One thread: the answers' torch ops are small, and waking a thread pool costs more on a busy CPU."""
    from arelu_core.inspection._runtime import one_thread
    with one_thread():
        return lesson.get_step(number).answer(**dict(params))


HEAVY_STEPS = ("depth", "cams")     # their first answer waits for imports and torch's first ops


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server, in the background: import the Grad-CAM library and compute the heavy steps' default
    answers once, so the class's first Reveal of those steps does not wait seconds for them."""
    def work():
        from arelu_core.inspection import load_cam_library
        from arelu_core.inspection._runtime import one_thread
        with contextlib.suppress(Exception), one_thread():   # a failure shows at Reveal, in one line
            load_cam_library()
            for step in lesson.STEPS:
                if step.key in HEAVY_STEPS:
                    step.answer()
    thread = threading.Thread(target=work, name="lesson-warm-up", daemon=True)
    thread.start()
    return thread


def answer_for(number: int, **params) -> lesson.Answer:
    return cached_answer(number, tuple(sorted(params.items())), lesson.results_signature())


def revealed(step: lesson.Step) -> bool:
    return bool(st.session_state.get(f"lesson_revealed_{step.key}"))


def render(number: int, below) -> None:
    """The step's widget, its Reveal button and, once pressed, the answer computed now; `below` is a
    full-width container under the question for the answer's large charts and tables."""
    from arelu_core.inspection._runtime import one_thread
    step = lesson.get_step(number)
    with user_errors(f"Could not show step {number}"), one_thread():   # the widgets' torch ops are tiny
        RENDERERS[step.key](number, step, below)


def reveal(number: int, step: lesson.Step, facts: bool = True, **params) -> lesson.Answer | None:
    """The Reveal button; after it, the answer's headline, the class's prediction against it, and the numbers
    (facts=False: the renderer shows them itself, as a table)."""
    key = f"lesson_revealed_{step.key}"
    if not st.session_state.get(key):
        st.button("Reveal the answer", key=f"lesson_reveal_{step.key}", type="primary", icon=":material/visibility:",
                  on_click=st.session_state.__setitem__, args=(key, True))
        return None
    answer = answer_for(number, **params)
    if not answer.available:
        st.info(answer.headline)
        return answer
    st.success(f"**Answer, computed now.** {answer.headline}")
    guess = st.session_state.get(f"lesson_guess_{step.key}")
    if answer.correct is not None and guess is not None:
        st.markdown(f"Your prediction, *{guess}*, is what the numbers say." if guess == answer.correct else
                    f"Your prediction was *{guess}*; the numbers pick **{answer.correct}**.")
    elif answer.correct is not None:
        st.markdown(f"The numbers pick **{answer.correct}**.")
    if facts:
        st.markdown("\n".join(f"- {fact}" for fact in answer.facts))
    return answer


def open_in_full(page: str, label: str, query_params: dict | None = None) -> None:
    st.page_link(page, label=label, icon=":material/open_in_full:", query_params=query_params)


# ---------------------------------------------------------------- 1. the curve

@renderer("curve")
def curve(number: int, step: lesson.Step, below) -> None:
    left, right = st.columns(2)
    alpha = left.slider("α (raw)", -0.5, 1.5, step.defaults["alpha"], 0.01, key="lesson_alpha", persist_state="session")
    beta = right.slider("β (raw)", -10.0, 10.0, step.defaults["beta"], 0.1, key="lesson_beta", persist_state="session")
    x = explore.grid(3.0, points=401)
    drawn, _ = explore.curves(["arelu", "relu"], x, {"arelu": {"alpha": alpha, "beta": beta}})
    fig = charts.function_and_derivative()
    charts.add_identity(fig, x)
    for curve_ in drawn:
        charts.add_curve(fig, x, curve_, COLOURS[curve_.name], width=3.0 if curve_.name == "arelu" else 2.0)
    fig.update_layout(height=340)
    draw_chart(fig, key="lesson_curve")
    reveal(number, step, alpha=alpha, beta=beta)
    open_in_full("pages/explore.py", "Open in full: Explore the function",
                 {"explore_alpha": f"{alpha:g}", "explore_beta": f"{beta:g}",
                  "explore_overlays": [activation_name("relu")]})   # a bound menu's URL value is its label


# ---------------------------------------------------------------- 2. gradients through depth

@renderer("depth")
def depth(number: int, step: lesson.Step, below) -> None:
    from arelu_core.gradient_flow import INITS, MAX_DEPTH
    left, right = st.columns([3, 2])
    layers = left.slider("Depth (layers)", 2, MAX_DEPTH, step.defaults["depth"], key="lesson_depth",
                         persist_state="session")
    init = right.selectbox("Initialisation", list(INITS), format_func=INITS.get, key="lesson_init",
                           persist_state="session")
    answer = reveal(number, step, depth=layers, init=init)
    if answer is not None:
        draw_chart(per_layer_figure(answer.data["table"], "weight_grad_norm", "‖∂L/∂W‖ per layer (log scale)", log_y=True),
                   key="lesson_depth_chart")
    open_in_full("pages/gradient_flow.py", "Open in full: Gradient flow",
                 {"flow_activations": [activation_name("relu"), activation_name("arelu")], "flow_depth": str(layers),
                  "flow_init": INITS[init]})


# ---------------------------------------------------------------- 3. the race

@renderer("race")
def race(number: int, step: lesson.Step, below) -> None:
    st.caption("The class can run the race itself on Train live: ReLU against AReLU, SGD 1e-3, one epoch on all "
               "60 000 training images (about 21 s on the 2-core CPU this lesson was written on; a small subset "
               "shows nothing at this learning rate). The answer below reads our shipped Table 1 runs.")
    st.page_link("pages/train_live.py", label="Run the race live on Train live", icon=":material/sprint:")
    answer = reveal(number, step)
    if answer is not None and answer.available:
        draw_chart(race_figure(answer.data["runs"], answer.data["published"]), key="lesson_race_chart")
    open_in_full("pages/reproduce.py", "Open in full: Reproduce the paper (Table 1)",
                 {"reproduce_experiment": get_experiment("table1").title})


def race_figure(runs: dict, published: dict):
    import plotly.graph_objects as go
    fig = go.Figure()
    for index, (key, values) in enumerate(runs.items()):
        name = activation_info(key).name
        fig.add_trace(go.Box(y=values, name=name, boxpoints="all", jitter=0.3, marker_color=COLOURS.get(key),
                             hovertemplate="%{y:.2f}%<extra>" + name + ", one seed</extra>"))
        if published.get(key) is not None:
            fig.add_trace(go.Scatter(x=[name], y=[published[key]], mode="markers", name="published (paper's Table 1)",
                                     marker=dict(symbol="diamond-open", size=16, color="#222222"),
                                     showlegend=index == 0))
    fig.update_layout(height=330, yaxis=dict(title="test accuracy after one epoch (%)", range=[0, 100]),
                      margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


# ---------------------------------------------------------------- 4. attention or gain

@renderer("gain")
def gain(number: int, step: lesson.Step, below) -> None:
    answer = reveal(number, step)
    if answer is not None and answer.available:
        summary = answer.data["summary"]
        names = {variant["key"]: variant["name"] for variant in summary["variants"]}
        cells = [c for c in summary["cells"] if not c.get("train_subset")]
        if cells:
            table = pd.DataFrame([{"variant": names.get(c["variant"], c["variant"]), "setting": c["setting"],
                                   "accuracy": c["mean"]} for c in cells])
            table = table.pivot(index="variant", columns="setting", values="accuracy")[
                list(dict.fromkeys(c["setting"] for c in cells))]          # the paper's column order
            below.caption("Test accuracy after one epoch (%), mean of the seeds: our shipped ablation.")
            below.dataframe(table.reindex([n for n in names.values() if n in table.index]), key="lesson_gain_table",
                            column_config={s: st.column_config.NumberColumn(format="%.2f") for s in table.columns})
    open_in_full("pages/reproduce.py", "Open in full: the ablation on Reproduce the paper",
                 {"reproduce_experiment": get_experiment("ablation").title})


# ---------------------------------------------------------------- 5. what each layer learned

@renderer("layers")
def layers(number: int, step: lesson.Step, below) -> None:
    entries = lesson.layer_checkpoints()
    if not entries:
        st.info("No shipped AReLU checkpoint in models/: this step needs one (scripts/make_checkpoints.py).")
        return
    entry = st.selectbox("Trained network", entries, key="lesson_checkpoint",
                         format_func=checkpoint_label)
    answer = reveal(number, step, checkpoint=str(entry.path))
    if answer is not None:
        draw_chart(charts.layer_curves_figure(answer.data["x"], answer.data["layers"], answer.data["initial"]),
                   key="lesson_layers_chart")
        st.caption("Dashed: the curve all three layers started from. Each layer learned its own α and β.")
    open_in_full("pages/explore.py", "Open in full: Explore the function (learned curves at the bottom)")


# ---------------------------------------------------------------- 6. where the networks look

@st.cache_resource(show_spinner=False)
def gallery():
    from arelu_core.inspection import load_gallery
    return load_gallery()


@renderer("cams")
def cams(number: int, step: lesson.Step, below) -> None:
    sample_set = gallery()
    left, middle, right = st.columns([1, 2, 1])
    digit_class = left.selectbox("Digit", list(range(10)), index=step.defaults["digit_class"], key="lesson_class",
                                 persist_state="session")
    count = len(sample_set.of_class(digit_class))
    sample = middle.slider("Sample of that digit", 1, count, min(step.defaults["sample"], count), key="lesson_sample")
    position = int(sample_set.of_class(digit_class)[sample - 1])
    draw_chart(inspect_figures.digit_figure(sample_set.images[position] / 255.0), key="lesson_digit",
               config={"displayModeBar": False}, container=right)
    answer = reveal(number, step, digit_class=digit_class, sample=sample)
    if answer is not None:
        data = answer.data
        below.caption("Grad-CAM of each network's own prediction, block by block; the bottom row is ReLU's map "
                      "minus AReLU's (A − B): red where ReLU looks more, blue where AReLU does.")
        draw_chart(inspect_figures.cam_figure(data["comparisons"], ["ReLU", "AReLU"], data["pixels"], data["spatial"]),
                   key="lesson_cams", container=below)
    open_in_full("pages/inspect_digit.py", "Open in full: Feature maps & Grad-CAM",
                 {"inspect_dataset": dataset_info("mnist").name, "inspect_class": dataset_info("mnist").class_names[digit_class],
                  "inspect_sample": str(sample)})


# ---------------------------------------------------------------- 7. what holds up

VERDICT_TEXT = {SUPPORTED: "supported", NOT_SUPPORTED: "NOT supported"}


@renderer("claims")
def claims(number: int, step: lesson.Step, below) -> None:
    offered = [key for key in lesson.EXPERIMENT_TITLES if lesson.shipped_experiment(key)]
    chosen = st.multiselect("Results to check the claims against", offered, default=offered,
                            format_func=lesson.EXPERIMENT_TITLES.get, key="lesson_experiments")
    answer = reveal(number, step, facts=False, experiments=tuple(chosen) or None)
    if answer is not None and answer.data.get("claims"):
        table = pd.DataFrame([{"results": lesson.EXPERIMENT_TITLES.get(c["experiment"], c["experiment"]).split(":")[0],
                               "the paper says": c["claim"], "our data": VERDICT_TEXT.get(c["verdict"], c["verdict"]),
                               "the numbers": c["detail"],
                               "on the paper's own table": c.get("paper_verdict") or ""} for c in answer.data["claims"]])
        below.dataframe(table, hide_index=True, key="lesson_claims_table", height=36 * (len(table) + 1) + 3,
                        column_config={"results": st.column_config.TextColumn(width="small"),
                                       "the paper says": st.column_config.TextColumn(width="large"),
                                       "the numbers": st.column_config.TextColumn(width="large")})
    open_in_full("pages/reproduce.py", "Open in full: Reproduce the paper")
