"""Explore the function: AReLU's curve and derivative for any α and β, beside other activations,
ELSA on top of any of them, and the curves a trained network learned per layer."""
import numpy as np
import streamlit as st

from arelu_core import activation_info, list_activations
from arelu_core.activations import resolve_name
from arelu_core import explore
from arelu_core.activations.formula import ALPHA_MAX, ALPHA_MIN
from ui import charts
from ui.common import (activation_colour, checkpoint_label, learnable_first_index, list_checkpoints,
                       load_checkpoint_cached, small_table, user_errors)
from arelu_core.reproduce import get_experiment
from ui.links import BIND, titled
from ui.navigation import through_app
from ui.echarts import draw as draw_chart

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

link = titled("Explore the function", "explore")

# -- the two parameters, each with the slope it produces; what to draw beside AReLU ------------------
defaults = activation_info("arelu").defaults
alpha_column, alpha_value, beta_column, beta_value, more_column = st.columns([3, 1.2, 3, 1.2, 2], vertical_alignment="center")
alpha = link.add("explore_alpha", alpha_column.slider(
    "α (raw)", min_value=-0.5, max_value=1.5, value=defaults["alpha"], step=0.01, key="explore_alpha", bind=BIND,
    help=f"Learned per layer. Values outside [{ALPHA_MIN:g}, {ALPHA_MAX:g}] are clamped: try them."), defaults["alpha"])
beta = link.add("explore_beta", beta_column.slider(
    "β (raw)", min_value=-10.0, max_value=10.0, value=defaults["beta"], step=0.1, key="explore_beta", bind=BIND,
    help="Learned per layer. σ(β) squashes any value into (0, 1)."), defaults["beta"])
negative_slope, positive_slope = explore.clamped_alpha(alpha), explore.amplification(beta)
alpha_value.markdown(f"**C(α) = {negative_slope:.3f}**  \nslope, x < 0{' (clamped)' if negative_slope != alpha else ''}")
beta_value.markdown(f"**1 + σ(β) = {positive_slope:.3f}**  \nslope, x ≥ 0")

name_of = lambda key: activation_info(key).name  # noqa: E731
with more_column.popover("Draw beside AReLU", icon=":material/tune:", width="stretch"):
    others = [key for key in list_activations() if key != "arelu"]
    overlays = link.add("explore_overlays", st.multiselect(
        "Other activations", others, default=["relu"], key="explore_overlays", bind=BIND, format_func=name_of,
        help="Drawn with their default parameters."), ["relu"], name_of)
    elsa_format = lambda name: "nothing" if name is None else name_of(name)  # noqa: E731
    elsa_base = link.add("explore_elsa", st.selectbox(
        "Add ELSA (same α, β) to", [None] + explore.elsa_names(include_non_elementwise=True), key="explore_elsa",
        bind=BIND, format_func=elsa_format,
        help="R(x) + ELSA(x): C(α)·x on negatives and σ(β)·x on positives added to R. "
             "ReLU + ELSA is AReLU itself."), None, elsa_format)
    x_range = link.add("explore_range", st.slider("x range ±", 1.0, 10.0, 4.0, 0.5, key="explore_range", bind=BIND), 4.0)
more_column.caption("Beside: " + (", ".join(map(name_of, overlays)) or "nothing")
                    + (f"; {name_of(elsa_base)}" if elsa_base else ""))

gain_link, why = st.columns([1, 4], vertical_alignment="center")
gain_link.page_link("pages/reproduce.py", label="Is it only the gain?", icon=":material/science:",   # the bound menu's label
                    query_params={"reproduce_experiment": get_experiment("ablation").title})
why.caption("At its start AReLU already multiplies gradients by 1 + σ(β), as a larger learning rate would. The ablation "
            "trains AReLU with α, β frozen, AReLU started as ReLU, and ReLU at 2, 4, 8 × the learning rate.")

# -- F(x) and dF/dx ----------------------------------------------------------------------------
x = explore.grid(x_range, points=401)   # 0.02 apart at ±4: smooth to the eye, half the points to draw
params = {"arelu": {"alpha": alpha, "beta": beta}}
names = ["arelu"] + list(overlays)
if elsa_base:
    params[elsa_base] = {"alpha": alpha, "beta": beta}
    names.append(elsa_base)
with user_errors("Could not draw the curves"):
    drawn, skipped = explore.curves(names, x, params)
    fig = charts.function_and_derivative(height=400)
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
        same = index > 0 and explore.same_curve(curve, arelu)
        label = f"{curve.label} (= AReLU)" if same else None
        charts.add_curve(fig, x, curve, activation_colour(curve.name), width=3.0 if index == 0 else 2.2,
                         dash="dash" if is_elsa else None, label=label)
    draw_chart(fig, key="explore_curves")
    st.caption("F(x) = C(α)·x for x < 0 and (1 + σ(β))·x for x ≥ 0. The sliders set the raw parameters; the clamp C "
               "and the sigmoid σ turn them into the slopes the network really uses.")
    for curve in drawn[1:]:
        if explore.same_curve(curve, arelu):
            st.caption(f"**{curve.label} is AReLU itself**: its dashed line lies exactly on AReLU's (largest "
                       f"|difference| of F(x) on this grid {explore.largest_difference(curve, arelu):.1e}). ReLU passes x ≥ 0 "
                       "with slope 1 and nothing below; ELSA adds σ(β)·x and C(α)·x, giving 1 + σ(β) and C(α).")
    for note in skipped:
        st.caption(f"Skipped {note}.")

# -- the gradient on each side, beside ReLU's --------------------------------------------------------
gain, kept, relu_ratio = st.columns(3)
gain.metric("Gradient on the positive side (x ≥ 0)", f"×{positive_slope:.3f}",
            delta=f"{(positive_slope - 1) * 100:+.1f}% vs ReLU's ×1",
            help="dF/dx on the positive side: ReLU passes gradients with slope 1, AReLU with 1 + σ(β).")
kept.metric("Gradient on the negative side (x < 0)", f"×{negative_slope:.3f}",
            delta=f"{negative_slope:+.3f} vs ReLU's ×0 (ReLU passes nothing)",
            help="dF/dx on the negative side: ReLU passes nothing (0), AReLU keeps C(α) of the gradient, "
                 "scaled down from the identity's 1 but never zero.")
relu_ratio.metric("Positive / negative slope", f"{positive_slope / negative_slope:.1f} : 1",
                  help="How strongly the sign decides: the attention contrast between the two sides.")

# -- what a trained network learned (paper Fig. 2c) ---------------------------------------------------
st.subheader("Learned curves of a trained network")
st.caption("Each MNIST-Conv layer learns its own α and β. Dashed: the curve all three layers started from.")
entries = list_checkpoints()
if not entries:
    st.info("No checkpoint yet. Train one on **Train live** and save it: it appears here.")
    link.expect("explore_checkpoint")
else:
    first = learnable_first_index(entries)
    entry = link.add("explore_checkpoint", st.selectbox(
        "Checkpoint", entries, index=first, format_func=checkpoint_label, key="explore_checkpoint", bind=BIND),
        entries[first], checkpoint_label)
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
            draw_chart(charts.layer_curves_figure(x, layers, initial), key="explore_learned")
            small_table(explore.layer_parameters_table(layers), "{:.4f}")
        accuracy = metadata.get("test_accuracy")
        if isinstance(accuracy, (int, float)):
            st.caption(f"{info.name}, test accuracy {accuracy:.2f}% · {entry.path.name}")
        else:
            st.caption(f"{info.name} · {entry.path.name}")
link.render()
