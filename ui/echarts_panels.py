"""ui/echarts.py's layout half: Plotly values and colours as ECharts wants them, Plotly's axes as ECharts
grids (placed by their domains; images kept square through media queries), shared axis ranges, annotations as
titles, and lines and rectangles as mark lines and outlined cells. Anything it cannot place raises
Untranslatable, and the figure is drawn by Plotly."""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

DASHES = {"dash": "dashed", "dot": "dotted", "dashdot": "dashed", "longdash": "dashed", "longdashdot": "dashed"}
NAMED_SCALES = {"Blues": ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"],
                "Greys": ["#ffffff", "#d9d9d9", "#969696", "#525252", "#000000"],
                "Viridis": ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                            "#b5de2b", "#fde725"]}


class Untranslatable(Exception):
    """The figure uses something this module does not draw: Plotly draws it."""


# ---------------------------------------------------------------- values

def plain(value: Any):
    """JSON-safe scalars: numpy types to Python, NaN and inf to None (a gap)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_array(values):
    """Plotly 6 writes numeric arrays as {"dtype", "bdata" (base64), "shape"}: back to numpy."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        shape = values.get("shape")
        if shape:
            array = array.reshape([int(n) for n in str(shape).split(",")] if isinstance(shape, str) else shape)
        return array
    return values


def as_list(values) -> list:
    values = as_array(values)
    if values is None:
        return []
    if isinstance(values, np.ndarray):
        values = values.tolist()
    return [plain(v) for v in values]


def rgb(colour: str) -> tuple[float, float, float, float]:
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


def scale_colours(scale, steps: int = 11) -> list[str]:
    """A Plotly colour scale ([[position, colour], ...] or a name) as evenly spaced colours."""
    if isinstance(scale, str):
        if scale not in NAMED_SCALES:
            raise Untranslatable(f"colour scale {scale!r}")
        return NAMED_SCALES[scale]
    stops = [(float(p), rgb(c)) for p, c in scale]
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


def text_of(value) -> str:
    text = value.get("text", "") if isinstance(value, dict) else (value or "")
    return str(text).replace("<br>", "\n").replace("<b>", "").replace("</b>", "")


# ---------------------------------------------------------------- axes and panels

def axis_key(ref: str, letter: str) -> str:
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
        return list(self.layout.get(axis_key(ref, letter), {}).get("domain") or [0.0, 1.0])

    def box(self, xref: str, yref: str) -> tuple[float, float, float, float]:
        """(left %, width %, top px, height px) of a panel."""
        (x0, x1), (y0, y1) = self.domain(xref, "x"), self.domain(yref, "y")
        inner = self.height - self.top - self.bottom
        return 1 + self.span * x0, self.span * (x1 - x0), self.top + (1 - y1) * inner, (y1 - y0) * inner

    def square_pixels(self, yref: str) -> bool:
        """Plotly's image panels tie their y scale to their x scale (scaleanchor): one data unit, one size."""
        return bool(self.layout.get(axis_key(yref, "y"), {}).get("scaleanchor"))

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
        if text_of(self.layout.get(axis_key(yref, "y"), {}).get("title")):   # room for the y axis's title
            left, width = left + 3, width - 3
        number = len(self.grids)
        self.grids.append({"left": f"{left:.2f}%", "width": f"{width:.2f}%", "top": round(top), "height": round(height),
                           "containLabel": True})
        self.x_axes.append(self._axis(self.layout.get(axis_key(xref, "x"), {}), x_type, number, "x"))
        self.y_axes.append(self._axis(self.layout.get(axis_key(yref, "y"), {}), y_type, number, "y"))
        self.index[pair] = number
        return number

    @staticmethod
    def _axis(spec: dict, kind: str, grid: int, letter: str) -> dict:
        axis: dict = {"gridIndex": grid, "type": kind, "show": spec.get("visible", True) is not False}
        if spec.get("type") == "log":   # drawn as log10 on a value axis: ECharts writes 1e-9 as 0.000000001
            axis.update(type="value", _log=True, minInterval=1, axisLabel={"formatter": "1e{value}"})
        if kind == "category":
            axis["data"] = []
        title = text_of(spec.get("title"))
        if title:
            axis.update(name=title, nameLocation="middle", nameGap=34 if letter == "x" else 44)
        if letter == "x" and spec.get("side") == "top":
            axis["position"] = "top"
        if spec.get("autorange") == "reversed":
            axis["inverse"] = True
        rng = spec.get("range")
        if rng and axis["type"] != "category":
            low, high = rng
            axis.update(min=plain(low), max=plain(high))
        axis["splitLine"] = {"show": kind != "category"}
        axis["scale"] = axis["type"] == "value" and not rng
        return axis


def share_matched_ranges(layout: dict, panels: Panels, series: list[dict]) -> None:
    """Plotly's shared axes (make_subplots(shared_yaxes=True): yaxis2.matches = "y") as one explicit range on
    each of them, from all their data, rounded outwards to the data's order of magnitude."""
    groups: dict[str, list[int]] = {}
    for (_, yref), grid in panels.index.items():
        spec = layout.get(axis_key(yref, "y"), {})
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


def annotation_titles(layout: dict, panels: Panels) -> tuple[list[dict], list[tuple[int, str, str, float, float, float]]]:
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
        lines = text_of(note).count("\n") + 1
        lift = (size + 6) * lines if anchor_bottom == "bottom" else (size + 6) * lines / 2
        top -= lift
        if xref.endswith(" domain"):
            anchored.append((len(out), xref.split()[0], yref.split()[0], note.get("x", 0.5), note.get("y", 0.5), lift))
        out.append({"text": text_of(note), "left": f"{left:.2f}%", "top": max(0, round(top)),
                    "textAlign": {"left": "left", "right": "right"}.get(note.get("xanchor"), "center"),
                    "textStyle": {"fontSize": size, "fontWeight": "normal", "color": font.get("color", "#31333f"),
                                  "lineHeight": size + 4},
                    "backgroundColor": note.get("bgcolor", "transparent"), "padding": 3})
    return out, anchored


def add_shapes(layout: dict, panels: Panels, series: list[dict]) -> None:
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
            mark["data"].append({"xAxis": plain(shape["x0"]), "lineStyle": style})
        elif shape.get("type") == "line" and shape.get("y0") == shape.get("y1"):
            mark = target.setdefault("markLine", {"symbol": "none", "silent": True, "label": {"show": False}, "data": []})
            mark["data"].append({"yAxis": plain(shape["y0"]), "lineStyle": style})
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
