"""Plotly figures of the Feature maps & Grad-CAM page (drawing only; arelu_core.inspection computes)."""
from __future__ import annotations

import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.common import PALETTE

# Inferno, but its first stop "#000004" written as rgb(): Streamlit's frontend rewrites the strings
# "#000001".."#00000N" in a figure (its theme's colour placeholders), which turned 0 pink.
CAM_SCALE = [[i / (len(plotly.colors.sequential.Inferno) - 1), "rgb(0, 0, 4)" if i == 0 else color]
             for i, color in enumerate(plotly.colors.sequential.Inferno)]
STROKES_ON_HEAT = "rgba(120, 200, 255, 0.45)"   # light blue: stands out on Inferno's black and yellow
STROKES_ON_DIFF = "rgba(0, 0, 0, 0.25)"
MAP_SCALE = "RdBu_r"          # diverging: negatives blue, positives red, 0 white (what an activation changes)


def image_axes(fig: go.Figure, rows: int, cols: int) -> None:
    """Square pixels, row 0 at the top, no ticks: a heat map that looks like an image."""
    for index in range(1, rows * cols + 1):
        suffix = "" if index == 1 else str(index)
        fig.update_layout({f"xaxis{suffix}": dict(visible=False, constrain="domain"),
                           f"yaxis{suffix}": dict(visible=False, autorange="reversed", scaleanchor=f"x{suffix}",
                                                  constrain="domain")})


def digit_figure(pixels: np.ndarray) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=pixels, colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"))
    image_axes(fig, 1, 1)
    fig.update_layout(height=200, margin=dict(l=0, r=0, t=0, b=0))
    return fig


def probabilities_figure(names: list[str], results: list, class_names=None) -> go.Figure:
    """One bar per class and model; class_names (the dataset's) label the bars, else the class numbers."""
    classes = list(class_names) if class_names else list(range(len(results[0].probabilities)))
    bars = go.Figure([go.Bar(x=classes, y=result.probabilities, name=name, marker_color=PALETTE[i],
                             hovertemplate="class %{x}: %{y:.2%}<extra>" + name + "</extra>")
                      for i, (name, result) in enumerate(zip(names, results))])
    bars.update_layout(barmode="group", height=240, margin=dict(l=10, r=10, t=10, b=10),
                       xaxis=dict(title="class", type="category"),
                       yaxis=dict(title="probability", range=[0, 1]), legend=dict(orientation="h", y=1.12, x=0))
    return bars


def mosaic(maps: np.ndarray, per_row: int) -> tuple[np.ndarray, np.ndarray]:
    """Channels [C, H, W] tiled per_row to a line with 1-pixel gaps (NaN), and the channel of each pixel."""
    count, h, w = maps.shape
    rows = math.ceil(count / per_row)
    tiles = np.full((rows * (h + 1) - 1, per_row * (w + 1) - 1), np.nan, dtype=np.float32)
    channel = np.full(tiles.shape, -1)
    for k in range(count):
        r, c = divmod(k, per_row)
        tiles[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = maps[k]
        channel[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = k + 1
    return tiles, channel


def feature_figure(features: dict, per_row: int) -> go.Figure:
    """One block's maps before (top) and after (bottom) the activation, on one diverging colour scale."""
    limit = float(max(np.abs(features["pre"]).max(), np.abs(features["post"]).max(), 1e-6))
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.08,
                        subplot_titles=("before the activation (after max-pool)", "after the activation"))
    for row, stage in enumerate(("pre", "post"), start=1):
        tiles, channel = mosaic(features[stage], per_row)
        fig.add_trace(go.Heatmap(z=tiles, customdata=channel, coloraxis="coloraxis", hoverongaps=False,
                                 hovertemplate="channel %{customdata}: %{z:.3f}<extra></extra>"), row=row, col=1)
    image_axes(fig, 2, 1)
    fig.update_layout(coloraxis=dict(colorscale=MAP_SCALE, cmin=-limit, cmax=limit, cmid=0,
                                     colorbar=dict(thickness=10, len=0.8)),
                      height=420, margin=dict(l=0, r=0, t=30, b=0))
    return fig


def _outline(fig: go.Figure, pixels: np.ndarray, row: int, col: int, color: str) -> None:
    """The digit's strokes as a translucent tint over a map: the map stays readable, the digit visible.
    (A heat map with NaN off the strokes: NaN cells are transparent.)"""
    strokes = np.where(pixels > 0.35, 1.0, np.nan)
    fig.add_trace(go.Heatmap(z=strokes, colorscale=[[0, color], [1, color]], showscale=False, hoverinfo="skip"),
                  row=row, col=col)


def cam_figure(comparisons: list, names: list[str], pixels: np.ndarray, spatial: list[bool]) -> go.Figure:
    """Rows: model A, model B, A − B; columns: blocks. The digit's outline over each map.
    spatial[b] False: block b's maps are 1x1, so its CAM says only whether there is evidence, not where."""
    blocks = len(comparisons)
    titles = [f"{row} · block {b + 1}" for row in (names[0], names[1], "A − B") for b in range(blocks)]
    fig = make_subplots(rows=3, cols=blocks, subplot_titles=titles, horizontal_spacing=0.03, vertical_spacing=0.06)
    for col, comparison in enumerate(comparisons, start=1):
        rows = ((comparison.cam_a, "coloraxis", STROKES_ON_HEAT), (comparison.cam_b, "coloraxis", STROKES_ON_HEAT),
                (comparison.difference, "coloraxis2", STROKES_ON_DIFF))
        for row, (z, axis, line) in enumerate(rows, start=1):
            if spatial[col - 1]:
                fig.add_trace(go.Heatmap(z=z, coloraxis=axis, hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"),
                              row=row, col=col)
                _outline(fig, pixels, row, col, line)
                continue
            fig.add_trace(go.Heatmap(z=pixels, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip"),
                          row=row, col=col)
            index = (row - 1) * blocks + col
            evidence = {1: comparison.cam_a, 2: comparison.cam_b}.get(row)
            text = "1×1 maps: no “where”" + ("" if evidence is None else
                                              "<br>evidence for the class: " + ("yes" if evidence.max() > 0 else "no"))
            fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.08, xref=f"x{index} domain",
                               yref=f"y{index} domain", font=dict(color="white", size=11), bgcolor="rgba(0,0,0,0.6)")
    image_axes(fig, 3, blocks)
    fig.update_layout(coloraxis=dict(colorscale=CAM_SCALE, cmin=0, cmax=1,
                                     colorbar=dict(title="CAM", thickness=10, len=0.6, y=0.68)),
                      coloraxis2=dict(colorscale=MAP_SCALE, cmin=-1, cmax=1, cmid=0,
                                      colorbar=dict(title="A − B", thickness=10, len=0.3, y=0.14)),
                      height=780, margin=dict(l=0, r=0, t=30, b=0))
    return fig
