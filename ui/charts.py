"""Plotly figures shared by the pages (drawing only; the numbers come from arelu_core)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from arelu_core.explore import Curve, LayerCurve

AMPLIFIED = "rgba(102, 161, 130, 0.28)"    # green: gradient and output made larger than identity
SUPPRESSED = "rgba(48, 99, 142, 0.22)"     # blue: negatives kept but scaled down
REFERENCE = dict(color="#9aa0a6", dash="dot", width=1.5)
LAYER_COLORS = ["#1b9e77", "#d95f02", "#7570b3"]  # layers 1-3, apart from the per-activation palette


def function_and_derivative(height: int = 430) -> go.Figure:
    """Two panels, F(x) and dF/dx, as a plain layout (make_subplots and row/col traces cost a large part of
    Explore's script time); the add_* helpers below draw on panel 1 or 2."""
    gap, width = 0.08, (1 - 0.08) / 2
    layout = {"height": height, "margin": dict(l=10, r=10, t=40, b=10), "annotations": [],
              "legend": dict(orientation="h", yanchor="bottom", y=-0.32, x=0)}
    for index, title in enumerate(("F(x)", "dF/dx")):
        suffix, left = str(index + 1) if index else "", index * (width + gap)
        layout[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}", title=dict(text="x"),
                                        zeroline=True)
        layout[f"yaxis{suffix}"] = dict(domain=[0.0, 1.0], anchor=f"x{suffix}")
        layout["annotations"].append(dict(text=title, x=left + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=16)))
    return go.Figure(layout=layout, _validate=False)


def _trace(fig: go.Figure, col: int, **properties) -> None:
    suffix = "2" if col == 2 else ""
    fig.add_trace(go.Scatter(xaxis=f"x{suffix}", yaxis=f"y{suffix}", **properties))


def add_curve(fig: go.Figure, x: np.ndarray, curve: Curve, color: str, width: float = 2.0,
              dash: str | None = None, legendgroup: str | None = None, label: str | None = None) -> None:
    label = label or curve.label
    group = legendgroup or label
    line = dict(color=color, width=width, dash=dash)
    _trace(fig, 1, x=x, y=curve.y, name=label, line=line, legendgroup=group)
    _trace(fig, 2, x=x, y=curve.dy, name=label, line=line, legendgroup=group, showlegend=False)


def add_band(fig: go.Figure, x: np.ndarray, lower: np.ndarray, upper: np.ndarray, color: str, name: str,
             col: int, showlegend: bool) -> None:
    """Shade between two curves: the lower edge is invisible, the upper fills down to it."""
    _trace(fig, col, x=x, y=lower, line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=name)
    _trace(fig, col, x=x, y=upper, line=dict(width=0), fill="tonexty", fillcolor=color, name=name,
           hoverinfo="skip", showlegend=showlegend, legendgroup=name)


def add_identity(fig: go.Figure, x: np.ndarray) -> None:
    _trace(fig, 1, x=x, y=x, name="identity (y = x, slope 1)", line=REFERENCE, hoverinfo="skip", legendgroup="identity")
    _trace(fig, 2, x=x, y=np.ones_like(x), line=REFERENCE, hoverinfo="skip", showlegend=False, legendgroup="identity")


def layer_curves_figure(x: np.ndarray, layers: list[LayerCurve], initial: Curve | None) -> go.Figure:
    """Paper Fig. 2c: the curve each layer learned, over the one they all started from."""
    fig = function_and_derivative()
    add_identity(fig, x)
    if initial is not None:
        add_curve(fig, x, initial, "#222222", width=2.5, dash="dash")
    for index, layer in enumerate(layers):
        add_curve(fig, x, layer.learned, LAYER_COLORS[index % len(LAYER_COLORS)], width=2.0)
    return fig
