"""Table 3 (MAML on MNIST): the official metric and the held-out accuracy beside the paper, per (ways, shots),
with the claims as the data say. Registered in reproduce_views.RECORD_VIEWS (run from the CLI only)."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.reproduce import NO_DATA, SUPPORTED
from arelu_core.reproduce.summary import summarise_table3
from ui.reproduce_views import name


def table3_figure(summary: dict) -> go.Figure | None:
    """Per (ways, shots) panel: per activation the official metric (bar), the held-out accuracy with its
    95% interval (bar + error bar) and the paper's number (marker)."""
    cells = [c for c in summary["cells"] if c["mean"] is not None]
    if not cells:
        return None
    panels = sorted({(c["ways"], c["shots"]) for c in cells})
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True,
                        subplot_titles=[f"{w}-way {k}-shot" for w, k in panels])
    for col, panel in enumerate(panels, start=1):
        here = [c for c in cells if (c["ways"], c["shots"]) == panel]
        names = [name(c["activation"]) for c in here]
        first = col == 1
        fig.add_trace(go.Bar(x=names, y=[c["mean"] for c in here], name="ours: best train-task accuracy (official metric)",
                             marker_color="#4c78a8", legendgroup="mean", showlegend=first,
                             error_y={"type": "data", "array": [c["std"] for c in here]},
                             hovertemplate="%{x}: %{y:.2f}% (mean over seeds ± std)<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Bar(x=names, y=[c["test_mean"] for c in here], name="ours: held-out tasks (95% interval)",
                             marker_color="#72b7b2", legendgroup="test", showlegend=first,
                             error_y={"type": "data", "array": [c["test_ci95"] or 0 for c in here]},
                             hovertemplate="%{x}: %{y:.2f}% on held-out tasks<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=names, y=[c["paper"] for c in here], mode="markers", name="paper (published)",
                                 marker={"symbol": "diamond", "size": 11, "color": "#e45756"}, legendgroup="paper",
                                 showlegend=first, hovertemplate="%{x}: paper %{y:.2f}%<extra></extra>"), row=1, col=col)
    fig.update_yaxes(title_text="query accuracy (%)", col=1, range=[0, 100])
    fig.update_layout(height=430, barmode="group", margin={"t": 40, "b": 10}, legend={"orientation": "h", "y": -0.15})
    return fig


def show_table3(summary: dict, key: str):
    for claim in summary["claims"]:
        line = f"**{claim['claim']}** — {claim['detail']}"
        if claim.get("paper_verdict"):
            line += f" *(on the paper's own numbers: {claim['paper_verdict']})*"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")
    st.markdown("**Official metric**: the best, over the 100 meta-iterations, of the mean query accuracy on that "
                "iteration's 32 meta-training tasks (what the official code prints: optimistic). **Held-out**: "
                "after meta-training, tasks built from MNIST's test digits, adapted the same way (5 SGD steps).")
    fig = table3_figure(summary)
    if fig is not None:
        st.plotly_chart(fig, key=f"{key}-table3")
    devices = sorted({d for d in summary.get("devices", [])})
    table = [{"activation": name(c["activation"]), "(N, K)": f"({c['ways']}, {c['shots']})", "ours (official)": c["mean"],
              "± std": c["std"], "held-out": c["test_mean"], "95% interval ±": c["test_ci95"], "seeds": c["n"],
              "paper": c["paper"], "ours − paper": c["diff"], "s per run": round(c["seconds_per_run"] or 0)}
             for c in summary["cells"]]
    numbers = {column: st.column_config.NumberColumn(format="%.2f") for column in
               ("ours (official)", "± std", "held-out", "95% interval ±", "paper", "ours − paper")}
    st.dataframe(table, hide_index=True, column_config=numbers, key=f"{key}-t3table")
    if devices:
        st.caption("Trained on: " + ", ".join(devices))


def show_records(records: list[dict], key: str) -> None:
    summary = summarise_table3(records)
    st.caption(f"{summary['runs']} finished runs · {summary['seconds']:.0f} s of meta-training")
    show_table3(summary, key)
