"""Table 3 (MAML on MNIST): the official metric and the held-out accuracy beside the paper, per (ways, shots),
with the claims as the data say; our two shipped grids (inner lr 0.005, as the official script ran, and the
0.01 variant) side by side. Registered in reproduce_views.RECORD_VIEWS (run from the CLI only)."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.errors import AReLULabError
from arelu_core.reproduce import NO_DATA, SUPPORTED
from arelu_core.reproduce.meta import table3_comparison
from arelu_core.reproduce.summary import summarise_table3
from ui.common import cell_name
from ui.echarts import draw as draw_chart


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
        names = [cell_name(c) + (f" · {c['inner_lr']:g}" if len(summary.get("inner_lrs", [])) > 1 else "")
                 for c in here]
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


def show_claims(claims: list[dict]) -> None:
    for claim in claims:
        line = f"**{claim['claim']}** — {claim['detail']}"
        if claim.get("paper_verdict"):
            line += f" *(on the paper's own numbers: {claim['paper_verdict']})*"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")


def _plus_minus(value, spread, seeds=None) -> str:
    return "" if value is None else f"{value:.2f} ± {spread or 0:.2f}" + (f" ({seeds} seed{'s' if seeds > 1 else ''})" if seeds else "")


def comparison_table(comparison: dict) -> list[dict]:
    """One row per (setting, activation): the paper, then per inner lr the official metric (± std over seeds)
    and the held-out accuracy (± 95% interval), as text so each pair reads as one number."""
    rows = []
    for row in comparison["rows"]:
        line = {"(N, K)": f"({row['ways']}, {row['shots']})", "activation": cell_name(row), "paper": row["paper"]}
        for lr in comparison["inner_lrs"]:
            c = row["by_inner_lr"].get(f"{lr:g}") or {}
            line[f"official, inner lr {lr:g}"] = _plus_minus(c.get("mean"), c.get("std"), c.get("n"))
            line[f"held-out, inner lr {lr:g}"] = _plus_minus(c.get("test_mean"), c.get("test_ci95"))
        rows.append(line)
    return rows


def show_inner_lrs(key: str) -> None:
    """Our shipped grids at both inner learning rates beside the paper, the claims computed on each."""
    st.subheader("Both inner learning rates, beside the paper")
    st.markdown("The official script (`meta_mnist.sh`) runs `meta_mnist.py` with its argparse default inner "
                "(adaptation) learning rate **0.005**; 0.01 is the unused default of its `main()`. Our shipped grids at "
                "both (`arelu reproduce table3 --compare`): official metric ± std over seeds, held-out ± 95% interval.")
    try:
        comparison = table3_comparison()
    except AReLULabError as exc:
        st.error(str(exc))
        return
    show_claims(comparison["claims"])
    rows = comparison_table(comparison)
    st.dataframe(rows, hide_index=True, key=f"{key}-t3compare", height=36 * (len(rows) + 1) + 4,   # every row shown
                 column_config={"paper": st.column_config.NumberColumn(format="%.2f")})


def show_table3(summary: dict, key: str):
    show_claims(summary["claims"])
    st.markdown("**Official metric**: the best, over the 100 meta-iterations, of the mean query accuracy on that "
                "iteration's 32 meta-training tasks (what the official code prints: optimistic). **Held-out**: "
                "after meta-training, tasks built from MNIST's test digits, adapted the same way (5 SGD steps).")
    fig = table3_figure(summary)
    if fig is not None:
        draw_chart(fig, key=f"{key}-table3")
    devices = sorted({d for d in summary.get("devices", [])})
    table = [{"activation": cell_name(c), "inner lr": c["inner_lr"], "(N, K)": f"({c['ways']}, {c['shots']})",
              "ours (official)": c["mean"],
              "± std": c["std"], "held-out": c["test_mean"], "95% interval ±": c["test_ci95"], "seeds": c["n"],
              "paper": c["paper"], "ours − paper": c["diff"], "s per run": round(c["seconds_per_run"] or 0)}
             for c in summary["cells"]]
    numbers = {column: st.column_config.NumberColumn(format="%.2f") for column in
               ("ours (official)", "± std", "held-out", "95% interval ±", "paper", "ours − paper")}
    st.dataframe(table, hide_index=True, column_config=numbers, key=f"{key}-t3table")
    if devices:
        st.caption("Trained on: " + ", ".join(devices))


def show_records(records: list[dict], key: str) -> None:
    show_inner_lrs(key)
    summary = summarise_table3(records)
    st.subheader("The chosen results file")
    st.caption(f"{summary['runs']} finished runs · {summary['seconds']:.0f} s of meta-training")
    show_table3(summary, key)
