"""Explore the function: AReLU's curve and derivative for any α and β, beside other activations,
ELSA on top of any of them, and the curves a trained network learned per layer."""
import numpy as np
import streamlit as st

from arelu_core import activation_info, list_activations
from arelu_core.activations import resolve_name
from arelu_core import explore
from arelu_core.activations.formula import ALPHA_MAX, ALPHA_MIN
from ui import charts
from ui.common import (PALETTE, checkpoint_label, learnable_first_index, list_checkpoints, load_checkpoint_cached,
                       user_errors)
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

st.title("Explore the function")
st.caption("F(x) = C(α)·x for x < 0 and (1 + σ(β))·x for x ≥ 0. The sliders set the raw parameters; "
           "the clamp C and the sigmoid σ turn them into the slopes the network really uses.")

# -- the two parameters, each with the slope it produces ---------------------------------------
defaults = activation_info("arelu").defaults
alpha_column, alpha_value, beta_column, beta_value = st.columns([3, 1, 3, 1], vertical_alignment="center")
alpha = alpha_column.slider("α (raw)", min_value=-0.5, max_value=1.5, value=defaults["alpha"], step=0.01, key="explore_alpha",
                            persist_state="session",
                            help=f"Learned per layer. Values outside [{ALPHA_MIN:g}, {ALPHA_MAX:g}] are clamped: try them.")
beta = beta_column.slider("β (raw)", min_value=-10.0, max_value=10.0, value=defaults["beta"], step=0.1, key="explore_beta",
                          persist_state="session", help="Learned per layer. σ(β) squashes any value into (0, 1).")
negative_slope, positive_slope = explore.clamped_alpha(alpha), explore.amplification(beta)
alpha_value.metric("C(α)", f"{negative_slope:.3f}", help="Slope for x < 0.")
if negative_slope != alpha:
    alpha_value.caption("clamped")
beta_value.metric("1 + σ(β)", f"{positive_slope:.3f}", help="Slope for x ≥ 0.")

with st.expander("What to draw beside AReLU", expanded=True):
    left, middle, right = st.columns([3, 2, 1])
    others = [key for key in list_activations() if key != "arelu"]
    overlays = left.multiselect("Other activations", others, default=["relu"], key="explore_overlays",
                                persist_state="session", format_func=lambda key: activation_info(key).name,
                                help="Drawn with their default parameters.")
    elsa_base = middle.selectbox("Add ELSA (same α, β) to", [None] + explore.elsa_names(include_non_elementwise=True),
                                 key="explore_elsa", persist_state="session",
                                 format_func=lambda name: "nothing" if name is None else activation_info(name).name,
                                 help="R(x) + ELSA(x): C(α)·x on negatives and σ(β)·x on positives added to R.")
    x_range = right.slider("x range ±", 1.0, 10.0, 4.0, 0.5, key="explore_range", persist_state="session")

# -- amplification and suppression as numbers -----------------------------------------------------
gain, kept, relu_ratio = st.columns(3)
gain.metric("Gradient amplification (x ≥ 0)", f"×{positive_slope:.3f}",
            delta=f"{(positive_slope - 1) * 100:+.1f}% vs ReLU",
            help="dF/dx on the positive side: ReLU passes gradients with slope 1, AReLU with 1 + σ(β).")
kept.metric("Gradient suppression (x < 0)", f"×{negative_slope:.3f}",
            delta=f"{(negative_slope - 1) * 100:+.1f}% vs identity", delta_color="off",
            help="dF/dx on the negative side: ReLU passes nothing (0), AReLU keeps C(α) of the gradient.")
relu_ratio.metric("Positive / negative slope", f"{positive_slope / negative_slope:.1f} : 1",
                  help="How strongly the sign decides: the attention contrast between the two sides.")

link, why = st.columns([1, 4], vertical_alignment="center")
link.page_link("pages/reproduce.py", label="Is it only the gain?", icon=":material/science:",
               query_params={"experiment": "ablation"})
why.caption("At its start AReLU already multiplies gradients by 1 + σ(β), as a larger learning rate would. The ablation "
            "trains AReLU with α, β frozen, AReLU started as ReLU, and ReLU at 2, 4, 8 × the learning rate.")

# -- F(x) and dF/dx ----------------------------------------------------------------------------
x = explore.grid(x_range)
params = {"arelu": {"alpha": alpha, "beta": beta}}
names = ["arelu"] + list(overlays)
if elsa_base:
    params[elsa_base] = {"alpha": alpha, "beta": beta}
    names.append(elsa_base)
with user_errors("Could not draw the curves"):
    drawn, skipped = explore.curves(names, x, params)
    fig = charts.function_and_derivative()
    positive, negative = x >= 0, x <= 0
    arelu = drawn[0]
    # Shade against the identity: above it on the right is amplification, between it and 0 on the left suppression.
    charts.add_band(fig, x[positive], x[positive], arelu.y[positive], charts.AMPLIFIED, "amplified (x ≥ 0)", 1, True)
    charts.add_band(fig, x[negative], x[negative], arelu.y[negative], charts.SUPPRESSED, "suppressed (x < 0)", 1, True)
    charts.add_band(fig, x[positive], np.ones(positive.sum()), arelu.dy[positive], charts.AMPLIFIED,
                    "amplified (x ≥ 0)", 2, False)
    charts.add_band(fig, x[negative], arelu.dy[negative], np.ones(negative.sum()), charts.SUPPRESSED,
                    "suppressed (x < 0)", 2, False)
    charts.add_identity(fig, x)
    for index, curve in enumerate(drawn):
        is_elsa = resolve_name(curve.name)[1]
        charts.add_curve(fig, x, curve, PALETTE[index % len(PALETTE)], width=3.0 if index == 0 else 1.8,
                         dash="dash" if is_elsa else None)
    st.plotly_chart(fig, key="explore_curves")
    for note in skipped:
        st.caption(f"Skipped {note}.")

# -- what a trained network learned (paper Fig. 2c) ---------------------------------------------------
st.subheader("Learned curves of a trained network")
st.caption("Each MNIST-Conv layer learns its own α and β. Dashed: the curve all three layers started from.")
entries = list_checkpoints()
if not entries:
    st.info("No checkpoint yet. Train one on **Train live** and save it: it appears here.")
else:
    entry = st.selectbox("Checkpoint", entries, index=learnable_first_index(entries), format_func=checkpoint_label,
                         key="explore_checkpoint")
    with user_errors(f"Could not show {entry.path.name}"):
        model, metadata = load_checkpoint_cached(entry.path)
        info = activation_info(model.activation_name)
        if not info.learnable:
            st.info(f"{info.name} has no learnable parameters: every layer keeps the same curve.")
        elif not info.elementwise:
            st.info(f"{info.name} is not element-wise, so it has no 1-D curve to draw.")
        else:
            layers = explore.learned_layer_curves(model, x)
            initial = explore.initial_curve(model.activation_name, metadata.get("activation_params") or {}, x)
            st.plotly_chart(charts.layer_curves_figure(x, layers, initial), key="explore_learned")
            st.dataframe(explore.layer_parameters_table(layers), hide_index=True, width="content")
        accuracy = metadata.get("test_accuracy")
        if isinstance(accuracy, (int, float)):
            st.caption(f"{info.name}, test accuracy {accuracy:.2f}% · {entry.path.name}")
        else:
            st.caption(f"{info.name} · {entry.path.name}")
