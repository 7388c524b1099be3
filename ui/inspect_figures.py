"""Plotly figures of the Feature maps & Grad-CAM page (drawing only; arelu_core.inspection computes)."""
from __future__ import annotations

import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from arelu_core import activation_info, explore
from arelu_core.errors import AReLULabError
from ui.common import PALETTE, activation_colour

# Inferno, but its first stop "#000004" written as rgb(): Streamlit's frontend rewrites the strings
# "#000001".."#00000N" in a figure (its theme's colour placeholders), which turned 0 pink.
CAM_SCALE = [[i / (len(plotly.colors.sequential.Inferno) - 1), "rgb(0, 0, 4)" if i == 0 else color]
             for i, color in enumerate(plotly.colors.sequential.Inferno)]
STROKES_ON_HEAT = "rgba(120, 200, 255, 0.45)"   # light blue: stands out on Inferno's black and yellow
STROKES_ON_DIFF = "rgba(0, 0, 0, 0.25)"
# Named scales written out: the figures here are built unvalidated (plain dicts), and only plotly.py, not the
# browser's plotly.js, knows names such as "gray" or "RdBu_r".
MAP_SCALE = plotly.colors.get_colorscale("RdBu_r")   # diverging: negatives blue, positives red, 0 white
GRAY_SCALE = plotly.colors.get_colorscale("gray")


def short_name(model) -> str:
    """The model's activation by its display name ("AReLU")."""
    try:
        return activation_info(model.activation_name).name
    except AReLULabError:
        return str(model.activation_name)


def activation_caption(model, block: int) -> str:
    """What a block's activation learned: ELSA's slopes when it has them, else its own parameters."""
    params = model.activation_parameters()[block]
    slopes = explore.attention_slopes(model.activation_name, params)
    if slopes:
        return "learned " + ", ".join(f"{label} = {value:.3f}" for label, value in slopes.items())
    if params:
        return "learned " + ", ".join(f"{key} = {value:.3f}" for key, value in params.items())
    return "no learned parameters"


def _axis(index: int) -> str:
    return "" if index == 1 else str(index)


def _span(low: float, high: float) -> list[float]:
    return [max(0.0, round(low, 9)), min(1.0, round(high, 9))]


def image_grid(rows: int, cols: int, titles: list[str], hspace: float, vspace: float, **layout) -> dict:
    """A plain layout of rows x cols image panels (make_subplots' domains and titles, written out: building it
    through plotly's validated objects took most of this page's script time). Square pixels, row 0 at the top,
    no ticks: a heat map that looks like an image. Panel i (1-based, row by row) draws on axes x{i}, y{i}."""
    width, height = (1 - hspace * (cols - 1)) / cols, (1 - vspace * (rows - 1)) / rows
    grid = {"annotations": [], **layout}
    for row in range(rows):
        top = 1 - row * (height + vspace)
        for col in range(cols):
            index = row * cols + col + 1
            left = col * (width + hspace)
            grid[f"xaxis{_axis(index)}"] = dict(domain=_span(left, left + width), anchor=f"y{_axis(index)}", visible=False,
                                                constrain="domain")
            grid[f"yaxis{_axis(index)}"] = dict(domain=_span(top - height, top), anchor=f"x{_axis(index)}", visible=False,
                                                autorange="reversed", scaleanchor=f"x{_axis(index)}", constrain="domain")
            if index <= len(titles) and titles[index - 1]:
                grid["annotations"].append(dict(text=titles[index - 1], x=left + width / 2, y=top, xref="paper",
                                                 yref="paper", xanchor="center", yanchor="bottom", showarrow=False,
                                                 font=dict(size=14)))
    return grid


def heatmap(panel: int, **properties) -> dict:
    return dict(type="heatmap", xaxis=f"x{_axis(panel)}", yaxis=f"y{_axis(panel)}", **properties)


def plain_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from the plain dicts above, unvalidated (they are built here, not typed in by users)."""
    return go.Figure(data=data, layout=layout, _validate=False)


def digit_figure(pixels: np.ndarray) -> go.Figure:
    return plain_figure([heatmap(1, z=pixels, colorscale=GRAY_SCALE, zmin=0, zmax=1, showscale=False,
                                 hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>")],
                        image_grid(1, 1, [], 0.0, 0.0, height=200, margin=dict(l=0, r=0, t=0, b=0)))


def model_colours(activations: list[str | None]) -> list[str]:
    """Each model in its activation's colour (ui.common.activation_colour); the same activation twice: B grey-blue."""
    colours = [activation_colour(key) for key in activations]
    if len(colours) == 2 and colours[0] == colours[1]:
        colours[1] = PALETTE[5]
    return colours


def probabilities_figure(names: list[str], results: list, class_names=None,
                         activations: list[str | None] | None = None) -> go.Figure:
    """One bar per class and model; class_names (the dataset's) label the bars, else the class numbers.
    activations: each model's, for its colour."""
    classes = list(class_names) if class_names else list(range(len(results[0].probabilities)))
    colours = model_colours(activations or [None] * len(results))
    bars = go.Figure([go.Bar(x=classes, y=result.probabilities, name=name, marker_color=colours[i],
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
    data = []
    for panel, stage in enumerate(("pre", "post"), start=1):
        tiles, channel = mosaic(features[stage], per_row)
        data.append(heatmap(panel, z=tiles, customdata=channel, coloraxis="coloraxis", hoverongaps=False,
                            hovertemplate="channel %{customdata}: %{z:.3f}<extra></extra>"))
    layout = image_grid(2, 1, ["before the activation (after max-pool)", "after the activation"], 0.0, 0.08,
                        coloraxis=dict(colorscale=MAP_SCALE, cmin=-limit, cmax=limit, cmid=0,
                                       colorbar=dict(thickness=10, len=0.8)),
                        height=420, margin=dict(l=0, r=0, t=30, b=0))
    return plain_figure(data, layout)


def _outline(pixels: np.ndarray, panel: int, color: str) -> dict:
    """The digit's strokes as a translucent tint over a map: the map stays readable, the digit visible.
    (A heat map with NaN off the strokes: NaN cells are transparent.)"""
    strokes = np.where(pixels > 0.35, 1.0, np.nan)
    return heatmap(panel, z=strokes, colorscale=[[0, color], [1, color]], showscale=False, hoverinfo="skip")


def cam_figure(comparisons: list, names: list[str], pixels: np.ndarray, spatial: list[bool]) -> go.Figure:
    """Rows: model A, model B, A − B; columns: blocks. The digit's outline over each map.
    spatial[b] False: block b's maps are 1x1, so its CAM says only whether there is evidence, not where."""
    blocks = len(comparisons)
    titles = [f"{row} · block {b + 1}" for row in (names[0], names[1], "A − B") for b in range(blocks)]
    data, notes = [], []
    for col, comparison in enumerate(comparisons, start=1):
        rows = ((comparison.cam_a, "coloraxis", STROKES_ON_HEAT), (comparison.cam_b, "coloraxis", STROKES_ON_HEAT),
                (comparison.difference, "coloraxis2", STROKES_ON_DIFF))
        for row, (z, axis, line) in enumerate(rows, start=1):
            panel = (row - 1) * blocks + col
            if spatial[col - 1]:
                data.append(heatmap(panel, z=z, coloraxis=axis,
                                    hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"))
                data.append(_outline(pixels, panel, line))
                continue
            data.append(heatmap(panel, z=pixels, colorscale=GRAY_SCALE, zmin=0, zmax=1, showscale=False, hoverinfo="skip"))
            evidence = {1: comparison.cam_a, 2: comparison.cam_b}.get(row)
            text = "1×1 maps: no “where”" + ("" if evidence is None else
                                              "<br>evidence for the class: " + ("yes" if evidence.max() > 0 else "no"))
            notes.append(dict(text=text, showarrow=False, x=0.5, y=0.08, xref=f"x{_axis(panel)} domain",
                              yref=f"y{_axis(panel)} domain", font=dict(color="white", size=11),
                              bgcolor="rgba(0,0,0,0.6)"))
    layout = image_grid(3, blocks, titles, 0.03, 0.06,
                        coloraxis=dict(colorscale=CAM_SCALE, cmin=0, cmax=1,
                                       colorbar=dict(title=dict(text="CAM"), thickness=10, len=0.6, y=0.68)),
                        coloraxis2=dict(colorscale=MAP_SCALE, cmin=-1, cmax=1, cmid=0,
                                        colorbar=dict(title=dict(text="A − B"), thickness=10, len=0.3, y=0.14)),
                        height=780, margin=dict(l=0, r=0, t=30, b=0))
    layout["annotations"] += notes
    return plain_figure(data, layout)
