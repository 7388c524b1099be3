"""Plotly figures of the Gradient flow page (drawing only; arelu_core.gradient_flow computes)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.common import activation_colour


def per_layer_figure(table: pd.DataFrame, column: str, title: str, log_y: bool = False) -> go.Figure:
    fig = go.Figure()
    for label, rows in table.groupby("label", sort=False):
        fig.add_trace(go.Scatter(x=rows["layer"], y=rows[column], name=label, mode="lines+markers", marker=dict(size=4),
                                 line=dict(color=activation_colour(rows["activation"].iloc[0]))))
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis_title="layer (1 = next to the input)", legend=dict(orientation="h", y=-0.2))
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def statistics_figure(table: pd.DataFrame) -> go.Figure:
    panels = [("mean", "mean of the outputs"), ("std", "standard deviation"),
              ("frac_zero", "fraction exactly zero"), ("frac_negative", "fraction negative")]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title in panels], vertical_spacing=0.14)
    for label, rows in table.groupby("label", sort=False):
        for panel, (column, _) in enumerate(panels):
            fig.add_trace(go.Scatter(x=rows["layer"], y=rows[column], name=label, legendgroup=label,
                                     showlegend=panel == 0, mode="lines",
                                     line=dict(color=activation_colour(rows["activation"].iloc[0]))),
                          row=panel // 2 + 1, col=panel % 2 + 1)
    fig.update_yaxes(type="log", exponentformat="power", dtick=1, row=1, col=2)  # decades only: no crowded minor labels
    fig.update_yaxes(range=[-0.02, 1.02], row=2)
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.08))
    return fig
