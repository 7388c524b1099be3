"""ui/echarts.py draws Plotly figures with ECharts: every number the Plotly figure holds must reach the
ECharts option unchanged (the oracle is the Plotly figure itself), and what it cannot draw goes to Plotly."""
import json
import math

import numpy as np
import plotly.graph_objects as go
import pandas as pd
import pytest

from arelu_core import explore
from ui import charts
from ui.echarts import to_echarts
from ui.flow_figures import per_layer_figure, statistics_figure
from ui.inspect_figures import cam_figure, digit_figure, probabilities_figure


def _explore_figure():
    x = explore.grid(4.0)
    drawn, _ = explore.curves(["arelu", "relu"], x, {"arelu": {"alpha": 0.9, "beta": 2.0}})
    fig = charts.function_and_derivative()
    negative = x <= 0
    charts.add_band(fig, x[negative], x[negative], drawn[0].y[negative], charts.SUPPRESSED, "suppressed", 1, True)
    charts.add_identity(fig, x)
    for curve in drawn:
        charts.add_curve(fig, x, curve, "#d1495b")
    return fig, x, drawn


def test_curves_reach_echarts_point_for_point_on_their_own_panel():
    fig, x, drawn = _explore_figure()
    option = to_echarts(fig)
    json.dumps(option)                                    # plain JSON: what st.echarts_chart accepts
    lines = [s for s in option["series"] if s.get("name") in ("AReLU", "ReLU")]
    assert len(lines) == 4                                # F and dF/dx of each
    arelu_f, arelu_df = [s for s in lines if s["name"] == "AReLU"]
    assert (arelu_f["xAxisIndex"], arelu_df["xAxisIndex"]) == (0, 1)
    np.testing.assert_array_equal([p[0] for p in arelu_f["data"]], x)
    np.testing.assert_array_equal([p[1] for p in arelu_f["data"]], drawn[0].y)
    np.testing.assert_array_equal([p[1] for p in arelu_df["data"]], drawn[0].dy)
    assert len(option["grid"]) == 2 and option["xAxis"][0]["type"] == "value"


def test_a_band_stacks_back_to_its_upper_edge_even_below_zero():
    fig, x, drawn = _explore_figure()
    option = to_echarts(fig)
    lower, band = option["series"][0], option["series"][1]
    assert lower["stack"] == band["stack"] and lower["stackStrategy"] == band["stackStrategy"] == "all"
    negative = x <= 0
    tops = [lo[1] + b[1] for lo, b in zip(lower["data"], band["data"])]
    np.testing.assert_allclose(tops, drawn[0].y[negative], rtol=0, atol=1e-12)
    assert min(b[1] for b in band["data"]) >= 0 and max(lo[1] for lo in lower["data"]) <= 0
    assert band["areaStyle"]["color"] == charts.SUPPRESSED == band["itemStyle"]["color"]   # the legend's swatch too


def test_log_axes_become_powers_of_ten():
    table = pd.DataFrame({"label": ["ReLU"] * 3, "activation": ["relu"] * 3, "layer": [1, 2, 3],
                          "weight_grad_norm": [1e-9, 1e-4, 0.5]})
    option = to_echarts(per_layer_figure(table, "weight_grad_norm", "norms", log_y=True))
    ys = [p[1] for p in option["series"][0]["data"]]
    np.testing.assert_allclose(ys, [-9, -4, math.log10(0.5)])
    assert option["yAxis"][0]["axisLabel"]["formatter"] == "1e{value}"


def test_subplots_keep_their_panels_and_ranges():
    rows = pd.DataFrame({"label": ["ReLU"] * 2, "activation": ["relu"] * 2, "layer": [1, 2], "mean": [0.1, 0.2],
                         "std": [1.0, 0.5], "frac_zero": [0.5, 0.4], "frac_negative": [0.0, 0.0]})
    option = to_echarts(statistics_figure(rows))
    assert len(option["grid"]) == 4
    assert [t["text"] for t in option["title"]] == ["mean of the outputs", "standard deviation",
                                                    "fraction exactly zero", "fraction negative"]
    bottom = [a for a in option["yAxis"] if a.get("min") == -0.02]
    assert len(bottom) == 2 and all(a["max"] == 1.02 for a in bottom)
    tops = sorted({g["top"] for g in option["grid"]})
    assert len(tops) == 2                                 # two rows of two


def test_a_heat_map_keeps_every_finite_cell_and_its_colour_range():
    z = np.arange(12, dtype=float).reshape(3, 4)
    z[1, 2] = np.nan
    fig = go.Figure(go.Heatmap(z=z, x=list("abcd"), y=["r1", "r2", "r3"], zmin=0, zmax=12, colorscale="Blues",
                               text=[[f"{v:g}" for v in row] for row in z], texttemplate="%{text}"))
    fig.add_shape(type="rect", x0=-0.5, x1=3.5, y0=1.5, y1=2.5, line={"color": "#d1495b", "width": 3})
    option = to_echarts(fig)
    json.dumps(option)
    cells = {tuple(item["value"][:2]): item for item in option["series"][0]["data"]}
    assert len(cells) == 11 and (2, 1) not in cells       # the NaN cell is a gap
    for (j, i), item in cells.items():
        assert item["value"][2] == z[i, j] and item["label"]["formatter"] == f"{z[i, j]:g}"
    assert option["xAxis"][0]["data"] == list("abcd") and option["yAxis"][0]["data"] == ["r1", "r2", "r3"]
    assert option["visualMap"][0]["min"] == 0 and option["visualMap"][0]["max"] == 12
    outlined = {key for key, item in cells.items() if "itemStyle" in item}
    assert outlined == {(j, 2) for j in range(4)}         # the rectangle's row, every column
    assert cells[(3, 2)]["label"]["color"] == "#ffffff"     # 11 of 12: dark blue, white text
    assert cells[(0, 0)]["label"]["color"] == "#1f1f1f"     # 0: near white, dark text


def test_an_image_keeps_row_0_at_the_top_and_no_axes():
    pixels = np.zeros((28, 28))
    pixels[3, 5] = 0.75
    option = to_echarts(digit_figure(pixels))["baseOption"]
    assert option["yAxis"][0]["inverse"] is True and not option["yAxis"][0]["show"] and not option["xAxis"][0]["show"]
    assert [5, 3, 0.75] in option["series"][0]["data"] and len(option["series"][0]["data"]) == 28 * 28
    assert option["visualMap"][0]["show"] is False      # showscale=False: no colour bar


def test_image_pixels_stay_square_at_every_page_width():
    comparison = type("C", (), {"cam_a": np.random.rand(28, 28), "cam_b": np.random.rand(28, 28),
                                "difference": np.random.rand(28, 28) - 0.5})   # CAMs come at the image size
    figure = cam_figure([comparison, comparison], ["A", "B"], np.random.rand(28, 28), [True, False])  # block 2: 1x1
    option = to_echarts(figure)
    base, media = option["baseOption"], option["media"]
    assert len(base["grid"]) == 6 and [m["query"]["minWidth"] for m in media] == list(range(160, 2001, 40))
    for entry in media:
        width = entry["query"]["minWidth"]
        for grid in entry["option"]["grid"]:
            assert abs(grid["width"] - grid["height"]) < 0.2                     # square cells (28 x 28 maps)
            assert 0 <= grid["left"] and grid["left"] + grid["width"] <= width + 0.1   # inside the chart
        lefts = sorted(g["left"] for g in entry["option"]["grid"])
        assert lefts[0] < lefts[-1]                                           # two columns side by side
        moved = [t for t in entry["option"]["title"] if t]                   # the 1x1 notes follow their image
        assert len(moved) == 3
        for note in moved:
            grid = next(g for g in entry["option"]["grid"] if g["left"] <= note["left"] <= g["left"] + g["width"]
                        and g["top"] <= note["top"] <= g["top"] + g["height"])
            assert grid["left"] + grid["width"] / 2 == pytest.approx(note["left"], abs=0.2)   # centred, inside


def test_grouped_bars_and_category_axes():
    result = type("R", (), {"probabilities": np.array([0.1, 0.7, 0.2])})
    option = to_echarts(probabilities_figure(["A", "B"], [result, result], activations=["relu", "arelu"]))
    assert [s["type"] for s in option["series"]] == ["bar", "bar"]
    assert option["xAxis"][0]["type"] == "category" and option["xAxis"][0]["data"] == ["0", "1", "2"]
    np.testing.assert_allclose(option["series"][1]["data"], [0.1, 0.7, 0.2])
    assert option["yAxis"][0]["min"] == 0 and option["yAxis"][0]["max"] == 1


@pytest.mark.parametrize("figure", [
    go.Figure(go.Bar(x=["a"], y=[1], error_y={"type": "data", "array": [0.1]})),
    go.Figure(go.Box(y=[1, 2, 3])),
    go.Figure(go.Contour(z=[[1, 2], [3, 4]])),
    go.Figure(go.Scatter(x=[1.5, -0.5], y=["SGD 1e-3", "Adam 1e-2"], mode="markers")),   # categories on y
])
def test_what_it_cannot_draw_is_left_to_plotly(figure):
    assert to_echarts(figure) is None


def test_the_pages_draw_with_echarts_and_fall_back_to_plotly():
    from streamlit.testing.v1 import AppTest

    def page():
        import plotly.graph_objects as go
        from ui.echarts import draw
        draw(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), key="fast")
        draw(go.Figure(go.Box(y=[1, 2, 3])), key="slow")

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert len(at.get("echarts_chart")) == 1 and len(at.get("plotly_chart")) == 1


def test_shared_y_axes_share_one_range():
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True)
    fig.add_trace(go.Scatter(x=[1, 2], y=[10, 97]), row=1, col=1)
    fig.add_trace(go.Scatter(x=[1, 2], y=[9, 70]), row=1, col=2)
    ranges = [(axis["min"], axis["max"]) for axis in to_echarts(fig)["yAxis"]]
    assert ranges == [(0, 100), (0, 100)]                   # both panels read on one scale, as in Plotly


def test_a_colour_bar_title_stays_on_its_bar():
    fig = go.Figure(go.Heatmap(z=[[1, 2], [3, 4]], colorbar={"title": {"text": "accuracy (%)"}}))
    option = to_echarts(fig)
    assert option["visualMap"][0]["text"] == ["accuracy (%)", ""] and "title" not in option   # no chart title
