"""The Reproduce page's ablation view ("Is it only the gain?") and its small run form.

Everything shown comes from arelu_core.reproduce.ablation.summarise_ablation: cells per variant and setting,
and per setting the three claims with their paired 95% intervals.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.activations import activation_info
from arelu_core.explore import amplification, clamped_alpha
from arelu_core.reproduce.ablation import LR_MULTIPLES
from arelu_core.reproduce.claims import NO_DATA, SUPPORTED
from ui.common import PALETTE
from ui.echarts import draw as draw_chart

VERDICT_MARK = {SUPPORTED: "✓", NO_DATA: "·"}


def _initial_curve_text() -> str:
    defaults = activation_info("arelu").defaults
    return (f"AReLU starts as a fixed two-slope curve: slope C(α) = {clamped_alpha(defaults['alpha']):.2f} below zero and "
            f"1 + σ(β) = {amplification(defaults['beta']):.2f} above (α = {defaults['alpha']:g}, β = {defaults['beta']:g}). "
            "Through MNIST-Conv's three activations that multiplies the gradient reaching the early layers, as a larger "
            "learning rate does. So is Table 1's speed at small learning rates the learned attention, or that gain?")


def variants_table(summary: dict) -> pd.DataFrame:
    """Rows: variants (display names); columns: settings; 'mean ± std (n)' per cell."""
    names = {v["key"]: v["name"] for v in summary["variants"]}
    settings = list(dict.fromkeys(c["setting"] for c in summary["cells"]))
    rows = {}
    for c in summary["cells"]:
        text = "diverged" if c["mean"] is None else f"{c['mean']:.2f} ± {c['std']:.2f}" + (f" (n={c['n']})" if c["n"] != 5 else "")
        if c["diverged"] and c["mean"] is not None:
            text += f", {c['diverged']} diverged"
        rows.setdefault(names[c["variant"]], dict.fromkeys(settings, ""))[c["setting"]] = text
    ordered = [names[key] for key in names if names[key] in rows]
    return pd.DataFrame([{"variant": name, **rows[name]} for name in ordered])


def learned_table(summary: dict) -> pd.DataFrame:
    """α, β of each layer after the epoch (mean over seeds), per AReLU variant and setting: how far learning moved them."""
    rows = []
    for c in summary["cells"]:
        if c.get("final_alpha_beta"):
            rows.append({"setting": c["setting"], "variant": c["name"],
                         **{f"layer {i + 1} (α, β)": f"{layer['alpha']:.3f}, {layer['beta']:.3f}"
                            for i, layer in enumerate(c["final_alpha_beta"])}})
    return pd.DataFrame(rows)


def claims_table(summary: dict) -> pd.DataFrame:
    """One row per setting: each claim's verdict and its interval (difference of paired means, 95%)."""
    rows: dict[str, dict] = {}
    for claim in summary["claims"]:
        row = rows.setdefault(claim["setting"], {"setting": claim["setting"]})
        figures, mark = claim["figures"], VERDICT_MARK.get(claim["verdict"], "✗")
        if claim["id"].startswith("abl_learned"):
            row["learning α/β beats the frozen curve"] = f"{mark} " + (
                _interval(figures) if "ci95" in figures else claim["verdict"])
        elif claim["id"].startswith("abl_relu_lr"):
            first = next((p for p in figures.get("per_k", []) if p["matches"]), None)
            row["ReLU at k× lr matches AReLU"] = f"{mark} " + (f"at ×{first['k']}: {_interval(first)}" if first else
                                                              "no k of " + ", ".join(f"×{p['k']}" for p in figures["per_k"])
                                                              if figures.get("per_k") else claim["verdict"])
        else:
            row["AReLU started as ReLU catches up"] = f"{mark} " + (
                _interval(figures) if "ci95" in figures else claim["verdict"])
    return pd.DataFrame(list(rows.values()))


def _interval(figures: dict) -> str:
    low, high = figures["ci95"]
    return f"{figures['diff']:+.2f} [{low:+.2f}, {high:+.2f}]"


def intervals_figure(summary: dict) -> go.Figure | None:
    """Forest plot per setting: AReLU − frozen, ReLU×k − AReLU (k = 2, 4, 8), started-as-ReLU − AReLU, 95% CI."""
    series = [("AReLU − frozen", "abl_learned", None), *((f"ReLU×{k} − AReLU", "abl_relu_lr", k) for k in LR_MULTIPLES),
              ("from ReLU − AReLU", "abl_from_relu", None)]
    settings = list(dict.fromkeys(c["setting"] for c in summary["claims"] if c["verdict"] != NO_DATA))
    if not settings:
        return None
    fig = make_subplots(rows=1, cols=len(series), subplot_titles=[s[0] for s in series], shared_yaxes=True)
    drawn = False
    for col, (label, prefix, k) in enumerate(series, start=1):
        xs, lows, highs, ys = [], [], [], []
        for claim in summary["claims"]:
            if not claim["id"].startswith(prefix):
                continue
            figures = claim["figures"]
            if k is not None:
                figures = next((p for p in figures.get("per_k", []) if p["k"] == k and p.get("ci95")), {})
            if figures.get("ci95"):
                xs.append(figures["diff"])
                lows.append(figures["diff"] - figures["ci95"][0])
                highs.append(figures["ci95"][1] - figures["diff"])
                ys.append(claim["setting"])
        if xs:
            drawn = True
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker={"color": PALETTE[col % len(PALETTE)], "size": 9},
                                     error_x={"type": "data", "symmetric": False, "array": highs, "arrayminus": lows},
                                     name=label, showlegend=False,
                                     hovertemplate="%{y}: %{x:+.2f} points<extra>" + label + "</extra>"), row=1, col=col)
        fig.add_vline(x=0, line_dash="dot", line_color="grey", row=1, col=col)
    if not drawn:
        return None
    fig.update_yaxes(categoryorder="array", categoryarray=settings[::-1])
    fig.update_xaxes(title_text="points")
    fig.update_layout(height=140 + 34 * len(settings), margin={"t": 50, "b": 10})
    return fig


def show(summary: dict, records: list[dict], key: str) -> None:
    st.markdown(_initial_curve_text())
    copied = f" ({summary['copied']} of them Table 1's own AReLU and ReLU runs)" if summary["copied"] else ""
    st.caption(f"{summary['runs']} finished runs{copied} · {summary['seconds']:.0f} s of training · one epoch, batch 128; "
               "the same seed gives every variant the same initial weights and batch order, so differences are "
               "paired over seeds (mean and 95% t-interval, in accuracy points).")
    with st.expander("The variants"):
        st.dataframe(pd.DataFrame([{"variant": v["name"], "what": v["description"]} for v in summary["variants"]]),
                     hide_index=True, key=f"{key}-abl-variants")
    st.markdown("**Test accuracy after one epoch (%)**, mean ± std over seeds")
    st.dataframe(variants_table(summary), hide_index=True, key=f"{key}-abl-table")
    st.markdown("**The claims, per setting**: difference of paired means [95% interval], in points; ✓ supported, ✗ not, "
                "· not enough data. ReLU matches AReLU at the smallest k whose interval reaches 0 (AReLU's lead not "
                "resolved) with no run diverged.")
    st.dataframe(claims_table(summary), hide_index=True, key=f"{key}-abl-claims")
    fig = intervals_figure(summary)
    if fig is not None:
        draw_chart(fig, key=f"{key}-abl-intervals")
    learned = learned_table(summary)
    if not learned.empty:
        with st.expander("Where α and β went: each layer's values after the epoch (mean over seeds)"):
            st.dataframe(learned, hide_index=True, key=f"{key}-abl-learned")
    with st.expander("Every claim in words"):
        for claim in summary["claims"]:
            st.markdown(f"- **{claim['verdict']}**: {claim['claim']}: {claim['detail']}")


def form(spec, subsets: dict) -> dict | None:
    """The settings of a small live ablation (inside the caller's st.form); run_experiment's kwargs."""
    c1, c2 = st.columns(2)
    names = {v.key: v.name for v in spec.variants}
    variants = c1.multiselect("Variants", list(names), default=["arelu", "arelu-frozen", "relu", "relu-lr4"],
                              format_func=names.get, key="abl_variants")
    optimizers = c2.multiselect("Optimizers", list(spec.optimizers), default=["sgd"], key="abl_optimizers",
                                format_func=lambda o: "SGD (momentum 0.9)" if o == "sgd" else "Adam")
    lrs = c2.multiselect("Learning rates", list(spec.lrs), default=[1e-3], format_func=lambda lr: f"{lr:.0e}",
                         key="abl_lrs")
    seeds = c1.number_input("Seeds per cell (2 or more for an interval)", 1, 5, 2, key="abl_seeds")
    subset = subsets[c1.selectbox("Training digits", list(subsets), key="abl_subset")]
    return dict(variants=variants, optimizers=optimizers, lrs=sorted(lrs, reverse=True),
                seeds=list(range(int(seeds))), epochs=1, train_subset=subset)
