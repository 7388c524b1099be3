"""Fig. 4 on the Reproduce page: test accuracy per epoch, one panel per deep network, one line per activation.

The summary and the claims are arelu_core.reproduce.fig4's; this module only draws.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.deep_networks import network_info
from arelu_core.reproduce import NO_DATA, SUPPORTED
from arelu_core.reproduce.fig4 import NOTE, summarise_fig4
from ui.common import activation_colour, cell_name
from ui.echarts import draw as draw_chart


def curves(summary: dict) -> go.Figure | None:
    cells = [c for c in summary["cells"] if c["curve"]]
    networks = list(dict.fromkeys(c["network"] for c in cells))
    if not networks:
        return None
    cols = min(3, len(networks))
    rows = -(-len(networks) // cols)
    colour = {a: activation_colour(a) for a in dict.fromkeys(c["activation"] for c in cells)}   # as on every page
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[network_info(n).name for n in networks],
                        shared_yaxes=True, horizontal_spacing=0.05, vertical_spacing=0.16)
    for i, network in enumerate(networks):
        for c in (c for c in cells if c["network"] == network):
            epochs = list(range(1, len(c["curve"]) + 1))
            trace = go.Scatter(x=epochs, y=c["curve"], mode="lines+markers", name=cell_name(c),
                               legendgroup=c["activation"], showlegend=i == 0,
                               line=dict(width=3.5 if c["activation"] == "arelu" else 1.6, color=colour[c["activation"]]),
                               hovertemplate=f"{cell_name(c)}: %{{y:.2f}}% at epoch %{{x}}"
                                             f" (n={c['n']})<extra></extra>")
            fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(title_text="test accuracy (%)", col=1)
    fig.update_layout(height=330 * rows, margin=dict(l=0, r=0, t=40, b=0), )
    return fig


def show_fig4(records: list[dict], key: str = "load") -> None:
    summary = summarise_fig4(records)
    st.caption(f"{summary['runs']} finished runs · {summary['seconds']:.0f} s of training. {NOTE}")
    for claim in summary["claims"]:
        line = f"**{claim['claim']}** — {claim['detail']}"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")
    fig = curves(summary)
    if fig is not None:
        draw_chart(fig, key=f"{key}-fig4")
    settings = {(c["dataset"], c.get("width"), c["epochs"], c.get("train_subset")) for c in summary["cells"]}
    st.caption("Runs of: " + "; ".join(f"{d}, width {w:g}, {e} epochs, "
                                       f"{'all' if s is None else s} training images" for d, w, e, s in sorted(settings, key=str)))
    st.dataframe([{"network": network_info(c["network"]).name, "activation": cell_name(c),
                   "accuracy per epoch": " ".join(f"{v:.1f}" for v in c["curve"]), "final (mean)": c["mean"],
                   "± std": c["std"], "n": c["n"], "diverged": c["diverged"]} for c in summary["cells"]],
                 hide_index=True, key=f"{key}-fig4-table",
                 column_config={"final (mean)": st.column_config.NumberColumn(format="%.2f"),
                                "± std": st.column_config.NumberColumn(format="%.2f")})
