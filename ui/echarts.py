"""Draw the pages' Plotly figures with ECharts (Streamlit's st.echarts_chart), where they translate.

Why: in a fresh browser, Streamlit's Plotly bundle (4.7 MB) costs about a second before the first chart
shows, its ECharts bundle (1.2 MB) a fifth of that (scripts/page_timings.py). The figures stay Plotly
figures, built and tested as before; `draw` turns the parts the pages use into an ECharts option: line,
marker and band (fill="tonexty") scatters, bars, heat maps (colour axes, text, NaN gaps; images with square
pixels, through ECharts' media queries on the chart's width), panels placed by
their axis domains, log axes, reversed axes, paper/domain annotations and vertical or horizontal lines.
Anything else (error bars, box plots, contours, ...) returns None from `to_echarts` and the figure is drawn
by Plotly as it always was, so nothing is lost, it is only slower.
"""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import streamlit as st

DASHES = {"dash": "dashed", "dot": "dotted", "dashdot": "dashed", "longdash": "dashed", "longdashdot": "dashed"}
SYMBOLS = {"circle": "circle", "diamond": "diamond", "square": "rect", "triangle-up": "triangle", "x": "pin",
           "cross": "pin", "star": "pin"}
NAMED_SCALES = {"Blues": ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"],
                "Greys": ["#ffffff", "#d9d9d9", "#969696", "#525252", "#000000"],
                "Viridis": ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                            "#b5de2b", "#fde725"]}
PLOTLY_COLOURS = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880"]
LEGEND_ROW_PX, AXIS_TITLE_PX, TITLE_PX = 26, 30, 30
UNSUPPORTED_TRACE_KEYS = ("error_x", "error_y")


class Untranslatable(Exception):
    """The figure uses something this module does not draw: Plotly draws it."""


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


# ---------------------------------------------------------------- values

def _plain(value: Any):
    """JSON-safe scalars: numpy types to Python, NaN and inf to None (a gap)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _array(values):
    """Plotly 6 writes numeric arrays as {"dtype", "bdata" (base64), "shape"}: back to numpy."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        shape = values.get("shape")
        if shape:
            array = array.reshape([int(n) for n in str(shape).split(",")] if isinstance(shape, str) else shape)
        return array
    return values


def _list(values) -> list:
    values = _array(values)
    if values is None:
        return []
    if isinstance(values, np.ndarray):
        values = values.tolist()
    return [_plain(v) for v in values]


def _rgb(colour: str) -> tuple[float, float, float, float]:
    colour = colour.strip()
    if colour.startswith("#"):
        h = colour[1:]
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0
    if colour.startswith("rgb"):
        parts = [float(p) for p in colour[colour.index("(") + 1:colour.index(")")].split(",")]
        return parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0
    raise Untranslatable(f"colour {colour!r}")


def _scale_colours(scale, steps: int = 11) -> list[str]:
    """A Plotly colour scale ([[position, colour], ...] or a name) as evenly spaced colours."""
    if isinstance(scale, str):
        if scale not in NAMED_SCALES:
            raise Untranslatable(f"colour scale {scale!r}")
        return NAMED_SCALES[scale]
    stops = [(float(p), _rgb(c)) for p, c in scale]
    colours = []
    for k in range(steps):
        t = k / (steps - 1)
        for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
            if p0 <= t <= p1:
                f = 0.0 if p1 == p0 else (t - p0) / (p1 - p0)
                r, g, b, a = (c0[i] + f * (c1[i] - c0[i]) for i in range(4))
                colours.append(f"rgba({r:.0f},{g:.0f},{b:.0f},{a:.3f})")
                break
    return colours


def _text(value) -> str:
    text = value.get("text", "") if isinstance(value, dict) else (value or "")
    return str(text).replace("<br>", "\n").replace("<b>", "").replace("</b>", "")


# ---------------------------------------------------------------- axes and panels

def _axis_key(ref: str, letter: str) -> str:
    """'x2' -> 'xaxis2', 'x' -> 'xaxis'."""
    return f"{letter}axis{ref[1:]}"


class Panels:
    """Plotly's axes (each x anchored to a y) as ECharts grids with one x and one y axis each."""

    def __init__(self, layout: dict, height: int, top: int, bottom: int, right_pc: float = 0.0):
        self.layout, self.height, self.top, self.bottom = layout, height, top, bottom
        self.span = 97 - right_pc          # percent of the width the panels share (the rest: colour bars)
        self.index: dict[tuple[str, str], int] = {}
        self.grids, self.x_axes, self.y_axes = [], [], []

    def domain(self, ref: str, letter: str) -> list[float]:
        return list(self.layout.get(_axis_key(ref, letter), {}).get("domain") or [0.0, 1.0])

    def box(self, xref: str, yref: str) -> tuple[float, float, float, float]:
        """(left %, width %, top px, height px) of a panel."""
        (x0, x1), (y0, y1) = self.domain(xref, "x"), self.domain(yref, "y")
        inner = self.height - self.top - self.bottom
        return 1 + self.span * x0, self.span * (x1 - x0), self.top + (1 - y1) * inner, (y1 - y0) * inner

    def square_pixels(self, yref: str) -> bool:
        """Plotly's image panels tie their y scale to their x scale (scaleanchor): one data unit, one size."""
        return bool(self.layout.get(_axis_key(yref, "y"), {}).get("scaleanchor"))

    def media(self, shapes: dict[int, tuple[int, int]], notes: list[tuple[int, int, float, float, float]],
              widths=range(160, 2001, 40)) -> list[dict]:
        """ECharts media overrides that keep image pixels square: the chart's height is fixed but its width is
        the page's, so for each width from 160 px in 40 px steps, each image panel (grid -> (rows, cols)) is
        placed in px as large as its box allows, centred across and at the top of its box. Notes placed in a
        panel's domain (title index, grid, x, y, lift in px) move with it."""
        pairs = {grid: pair for pair, grid in self.index.items()}
        overrides = []
        for width in widths:
            placed = {}
            for number, (rows, cols) in shapes.items():
                left_pc, width_pc, top, height = self.box(*pairs[number])
                room = width_pc / 100 * width
                cell = min(room / cols, height / rows)
                placed[number] = (left_pc / 100 * width + (room - cell * cols) / 2, top, cell * cols, cell * rows)
            grids = [{} if n not in placed else {"left": round(placed[n][0], 1), "top": round(placed[n][1], 1),
                                                 "width": round(placed[n][2], 1), "height": round(placed[n][3], 1),
                                                 "containLabel": False} for n in range(len(self.grids))]
            titles = [{} for _ in range(max((n[0] for n in notes), default=-1) + 1)]
            for index, number, x, y, lift in notes:
                if number in placed:
                    left, top, w, h = placed[number]
                    titles[index] = {"left": round(left + w * x, 1), "top": max(0, round(top + h * (1 - y) - lift))}
            overrides.append({"query": {"minWidth": width},
                              "option": {"grid": grids, **({"title": titles} if titles else {})}})
        return overrides

    def grid_of(self, xref: str, yref: str, x_type: str, y_type: str) -> int:
        pair = (xref, yref)
        if pair in self.index:
            return self.index[pair]
        left, width, top, height = self.box(xref, yref)
        if _text(self.layout.get(_axis_key(yref, "y"), {}).get("title")):   # room for the y axis's title
            left, width = left + 3, width - 3
        number = len(self.grids)
        self.grids.append({"left": f"{left:.2f}%", "width": f"{width:.2f}%", "top": round(top), "height": round(height),
                           "containLabel": True})
        self.x_axes.append(self._axis(self.layout.get(_axis_key(xref, "x"), {}), x_type, number, "x"))
        self.y_axes.append(self._axis(self.layout.get(_axis_key(yref, "y"), {}), y_type, number, "y"))
        self.index[pair] = number
        return number

    @staticmethod
    def _axis(spec: dict, kind: str, grid: int, letter: str) -> dict:
        axis: dict = {"gridIndex": grid, "type": kind, "show": spec.get("visible", True) is not False}
        if spec.get("type") == "log":   # drawn as log10 on a value axis: ECharts writes 1e-9 as 0.000000001
            axis.update(type="value", _log=True, minInterval=1, axisLabel={"formatter": "1e{value}"})
        if kind == "category":
            axis["data"] = []
        title = _text(spec.get("title"))
        if title:
            axis.update(name=title, nameLocation="middle", nameGap=34 if letter == "x" else 44)
        if letter == "x" and spec.get("side") == "top":
            axis["position"] = "top"
        if spec.get("autorange") == "reversed":
            axis["inverse"] = True
        rng = spec.get("range")
        if rng and axis["type"] != "category":
            low, high = rng
            axis.update(min=_plain(low), max=_plain(high))
        axis["splitLine"] = {"show": kind != "category"}
        axis["scale"] = axis["type"] == "value" and not rng
        return axis


# ---------------------------------------------------------------- traces

def _scatter(trace: dict, previous: dict | None, grid: int, series_id: int,
             default_colour: str) -> tuple[dict | None, str | None]:
    """(the series, the stack its band shares with the previous trace's series, or None)."""
    x, y = _list(trace.get("x")), _list(trace.get("y"))
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
        if previous is None or _list(previous.get("x")) != x:
            raise Untranslatable("a band whose edges have different x")
        lower = _list(previous.get("y"))
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
    data = _list(trace.get("y"))
    if not isinstance(colour, str):
        data = [{"value": v, "itemStyle": {"color": c}} for v, c in zip(data, colour)]
    return {"type": "bar", "xAxisIndex": grid, "yAxisIndex": grid, "name": trace.get("name") or "", "data": data,
            "itemStyle": item, "animation": False}


def _heatmap(trace: dict, grid: int) -> tuple[dict, list, list]:
    z = np.asarray(_array(trace.get("z")), dtype=float)
    if z.ndim != 2:
        raise Untranslatable("a heat map that is not 2-D")
    rows, cols = z.shape
    xs = [str(v) for v in _list(trace.get("x"))] or [str(j) for j in range(cols)]
    ys = [str(v) for v in _list(trace.get("y"))] or [str(i) for i in range(rows)]
    text = _array(trace.get("text"))
    data = []
    for i in range(rows):
        for j in range(cols):
            value = z[i, j]
            if not math.isfinite(value):
                continue
            item: Any = [j, i, round(float(value), 6)]
            if text is not None and trace.get("texttemplate"):
                item = {"value": item, "label": {"show": True, "formatter": _text(text[i][j]), "lineHeight": 15}}
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
    title = _text(layout.get("title"))
    legend_names = [t.get("name") for t in data if t.get("name") and t.get("showlegend", True) is not False
                    and t.get("type", "scatter") != "heatmap"]
    legend_names = list(dict.fromkeys(legend_names))
    show_legend = layout.get("showlegend", True) is not False and len(legend_names) > (0 if any(
        t.get("showlegend") for t in data) else 1)
    legend = layout.get("legend") or {}
    legend_on_top = (legend.get("y") or 0) > 1
    # ECharts wraps the legend to the chart's width: guess the rows from the names' length (~700 px a row)
    legend_rows = math.ceil(sum(6.5 * len(n) + 45 for n in legend_names) / 700) if show_legend else 0
    any_x_title = any(_text(v.get("title")) for k, v in layout.items() if k.startswith("xaxis") and isinstance(v, dict))
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
            if any(isinstance(v, str) for v in _list(trace.get("y"))):
                raise Untranslatable("categories on the y axis")
            categorical = any(isinstance(v, str) for v in _list(trace.get("x"))) or kind == "bar"
            grid = panels.grid_of(xref, yref, "category" if categorical else "value", "value")
            if categorical:
                x_axis = panels.x_axes[grid]
                for v in _list(trace.get("x")):
                    if str(v) not in x_axis["data"]:
                        x_axis["data"].append(str(v))
                trace = {**trace, "x": [str(v) for v in _list(trace.get("x"))]}
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
    _share_matched_ranges(layout, panels, series)
    for name, axis in colour_axes.items():
        spec = axis["spec"]
        colours = _scale_colours(spec["scale"])
        low, high = spec["min"], spec["max"]
        if low is None or high is None:
            values = [d["value"][2] if isinstance(d, dict) else d[2] for i in axis["series"] for d in series[i]["data"]]
            low, high = (min(values), max(values)) if values else (0, 1)
        for index in axis["series"]:       # text on a cell: white on dark colours, dark on light ones
            for item in series[index]["data"]:
                if isinstance(item, dict):
                    share = 0.0 if high == low else (item["value"][2] - low) / (high - low)
                    r, g, b, _ = _rgb(colours[min(max(int(round(share * (len(colours) - 1))), 0), len(colours) - 1)])
                    item["label"]["color"] = "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else "#1f1f1f"
        bar, inner = spec["bar"], height - top - bottom
        length = float(bar.get("len") or 1.0) * inner * 0.8       # the bar's length, its title above it
        centre = top + (1 - float(bar.get("y") if bar.get("y") is not None else 0.5)) * inner
        bar_title = _text(bar.get("title"))
        visual_maps.append({"type": "continuous", "min": _plain(low), "max": _plain(high), "seriesIndex": axis["series"],
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
    notes, anchored = _annotations(layout, panels)
    first_note = len(titles)
    titles += notes
    if titles:
        option["title"] = titles
    _lines(layout, panels, series)
    if square:                          # the page's width decides the size of a square pixel
        moving = [(first_note + index, panels.index[(xref, yref)], x, y, lift)
                  for index, xref, yref, x, y, lift in anchored if (xref, yref) in panels.index]
        height = option.pop("_height")
        option = {"_height": height, "baseOption": option, "media": panels.media(square, moving)}
    return option


def _share_matched_ranges(layout: dict, panels: Panels, series: list[dict]) -> None:
    """Plotly's shared axes (make_subplots(shared_yaxes=True): yaxis2.matches = "y") as one explicit range on
    each of them, from all their data, rounded outwards to the data's order of magnitude."""
    groups: dict[str, list[int]] = {}
    for (_, yref), grid in panels.index.items():
        spec = layout.get(_axis_key(yref, "y"), {})
        if panels.y_axes[grid]["type"] == "value" and "min" not in panels.y_axes[grid]:
            groups.setdefault(spec.get("matches") or yref, []).append(grid)
    for grids in groups.values():
        if len(grids) < 2:
            continue
        values = [point[1] for item in series if item["yAxisIndex"] in grids and item["type"] == "line"
                  for point in item["data"] if isinstance(point[1], (int, float))]
        if not values:
            continue
        low, high = min(values), max(values)
        step = 10 ** math.floor(math.log10(high - low)) if high > low else 1
        for grid in grids:
            panels.y_axes[grid].update(min=math.floor(low / step) * step, max=math.ceil(high / step) * step, scale=False)


def _annotations(layout: dict, panels: Panels) -> tuple[list[dict], list[tuple[int, str, str, float, float, float]]]:
    """Paper- or domain-placed annotations (panel titles, notes) as ECharts titles; and for the domain-placed
    ones (index among these titles, xref, yref, x, y, lift in px) so a media override can move them."""
    out, anchored = [], []
    for note in layout.get("annotations") or []:
        xref, yref = note.get("xref", "x"), note.get("yref", "y")
        if xref == "paper" and yref == "paper":
            x, y = note.get("x", 0.5), note.get("y", 1.0)
            left = 1 + panels.span * x
            top = panels.top + (1 - y) * (panels.height - panels.top - panels.bottom)
        elif xref.endswith(" domain") and yref.endswith(" domain"):
            left_pc, width_pc, top_px, height_px = panels.box(xref.split()[0], yref.split()[0])
            left = left_pc + width_pc * note.get("x", 0.5)
            top = top_px + height_px * (1 - note.get("y", 0.5))
        else:
            raise Untranslatable("an annotation at data coordinates")
        font = note.get("font") or {}
        anchor_bottom = note.get("yanchor", "bottom" if yref == "paper" else "middle")
        size = font.get("size", 13)
        lines = _text(note).count("\n") + 1
        lift = (size + 6) * lines if anchor_bottom == "bottom" else (size + 6) * lines / 2
        top -= lift
        if xref.endswith(" domain"):
            anchored.append((len(out), xref.split()[0], yref.split()[0], note.get("x", 0.5), note.get("y", 0.5), lift))
        out.append({"text": _text(note), "left": f"{left:.2f}%", "top": max(0, round(top)),
                    "textAlign": {"left": "left", "right": "right"}.get(note.get("xanchor"), "center"),
                    "textStyle": {"fontSize": size, "fontWeight": "normal", "color": font.get("color", "#31333f"),
                                  "lineHeight": size + 4},
                    "backgroundColor": note.get("bgcolor", "transparent"), "padding": 3})
    return out, anchored


def _lines(layout: dict, panels: Panels, series: list[dict]) -> None:
    """Vertical and horizontal lines (add_vline, add_hline) as mark lines on the first series of their panel;
    a rectangle on a heat map outlines the cells inside it. Other shapes: Plotly."""
    for shape in layout.get("shapes") or []:
        xref = shape.get("xref", "x").split()[0]
        yref = shape.get("yref", "y").split()[0]
        grid = panels.index.get((xref, yref))
        if grid is None:            # a shape placed by its x axis alone
            grid = next((g for (x, _), g in panels.index.items() if x == xref), None)
        target = next((item for item in series if item["xAxisIndex"] == grid), None)
        if target is None:
            raise Untranslatable("a shape on no panel")
        line = shape.get("line") or {}
        style = {"color": line.get("color", "grey"), "type": DASHES.get(line.get("dash") or "", "solid"),
                 "width": line.get("width", 1)}
        if shape.get("type") == "line" and shape.get("x0") == shape.get("x1") and "domain" in shape.get("yref", "") + "paper":
            mark = target.setdefault("markLine", {"symbol": "none", "silent": True, "label": {"show": False}, "data": []})
            mark["data"].append({"xAxis": _plain(shape["x0"]), "lineStyle": style})
        elif shape.get("type") == "line" and shape.get("y0") == shape.get("y1"):
            mark = target.setdefault("markLine", {"symbol": "none", "silent": True, "label": {"show": False}, "data": []})
            mark["data"].append({"yAxis": _plain(shape["y0"]), "lineStyle": style})
        elif shape.get("type") == "rect" and target["type"] == "heatmap":   # outline the cells inside it
            xs, ys = sorted((shape["x0"], shape["x1"])), sorted((shape["y0"], shape["y1"]))
            for k, item in enumerate(target["data"]):
                value = item["value"] if isinstance(item, dict) else item
                if xs[0] < value[0] < xs[1] and ys[0] < value[1] < ys[1]:
                    item = item if isinstance(item, dict) else {"value": value}
                    item["itemStyle"] = {"borderColor": style["color"], "borderWidth": style["width"]}
                    target["data"][k] = item
        else:
            raise Untranslatable(f"shape {shape.get('type')}")
