"""Gradient flow: gradient norms and activation statistics per layer of a deep, freshly initialised stack."""
import pandas as pd
import streamlit as st

from arelu_core import activation_info, list_activations
from arelu_core import gradient_flow as flow
from ui.common import small_table, user_errors
from ui.flow_figures import per_layer_figure, statistics_figure
from ui.links import BIND, titled
from ui.navigation import through_app
from ui.echarts import draw as draw_chart

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

link = titled("Gradient flow", "gradient_flow")
st.caption("A stack of `depth` × [Linear(width, width) → activation], a linear classifier on top and a "
           "cross-entropy loss on one batch, straight after initialisation. Every activation gets the same "
           "weights (same seed), so only the activation differs. Does the gradient reach the first layers?")

name_of = lambda key: activation_info(key).name  # noqa: E731
GRADIENTS = {"weight_grad_norm": "‖∂L/∂W‖ of each Linear (what the optimizer sees)",
             "output_grad_norm": "‖∂L/∂h‖ at each layer's output"}
with st.container(border=True):
    left, right = st.columns([3, 2])
    default_activations = ["relu", "arelu", "tanh", "sigmoid"]
    chosen = link.add("flow_activations", left.multiselect(
        "Activations", list_activations(), default=default_activations, key="flow_activations", bind=BIND,
        format_func=name_of, help="With their default parameters (AReLU: "
        + ", ".join(f"{k} = {v:g}" for k, v in activation_info("arelu").defaults.items()
                     if isinstance(v, (int, float))) + ")."),
        default_activations, name_of)
    depth = link.add("flow_depth", right.slider("Depth (layers)", 2, flow.MAX_DEPTH, 20, key="flow_depth", bind=BIND), 20)
    c1, c2, c3, c4, c5 = st.columns(5)
    width = link.add("flow_width", c1.selectbox("Width", [32, 64, 128, 256], index=2, key="flow_width", bind=BIND), 128)
    batch_size = link.add("flow_batch", c2.selectbox("Batch", [64, 256, 1024], index=1, key="flow_batch", bind=BIND), 256)
    inputs = link.add("flow_inputs", c3.selectbox(
        "Inputs", list(flow.INPUTS), format_func=flow.INPUTS.get, key="flow_inputs", bind=BIND,
        help="Gaussian noise N(0, 1) with random labels, or real MNIST test digits (pixels in [0, 1])."),
        "gaussian", flow.INPUTS.get)
    init = link.add("flow_init", c4.selectbox(
        "Initialisation", list(flow.INITS), format_func=flow.INITS.get, key="flow_init", bind=BIND,
        help="PyTorch's default (uniform ±1/√fan_in) shrinks the signal at every layer; "
             "Kaiming/He (normal, std √(2/fan_in)) keeps ReLU's variance, so AReLU's gain makes it grow."),
        "pytorch", flow.INITS.get)
    seed = int(link.add("flow_seed", c5.number_input("Seed", 0, 10_000, 0, key="flow_seed", bind=BIND), 0))


@st.cache_data(show_spinner="Running the stack forward and backward…", max_entries=32)
def run_flow(activations: tuple[str, ...], depth: int, width: int, batch_size: int, inputs: str, init: str,
             seed: int) -> pd.DataFrame:
    config = flow.FlowConfig(depth=depth, width=width, batch_size=batch_size, inputs=inputs, init=init, seed=seed)
    return flow.compare(list(activations), config)


def explain_growth(table: pd.DataFrame, config: flow.FlowConfig) -> None:
    """Say where the class looks why a curve shoots up: the growth measured per layer, and what the slopes predict."""
    for grown in flow.growing(table, config):
        size = "overflowed" if grown.last_std != grown.last_std else f"{grown.last_std:.1e}"
        line = (f"**{grown.label} explodes**: its outputs' spread grows ×{grown.per_layer:.2f} per layer "
                f"(std {grown.first_std:.2g} at layer 1, {size} at layer {config.depth}), and the gradients with it.")
        if grown.expected_per_layer is not None:
            (negative_name, negative), (positive_name, positive) = grown.slopes.items()
            line += (f" Kaiming's weights are scaled so that ReLU (slopes 1 and 0) keeps the signal's size. "
                     f"{grown.label} passes positives with slope {positive_name} = {positive:.2f} and keeps "
                     f"{negative_name} = {negative:.2f} of negatives, so each layer multiplies the spread by "
                     f"√({positive:.2f}² + {negative:.2f}²) = {grown.expected_per_layer:.2f}: "
                     f"{grown.expected_per_layer:.2f}^{config.depth - 1} ≈ {grown.expected_per_layer ** (config.depth - 1):.0e}. "
                     "In a trained network the weights and β adapt; with PyTorch's default init the same stack shrinks.")
        st.warning(line, icon=":material/trending_up:")


if not chosen:
    st.info("Pick at least one activation.")
else:
    with user_errors("Could not run the stack"):
        table = run_flow(tuple(chosen), depth, width, batch_size, inputs, init, seed)
        gradient_kind = link.add("flow_gradient", st.radio(
            "Gradient", list(GRADIENTS), horizontal=True, key="flow_gradient", bind=BIND, format_func=GRADIENTS.get),
            "weight_grad_norm", GRADIENTS.get)
        explain_growth(table, flow.FlowConfig(depth=depth, width=width, batch_size=batch_size, inputs=inputs,
                                              init=init, seed=seed))
        draw_chart(per_layer_figure(table, gradient_kind, "Gradient norm per layer (log scale)", log_y=True),
                   key="flow_gradients")
        first, last = table[table["layer"] == 1], table[table["layer"] == depth]
        summary = pd.DataFrame({"activation": first["label"].to_numpy(),
                                "layer 1": first[gradient_kind].to_numpy(),
                                f"layer {depth}": last[gradient_kind].to_numpy()})
        summary["layer 1 / last"] = summary["layer 1"] / summary[f"layer {depth}"]
        st.caption("Below 1 in the last column: the gradient shrinks on its way down to the first layer "
                   "(vanishing); above 1: it grows.")
        small_table(summary, "{:.3e}")
        if table[["weight_grad_norm", "output_grad_norm", "mean", "std"]].isna().any().any():
            st.warning("Some values overflowed even in float64 (shown as gaps): that activation explodes at this depth.")
        st.subheader("Activation statistics per layer")
        draw_chart(statistics_figure(table), key="flow_statistics")
        if "maxout" in chosen:
            st.caption("Maxout takes the max of 2 linear pieces, so its Linear layers are twice as wide.")
if not chosen:
    link.expect("flow_gradient")
link.render()
