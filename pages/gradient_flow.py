"""Gradient flow: gradient norms and activation statistics per layer of a deep, freshly initialised stack."""
import pandas as pd
import streamlit as st

from arelu_core import activation_info, list_activations
from arelu_core import gradient_flow as flow
from ui.common import user_errors
from ui.flow_figures import per_layer_figure, statistics_figure
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

st.title("Gradient flow")
st.caption("A stack of `depth` × [Linear(width, width) → activation], a linear classifier on top and a "
           "cross-entropy loss on one batch, straight after initialisation. Every activation gets the same "
           "weights (same seed), so only the activation differs. Does the gradient reach the first layers?")

with st.container(border=True):
    left, right = st.columns([3, 2])
    chosen = left.multiselect("Activations", list_activations(), default=["relu", "arelu", "tanh", "sigmoid"],
                              key="flow_activations", persist_state="session",
                              format_func=lambda key: activation_info(key).name,
                              help="With their default parameters (AReLU: "
                                   + ", ".join(f"{k} = {v:g}" for k, v in activation_info("arelu").defaults.items()
                                             if isinstance(v, (int, float))) + ").")
    depth = right.slider("Depth (layers)", 2, flow.MAX_DEPTH, 20, key="flow_depth", persist_state="session")
    c1, c2, c3, c4, c5 = st.columns(5)
    width = c1.selectbox("Width", [32, 64, 128, 256], index=2, key="flow_width", persist_state="session")
    batch_size = c2.selectbox("Batch", [64, 256, 1024], index=1, key="flow_batch", persist_state="session")
    inputs = c3.selectbox("Inputs", list(flow.INPUTS), format_func=flow.INPUTS.get, key="flow_inputs",
                          persist_state="session",
                          help="Gaussian noise N(0, 1) with random labels, or real MNIST test digits (pixels in [0, 1]).")
    init = c4.selectbox("Initialisation", list(flow.INITS), format_func=flow.INITS.get, key="flow_init",
                        persist_state="session",
                        help="PyTorch's default (uniform ±1/√fan_in) shrinks the signal at every layer; "
                             "Kaiming/He (normal, std √(2/fan_in)) keeps ReLU's variance, so AReLU's gain makes it grow.")
    seed = int(c5.number_input("Seed", 0, 10_000, 0, key="flow_seed", persist_state="session"))


@st.cache_data(show_spinner="Running the stack forward and backward…", max_entries=32)
def run_flow(activations: tuple[str, ...], depth: int, width: int, batch_size: int, inputs: str, init: str,
             seed: int) -> pd.DataFrame:
    config = flow.FlowConfig(depth=depth, width=width, batch_size=batch_size, inputs=inputs, init=init, seed=seed)
    return flow.compare(list(activations), config)


if not chosen:
    st.info("Pick at least one activation.")
else:
    with user_errors("Could not run the stack"):
        table = run_flow(tuple(chosen), depth, width, batch_size, inputs, init, seed)
        gradient_kind = st.radio("Gradient", ["weight_grad_norm", "output_grad_norm"], horizontal=True,
                                 key="flow_gradient", persist_state="session",
                                 format_func={"weight_grad_norm": "‖∂L/∂W‖ of each Linear (what the optimizer sees)",
                                              "output_grad_norm": "‖∂L/∂h‖ at each layer's output"}.get)
        st.plotly_chart(per_layer_figure(table, gradient_kind, "Gradient norm per layer (log scale)", log_y=True),
                        key="flow_gradients")
        first, last = table[table["layer"] == 1], table[table["layer"] == depth]
        summary = pd.DataFrame({"activation": first["label"].to_numpy(),
                                "layer 1": first[gradient_kind].to_numpy(),
                                f"layer {depth}": last[gradient_kind].to_numpy()})
        summary["layer 1 / last"] = summary["layer 1"] / summary[f"layer {depth}"]
        st.caption("Below 1 in the last column: the gradient shrinks on its way down to the first layer "
                   "(vanishing); above 1: it grows.")
        st.dataframe(summary, hide_index=True, width="content",
                     column_config={column: st.column_config.NumberColumn(format="%.3e")
                                    for column in summary.columns[1:]})
        if table[["weight_grad_norm", "output_grad_norm", "mean", "std"]].isna().any().any():
            st.warning("Some values overflowed even in float64 (shown as gaps): that activation explodes at this depth.")
        st.subheader("Activation statistics per layer")
        st.plotly_chart(statistics_figure(table), key="flow_statistics")
        if "maxout" in chosen:
            st.caption("Maxout takes the max of 2 linear pieces, so its Linear layers are twice as wide.")
