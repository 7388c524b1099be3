"""Plotly figures shared by the pages (drawing only; the numbers come from arelu_core)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from arelu_core.explore import Curve, LayerCurve

AMPLIFIED = "rgba(102, 161, 130, 0.28)"    # green: gradient and output made larger than identity
SUPPRESSED = "rgba(48, 99, 142, 0.22)"     # blue: negatives kept but scaled down
REFERENCE = dict(color="#9aa0a6", dash="dot", width=1.5)
LAYER_COLORS = ["#1b9e77", "#d95f02", "#7570b3"]  # layers 1-3, apart from the per-activation palette


def function_and_derivative(height: int = 430) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("F(x)", "dF/dx"), horizontal_spacing=0.08)
    fig.update_xaxes(title_text="x", zeroline=True)
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10), height=height,
                      legend=dict(orientation="h", yanchor="bottom", y=-0.32, x=0))
    return fig


def add_curve(fig: go.Figure, x: np.ndarray, curve: Curve, color: str, width: float = 2.0,
              dash: str | None = None, legendgroup: str | None = None, label: str | None = None) -> None:
    label = label or curve.label
    group = legendgroup or label
    line = dict(color=color, width=width, dash=dash)
    fig.add_trace(go.Scatter(x=x, y=curve.y, name=label, line=line, legendgroup=group), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=curve.dy, name=label, line=line, legendgroup=group, showlegend=False),
                  row=1, col=2)


def add_band(fig: go.Figure, x: np.ndarray, lower: np.ndarray, upper: np.ndarray, color: str, name: str,
             col: int, showlegend: bool) -> None:
    """Shade between two curves: the lower edge is invisible, the upper fills down to it."""
    fig.add_trace(go.Scatter(x=x, y=lower, line=dict(width=0), hoverinfo="skip", showlegend=False,
                             legendgroup=name), row=1, col=col)
    fig.add_trace(go.Scatter(x=x, y=upper, line=dict(width=0), fill="tonexty", fillcolor=color, name=name,
                             hoverinfo="skip", showlegend=showlegend, legendgroup=name), row=1, col=col)


def add_identity(fig: go.Figure, x: np.ndarray) -> None:
    fig.add_trace(go.Scatter(x=x, y=x, name="identity (y = x, slope 1)", line=REFERENCE, hoverinfo="skip",
                             legendgroup="identity"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=np.ones_like(x), line=REFERENCE, hoverinfo="skip", showlegend=False,
                             legendgroup="identity"), row=1, col=2)


def layer_curves_figure(x: np.ndarray, layers: list[LayerCurve], initial: Curve | None) -> go.Figure:
    """Paper Fig. 2c: the curve each layer learned, over the one they all started from."""
    fig = function_and_derivative()
    add_identity(fig, x)
    if initial is not None:
        add_curve(fig, x, initial, "#222222", width=2.5, dash="dash")
    for index, layer in enumerate(layers):
        add_curve(fig, x, layer.learned, LAYER_COLORS[index % len(LAYER_COLORS)], width=2.0)
    return fig
