"""The charts an AppTest page shows, whichever library drew them (ui/echarts.py: ECharts, else Plotly)."""
import json


def charts(at) -> list:
    return list(at.get("echarts_chart")) + list(at.get("plotly_chart"))


def series_names(at) -> set[str]:
    """Every named line, bar or map of the page's charts."""
    names = set()
    for chart in at.get("echarts_chart"):
        names |= {s["name"] for s in json.loads(chart.proto.spec)["series"] if s.get("name")}
    for chart in at.get("plotly_chart"):
        names |= {t["name"] for t in json.loads(chart.proto.spec)["data"] if t.get("name")}
    return names
