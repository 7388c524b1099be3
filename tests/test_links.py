"""The view is the link: every page's settings in the URL (Streamlit's bind="query-params"), a link to copy,
and a hand-edited or stale URL shown with its defaults and one note, never an exception. Also the one colour
per activation that every page draws with."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from arelu_core import gradient_flow as flow
from arelu_core.activations import list_activations
from arelu_core.reproduce import evaluate_claims
from ui.common import FIXED_COLOURS, activation_colour
from ui.links import _same, url_values

APP = Path(__file__).resolve().parents[1] / "app.py"
RUN_TIMEOUT = 180


@pytest.fixture(autouse=True)
def isolated(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))     # only the shipped checkpoints are listed
    monkeypatch.chdir(tmp_path)                                       # no results/ of a developer's own runs


def open_page(page: str, params: dict) -> AppTest:
    """The page as a shared link opens it: a new session whose first run has these query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def notes(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith("This link asks for settings")]


def link_of(at: AppTest) -> str:
    return at.code[-1].value


# ------------------------------------------------------------------------------- the helpers

def test_url_values_write_what_streamlit_reads():
    assert url_values(0.5) == ["0.5"] and url_values(20) == ["20"] and url_values(0.1 + 0.2) == ["0.3"]
    assert url_values(["relu", "tanh"], str.upper) == ["RELU", "TANH"]
    assert url_values(None, lambda v: "nothing" if v is None else v) == ["nothing"]
    assert _same(["0.50"], ["0.5"]) and _same(["AReLU"], ["AReLU"])
    assert not _same(["7"], ["0.9"]) and not _same(["x", "y"], ["x"]) and not _same(["abc"], ["0.9"])


def test_one_colour_per_activation():
    colours = {key: activation_colour(key) for key in list_activations()}
    assert colours["arelu"] == FIXED_COLOURS["arelu"] and colours["relu"] == FIXED_COLOURS["relu"]
    assert activation_colour("relu+elsa") == colours["relu"]          # ELSA on a base: the base's colour (dashed)
    assert len(set(colours.values())) == len(colours)                   # every registered activation its own
    assert activation_colour("no-such-activation") not in colours.values()


# ------------------------------------------------------------------------------- good links

def test_explore_link_sets_the_view_and_reproduces_itself():
    params = {"explore_alpha": "0.5", "explore_beta": "-1.5", "explore_overlays": ["Tanh", "ReLU"],
              "explore_elsa": "ReLU+ELSA", "explore_range": "6"}
    at = open_page("pages/explore.py", params)
    assert not notes(at)
    assert [s.value for s in at.slider][:2] == [0.5, -1.5] and at.slider(key="explore_range").value == 6.0
    assert at.multiselect(key="explore_overlays").value == ["tanh", "relu"]
    assert at.selectbox(key="explore_elsa").value == "relu+elsa"
    assert any("ReLU+ELSA is AReLU itself" in c.value.replace("**", "") for c in at.caption)
    link = link_of(at)
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            assert f"{key}={v.replace('+', '%2B')}" in link, (key, link)
    again = open_page("pages/explore.py", dict(_query(link)))                    # the copied link, reopened
    assert link_of(again) == link and not notes(again)


def _query(link: str):
    from urllib.parse import parse_qs, urlsplit
    return {key: values if len(values) > 1 else values[0] for key, values in parse_qs(urlsplit(link).query).items()}


def test_explore_metric_compares_the_negative_side_with_relu():
    at = open_page("pages/explore.py", {})
    negative = next(m for m in at.metric if m.label.startswith("Gradient on the negative side"))
    assert negative.value == "×0.900" and "vs ReLU's ×0" in negative.delta and negative.delta.startswith("+")


def test_gradient_flow_link_and_kaiming_explosion_said_on_the_page():
    at = open_page("pages/gradient_flow.py", {"flow_activations": ["ReLU", "AReLU"], "flow_init": "Kaiming (He)"})
    assert not notes(at)
    assert at.multiselect(key="flow_activations").value == ["relu", "arelu"]
    said = " ".join(w.value for w in at.warning)
    assert "AReLU explodes" in said and "ReLU explodes" not in said.replace("AReLU explodes", "")
    assert "flow_init=Kaiming+%28He%29" in link_of(at)


def test_feature_maps_link_opens_the_resnet_pair():
    at = open_page("pages/inspect_digit.py", {"inspect_dataset": "Fashion-MNIST"})
    resnet_relu = next(o for o in at.selectbox(key="inspect_model_a").options if o.startswith("ResNet-18 ReLU"))
    at = open_page("pages/inspect_digit.py", {"inspect_dataset": "Fashion-MNIST", "inspect_model_a": resnet_relu})
    assert not notes(at) and not at.error
    assert at.selectbox(key="inspect_model_b").value.title.startswith("ResNet-18 AReLU")
    assert "inspect_model_a=ResNet-18+ReLU" in link_of(at)


def test_reproduce_link_picks_the_experiment():
    at = open_page("pages/reproduce.py", {"reproduce_experiment": "Figure 3: accuracy per epoch at small learning rates"})
    assert not notes(at) and at.selectbox(key="reproduce_experiment").value == "fig3"
    assert "reproduce_experiment=Figure+3" in link_of(at)


# ------------------------------------------------------------------------------- bad links: defaults, one note

BAD = {
    "pages/explore.py": {"explore_alpha": "7", "explore_beta": "abc", "explore_overlays": ["Bogus"],
                         "explore_elsa": "<script>", "explore_checkpoint": "Gone  ·  saved run", "junk": "1"},
    "pages/gradient_flow.py": {"flow_activations": ["Nope"], "flow_depth": "1e9", "flow_init": "xavier",
                               "flow_seed": "-5", "flow_gradient": "up"},
    "pages/inspect_digit.py": {"inspect_dataset": "Klingon", "inspect_model_a": "deleted.pt  ·  saved run",
                               "inspect_cam_method": "magic", "inspect_class": "99", "inspect_sample": "0"},
    "pages/reproduce.py": {"reproduce_experiment": "Table 9", "reproduce_file": "/etc/passwd"},
    "pages/home.py": {"step": "3"},
}
DEFAULTS = {
    "pages/explore.py": lambda at: [s.value for s in at.slider][:3] == [0.9, 2.0, 4.0]
    and at.multiselect(key="explore_overlays").value == ["relu"] and at.selectbox(key="explore_elsa").value is None,
    "pages/gradient_flow.py": lambda at: at.multiselect(key="flow_activations").value == ["relu", "arelu", "tanh", "sigmoid"]
    and at.slider(key="flow_depth").value == 20 and at.selectbox(key="flow_init").value == "pytorch",
    "pages/inspect_digit.py": lambda at: at.segmented_control(key="inspect_dataset").value == "mnist"
    and at.selectbox(key="inspect_model_a").value.activation == "relu"
    and at.selectbox(key="inspect_cam_method").value == "gradcam",
    "pages/reproduce.py": lambda at: at.selectbox(key="reproduce_experiment").value == "table1",
    "pages/home.py": lambda at: True,
}


@pytest.mark.parametrize("page", list(BAD))
def test_a_bad_link_shows_the_defaults_with_one_note(page):
    at = open_page(page, BAD[page])
    assert not at.error, [e.value for e in at.error]
    assert DEFAULTS[page](at)
    said = notes(at)
    assert len(said) == 1, said
    for key in BAD[page]:
        assert f"`{key}" in said[0], (key, said[0])
    at.run()                                    # the next run (a click) does not repeat the note
    assert not notes(at) and not at.exception


# ------------------------------------------------------------------------------- what the pages now say

def test_growth_is_measured_and_matches_the_slopes_under_kaiming():
    config = flow.FlowConfig(init="kaiming")
    table = flow.compare(["relu", "arelu", "tanh"], config)
    grown = flow.growing(table, config)
    assert [g.activation for g in grown] == ["arelu"]
    arelu = grown[0]
    assert arelu.expected_per_layer == pytest.approx(flow.kaiming_gain(1.8808, 0.9), rel=1e-3)
    assert arelu.per_layer == pytest.approx(arelu.expected_per_layer, rel=0.05)      # measured, near the prediction
    assert flow.growing(flow.compare(["relu", "arelu"], flow.FlowConfig()), flow.FlowConfig()) == []


def test_claims_name_activations_and_settings_as_readers_know_them():
    cells = [{"activation": a, "params": {}, "optimizer": "adam", "lr": 0.01, "mean": m, "paper": p, "curve": [m]}
             for a, m, p in (("arelu", 90.0, 91.0), ("slaf", 95.0, 60.0), ("sigmoid", 20.0, 90.0))]
    text = " ".join(c["detail"] for c in evaluate_claims("table1", cells))
    assert "Sigmoid with Adam, lr 0.01" in text and "slaf" not in text and "adam 0.01" not in text


def test_table1_is_coloured_by_accuracy_not_by_the_gap():
    from ui.reproduce_views import heatmap
    cells = [{"activation": a, "params": {}, "optimizer": "sgd", "lr": 1e-3, "mean": m, "paper": p, "diff": m - p}
             for a, m, p in (("relu", 13.0, 36.0), ("arelu", 92.0, 93.0))]
    trace = heatmap({"experiment": "table1", "cells": cells}).data[0]
    assert [row[0] for row in trace.z] == [13.0, 92.0]
    assert trace.text[1][0].startswith("★ 92.0") and "(93.0)" in trace.text[1][0]
    assert trace.customdata[0][0] == "-23.00 points vs the reference"


def test_feature_map_figures_spell_out_their_colour_scales():
    """The Feature maps figures are built unvalidated (fast): a named scale would reach plotly.js, which knows
    neither "gray" nor "RdBu_r" and drew its default instead."""
    import numpy as np
    from ui import inspect_figures as figures
    maps = {"pre": np.linspace(-1, 1, 2 * 4 * 4).reshape(2, 4, 4), "post": np.zeros((2, 4, 4))}
    layout = figures.feature_figure(maps, per_row=2).to_plotly_json()["layout"]
    assert [stop[1] for stop in layout["coloraxis"]["colorscale"]][0] == "rgb(5,48,97)"      # RdBu_r: blue first
    digit = figures.digit_figure(np.zeros((28, 28))).to_plotly_json()["data"][0]
    assert list(digit["colorscale"][0]) == [0.0, "rgb(0, 0, 0)"] and list(digit["colorscale"][-1])[1] == "rgb(254, 254, 253)"
