"""Train live's charts: built from plain dicts, light enough to redraw every few seconds during a race.

What a redraw costs is mostly the browser's (Plotly re-renders the whole figure it is sent) and then the
server's (building and serialising it), so the live view sends few points per trace (downsampled to
MAX_POINTS, the last point always kept) and the page redraws the charts less often than the job cards
(see CHART_SECONDS in pages/train_live.py).
"""
from __future__ import annotations

import plotly.graph_objects as go

from arelu_core import runs
from ui.common import activation_colour

MAX_POINTS = 300          # per trace: a chart some 600 px wide shows no more
PARAMETER_POINTS = 150    # per layer and parameter (~50 reports an epoch)


def panels_layout(titles: list[str], height: int) -> dict:
    """Side-by-side panels written out as a plain layout. With make_subplots and trace-by-trace updates a
    redraw of two races cost about 85 ms of server time on two busy cores, built in one go like this about
    35 ms (measured)."""
    gap = 0.07
    width = (1 - gap * (len(titles) - 1)) / len(titles)
    layout = {"height": height, "margin": dict(l=10, r=10, t=40, b=10), "annotations": [],
              "legend": dict(orientation="h", y=-0.22), "uirevision": "race"}  # uirevision: keep the user's zoom
    for index, title in enumerate(titles):
        suffix, left = str(index + 1) if index else "", index * (width + gap)
        layout[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}", title=dict(text="step"))
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}")
        layout["annotations"].append(dict(text=title, x=left + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=14)))
    return layout


def live_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, unvalidated: plotly's validation was the largest single cost of a redraw
    in the server (py-spy), and these dicts are built by the functions below, not by users."""
    return go.Figure(data=data, layout=layout, _validate=False)


def job_colours(jobs) -> list[str]:
    """Each job in its activation's colour (ui.common.activation_colour, as on every page)."""
    return [activation_colour(job.config.activation) for job in jobs]


def job_dashes(jobs) -> list[str]:
    """The same activation raced twice (two settings): its second line dashed, its third dotted."""
    seen: dict[str, int] = {}
    dashes = []
    for job in jobs:
        seen[job.config.activation] = seen.get(job.config.activation, -1) + 1
        dashes.append(["solid", "dash", "dot"][seen[job.config.activation] % 3])
    return dashes


def trace(panel: int, **properties) -> dict:
    suffix = str(panel) if panel > 1 else ""
    return dict(type="scatter", xaxis=f"x{suffix}", yaxis=f"y{suffix}", **properties)


def loss_and_accuracy_figure(jobs, progresses) -> go.Figure:
    data = []
    for job, progress, color, dash in zip(jobs, progresses, job_colours(jobs), job_dashes(jobs)):
        steps = runs.downsample(progress.steps, MAX_POINTS)
        live = runs.downsample(progress.live, MAX_POINTS)
        data += [
            trace(1, x=steps["step"].tolist(), y=steps["loss"].tolist(), name=job.label, legendgroup=job.id,
                  line=dict(color=color, width=1.5, dash=dash)),
            trace(2, x=live["step"].tolist(), y=live["accuracy"].tolist(), name=job.label, legendgroup=job.id,
                  showlegend=False, line=dict(color=color, dash=dash)),
            trace(2, x=progress.epochs["step"].tolist(), y=progress.epochs["test_accuracy"].tolist(), mode="markers",
                  name=job.label, legendgroup=job.id, showlegend=False, customdata=progress.epochs["epoch"].tolist(),
                  marker=dict(color=color, size=11, symbol="diamond", line=dict(color="white", width=1)),
                  hovertemplate="epoch %{customdata}: %{y:.2f}%<extra></extra>"),
        ]
    layout = panels_layout(["Training loss per step", "Test accuracy (%)"], height=380)
    layout["yaxis2"]["range"] = [0, 100]
    return live_figure(data, layout)


def parameters_figure(jobs, progresses) -> go.Figure | None:
    """Paper Fig. 2b: each layer's learnable scalars as training moves them (α and β first)."""
    names = []
    for progress in progresses:
        names += [name for name in progress.params["param"].unique() if name not in names]
    if not names:
        return None
    names = sorted(names, key=lambda name: (name not in ("alpha", "beta"), name != "alpha"))[:4]
    dashes = ["solid", "dash", "dot"]
    data = []
    for job, progress, color in zip(jobs, progresses, job_colours(jobs)):
        for panel, name in enumerate(names, start=1):
            rows = progress.params[progress.params["param"] == name]
            for layer, layer_rows in rows.groupby("layer"):
                layer_rows = runs.downsample(layer_rows, PARAMETER_POINTS)
                data.append(trace(panel, x=layer_rows["step"].tolist(), y=layer_rows["value"].tolist(), mode="lines",
                                  name=f"{job.label} layer {layer}", legendgroup=f"{job.id}-{layer}",
                                  showlegend=panel == 1, line=dict(color=color, dash=dashes[(layer - 1) % 3])))
    return live_figure(data, panels_layout([{"alpha": "α", "beta": "β"}.get(n, n) for n in names], 340))
