"""Draw the pages' Plotly figures with ECharts (Streamlit's st.echarts_chart), where they translate.

Why: every fresh browser parses Streamlit's Plotly bundle (4.7 MB) before the first chart shows. On the 2-core
CPU one Plotly chart took a bare page from 1.43 s to 2.03 s, one ECharts chart to 1.41 s (docs/ARCHITECTURE.md,
"Notes on measurements"). The figures stay Plotly figures, built and tested as before; `draw` turns the parts
the pages use into an ECharts option: line, marker and band (fill="tonexty") scatters, grouped bars, heat maps
(colour axes, text, NaN gaps; images with square pixels), panels placed by their axis domains, shared, log and
reversed axes, annotations and vertical or horizontal lines (the layout half lives in ui/echarts_panels.py).
Anything else (error bars, box plots, contours, categories on the y axis, ...) makes `to_echarts` return None
and the figure is drawn by Plotly as before: nothing is lost, it is only slower.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import streamlit as st

from ui.echarts_panels import (DASHES, Panels, Untranslatable, add_shapes, annotation_titles, as_array, as_list,
                               plain, rgb, scale_colours, share_matched_ranges, text_of)

SYMBOLS = {"circle": "circle", "diamond": "diamond", "square": "rect", "triangle-up": "triangle", "x": "pin",
           "cross": "pin", "star": "pin"}
PLOTLY_COLOURS = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880"]
LEGEND_ROW_PX, AXIS_TITLE_PX, TITLE_PX = 26, 30, 30
UNSUPPORTED_TRACE_KEYS = ("error_x", "error_y")


def draw(fig, key: str, container=None, **plotly_kwargs) -> None:
    """Show `fig` with ECharts when it translates, else with st.plotly_chart (same key)."""
    target = container if container is not None else st
    option = to_echarts(fig)
    if option is None:
        target.plotly_chart(fig, key=key, **plotly_kwargs)
        return
    height = option.pop("_height")
    target.echarts_chart(option, key=key, height=height)


def to_echarts(fig) -> dict | None:
    try:
        return _translate(fig.to_dict())
    except Untranslatable:
        return None


# ---------------------------------------------------------------- traces

def _scatter(trace: dict, previous: dict | None, grid: int, series_id: int,
             default_colour: str) -> tuple[dict | None, str | None]:
    """(the series, the stack its band shares with the previous trace's series, or None)."""
    x, y = as_list(trace.get("x")), as_list(trace.get("y"))
    if not y:
        return None, None
    if not x:
        x = list(range(len(y)))
    mode = trace.get("mode") or ("lines+markers" if len(y) < 20 else "lines")
    line, marker = trace.get("line") or {}, trace.get("marker") or {}
    colour = line.get("color") or marker.get("color") or default_colour
    if not isinstance(colour, str):
        raise Untranslatable("a colour per point")
    series: dict = {"type": "line", "xAxisIndex": grid, "yAxisIndex": grid, "name": trace.get("name") or "",
                    "data": [[a, b] for a, b in zip(x, y)], "connectNulls": False, "animation": False}
    if "lines" in mode:
        width = line.get("width", 2)
        series["lineStyle"] = {"color": colour, "width": width, "type": DASHES.get(line.get("dash") or "", "solid")}
        if width == 0:
            series["lineStyle"]["opacity"] = 0
    else:
        series["lineStyle"] = {"opacity": 0}
    series["itemStyle"] = {"color": marker.get("color") if isinstance(marker.get("color"), str) else colour}
    if "markers" in mode:
        series.update(showSymbol=True, symbol=SYMBOLS.get(marker.get("symbol") or "circle", "circle"),
                      symbolSize=marker.get("size", 6))
        border = marker.get("line") or {}
        if border.get("color"):
            series["itemStyle"].update(borderColor=border["color"], borderWidth=border.get("width", 1))
    else:
        series["showSymbol"] = False
        series["symbol"] = "none"
    if "text" in mode:
        raise Untranslatable("text mode")
    if trace.get("hoverinfo") == "skip":
        series.update(silent=True, tooltip={"show": False})
    fill = trace.get("fill")
    if fill == "tonexty":
        if previous is None or as_list(previous.get("x")) != x:
            raise Untranslatable("a band whose edges have different x")
        lower = as_list(previous.get("y"))
        stack = f"band{series_id}"
        series["data"] = [[a, None if b is None or lo is None else b - lo] for a, b, lo in zip(x, y, lower)]
        fill_colour = trace.get("fillcolor") or colour
        series.update(stack=stack, stackStrategy="all", areaStyle={"color": fill_colour, "opacity": 1},
                      itemStyle={"color": fill_colour}, silent=True, tooltip={"show": False})
        series["lineStyle"] = {"opacity": 0}
        return series, stack          # the caller marks the lower edge's series with the same stack
    if fill not in (None, "none"):
        raise Untranslatable(f"fill {fill!r}")
    return series, None


def _bar(trace: dict, grid: int, default_colour: str) -> dict:
    if trace.get("orientation") == "h":
        raise Untranslatable("horizontal bars")
    marker = trace.get("marker") or {}
    colour = marker.get("color") or default_colour
    item = {"color": colour} if isinstance(colour, str) else {}
    data = as_list(trace.get("y"))
    if not isinstance(colour, str):
        data = [{"value": v, "itemStyle": {"color": c}} for v, c in zip(data, colour)]
    return {"type": "bar", "xAxisIndex": grid, "yAxisIndex": grid, "name": trace.get("name") or "", "data": data,
            "itemStyle": item, "animation": False}


def _heatmap(trace: dict, grid: int) -> tuple[dict, list, list]:
    z = np.asarray(as_array(trace.get("z")), dtype=float)
    if z.ndim != 2:
        raise Untranslatable("a heat map that is not 2-D")
    rows, cols = z.shape
    xs = [str(v) for v in as_list(trace.get("x"))] or [str(j) for j in range(cols)]
    ys = [str(v) for v in as_list(trace.get("y"))] or [str(i) for i in range(rows)]
    text = as_array(trace.get("text"))
    data = []
    for i in range(rows):
        for j in range(cols):
            value = z[i, j]
            if not math.isfinite(value):
                continue
            item: Any = [j, i, round(float(value), 6)]
            if text is not None and trace.get("texttemplate"):
                item = {"value": item, "label": {"show": True, "formatter": text_of(text[i][j]), "lineHeight": 15}}
            data.append(item)
    series = {"type": "heatmap", "xAxisIndex": grid, "yAxisIndex": grid, "name": trace.get("name") or "",
              "data": data, "animation": False, "progressive": 0}
    if trace.get("hoverinfo") == "skip":
        series.update(silent=True, tooltip={"show": False})
    return series, xs, ys


def _colour_axis(trace: dict, layout: dict) -> tuple[str, dict]:
    """(a key naming the colour axis, its spec: colorscale, cmin, cmax, showscale)."""
    axis = trace.get("coloraxis")
    if axis:
        spec = layout.get(axis, {})
        return axis, {"scale": spec.get("colorscale"), "min": spec.get("cmin"), "max": spec.get("cmax"),
                      "show": spec.get("showscale", True) is not False, "bar": spec.get("colorbar") or {}}
    return "", {"scale": trace.get("colorscale") or "Viridis", "min": trace.get("zmin"), "max": trace.get("zmax"),
                "show": trace.get("showscale", True) is not False, "bar": trace.get("colorbar") or {}}


# ---------------------------------------------------------------- the figure

def _translate(figure: dict) -> dict:
    data, layout = figure.get("data", []), figure.get("layout", {})
    for trace in data:
        if trace.get("type", "scatter") not in ("scatter", "scattergl", "bar", "heatmap") or \
                any(trace.get(k) for k in UNSUPPORTED_TRACE_KEYS) or trace.get("visible") is False:
            raise Untranslatable(trace.get("type"))
        if trace.get("type") == "bar" and layout.get("barmode") not in (None, "group"):
            raise Untranslatable("stacked bars")
    height = int(layout.get("height") or 450)
    margin = layout.get("margin") or {}
    title = text_of(layout.get("title"))
    legend_names = [t.get("name") for t in data if t.get("name") and t.get("showlegend", True) is not False
                    and t.get("type", "scatter") != "heatmap"]
    legend_names = list(dict.fromkeys(legend_names))
    show_legend = layout.get("showlegend", True) is not False and len(legend_names) > (0 if any(
        t.get("showlegend") for t in data) else 1)
    legend = layout.get("legend") or {}
    legend_on_top = (legend.get("y") or 0) > 1
    # ECharts wraps the legend to the chart's width: guess the rows from the names' length (~700 px a row)
    legend_rows = math.ceil(sum(6.5 * len(n) + 45 for n in legend_names) / 700) if show_legend else 0
    any_x_title = any(text_of(v.get("title")) for k, v in layout.items() if k.startswith("xaxis") and isinstance(v, dict))
    top = int(margin.get("t", 30)) + (TITLE_PX if title else 0) + (legend_rows * LEGEND_ROW_PX if legend_on_top else 0)
    bottom = int(margin.get("b", 20)) + (AXIS_TITLE_PX if any_x_title else 0) + (
        0 if legend_on_top else legend_rows * LEGEND_ROW_PX)
    colour_bars = any(t.get("type") == "heatmap" and _colour_axis(t, layout)[1]["show"] for t in data)
    panels = Panels(layout, height, top, bottom, right_pc=10 if colour_bars else 0)
    series, visual_maps, colour_axes = [], [], {}
    square: dict[int, tuple[int, int]] = {}       # image panels: grid -> (rows, cols)
    previous = None
    palette = iter(PLOTLY_COLOURS * 10)
    heat_only = all(t.get("type") == "heatmap" for t in data)
    for trace in data:
        kind = trace.get("type", "scatter")
        xref, yref = trace.get("xaxis", "x"), trace.get("yaxis", "y")
        if kind == "heatmap":
            grid = panels.grid_of(xref, yref, "category", "category")
            one, xs, ys = _heatmap(trace, grid)
            x_axis, y_axis = panels.x_axes[grid], panels.y_axes[grid]
            if x_axis["data"] and (x_axis["data"] != xs or y_axis["data"] != ys):
                raise Untranslatable("heat maps of different shapes on one panel")
            x_axis["data"], y_axis["data"] = xs, ys
            if panels.square_pixels(yref):
                square[grid] = (len(ys), len(xs))
            name, spec = _colour_axis(trace, layout)
            name = name or f"own{len(series)}"
            if name not in colour_axes:
                colour_axes[name] = {"spec": spec, "series": []}
            colour_axes[name]["series"].append(len(series))
            series.append(one)
        else:
            if any(isinstance(v, str) for v in as_list(trace.get("y"))):
                raise Untranslatable("categories on the y axis")
            categorical = any(isinstance(v, str) for v in as_list(trace.get("x"))) or kind == "bar"
            grid = panels.grid_of(xref, yref, "category" if categorical else "value", "value")
            if categorical:
                x_axis = panels.x_axes[grid]
                for v in as_list(trace.get("x")):
                    if str(v) not in x_axis["data"]:
                        x_axis["data"].append(str(v))
                trace = {**trace, "x": [str(v) for v in as_list(trace.get("x"))]}
            colour = next(palette)
            if kind == "bar":
                series.append(_bar(trace, grid, colour))
            else:
                made, stack = _scatter(trace, previous, grid, len(series), colour)
                if stack:                           # a band: its lower edge (the previous series) joins the stack
                    series[-1].update(stack=stack, stackStrategy="all", lineStyle={"opacity": 0}, silent=True,
                                      tooltip={"show": False}, showSymbol=False, symbol="none")
                if made:
                    series.append(made)
        previous = trace
    for item in series:                 # log axes: the data as log10, the tooltip as a power of ten
        if panels.y_axes[item["yAxisIndex"]].get("_log") and item["type"] == "line":
            item["data"] = [[x, math.log10(y) if isinstance(y, (int, float)) and y > 0 else None]
                            for x, y in item["data"]]
            item["tooltip"] = {**item.get("tooltip", {}), "valueFormatter": "1e%.2f"}
    for axis in panels.y_axes:
        axis.pop("_log", None)
    share_matched_ranges(layout, panels, series)
    for name, axis in colour_axes.items():
        spec = axis["spec"]
        colours = scale_colours(spec["scale"])
        low, high = spec["min"], spec["max"]
        if low is None or high is None:
            values = [d["value"][2] if isinstance(d, dict) else d[2] for i in axis["series"] for d in series[i]["data"]]
            low, high = (min(values), max(values)) if values else (0, 1)
        for index in axis["series"]:       # text on a cell: white on dark colours, dark on light ones
            for item in series[index]["data"]:
                if isinstance(item, dict):
                    share = 0.0 if high == low else (item["value"][2] - low) / (high - low)
                    r, g, b, _ = rgb(colours[min(max(int(round(share * (len(colours) - 1))), 0), len(colours) - 1)])
                    item["label"]["color"] = "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else "#1f1f1f"
        bar, inner = spec["bar"], height - top - bottom
        length = float(bar.get("len") or 1.0) * inner * 0.8       # the bar's length, its title above it
        centre = top + (1 - float(bar.get("y") if bar.get("y") is not None else 0.5)) * inner
        bar_title = text_of(bar.get("title"))
        visual_maps.append({"type": "continuous", "min": plain(low), "max": plain(high), "seriesIndex": axis["series"],
                            "inRange": {"color": colours}, "show": spec["show"], "calculable": False,
                            "orient": "vertical", "right": 0, "top": max(0, round(centre - length / 2)),
                            "itemWidth": 10, "itemHeight": max(40, round(length - 20)),
                            "text": [bar_title, ""] if bar_title else None, "precision": 2})
    option: dict = {"_height": height, "animation": False, "grid": panels.grids, "xAxis": panels.x_axes,
                    "yAxis": panels.y_axes, "series": series,
                    "tooltip": {"trigger": "item" if heat_only or any(s["type"] == "bar" for s in series) else "axis",
                                "confine": True, "valueFormatter": "%.4g"}}
    if visual_maps:
        option["visualMap"] = visual_maps
    if show_legend:
        option["legend"] = {"type": "plain", "data": legend_names, ("top" if legend_on_top else "bottom"):
                            (int(margin.get("t", 30)) if legend_on_top else 0), "left": 0, "icon": "roundRect"}
    titles = ([{"text": title, "left": 0, "top": 6, "textStyle": {"fontSize": 16}}] if title else [])
    notes, anchored = annotation_titles(layout, panels)
    first_note = len(titles)
    titles += notes
    if titles:
        option["title"] = titles
    add_shapes(layout, panels, series)
    if square:                          # the page's width decides the size of a square pixel
        moving = [(first_note + index, panels.index[(xref, yref)], x, y, lift)
                  for index, xref, yref, x, y, lift in anchored if (xref, yref) in panels.index]
        height = option.pop("_height")
        option = {"_height": height, "baseOption": option, "media": panels.media(square, moving)}
    return option
