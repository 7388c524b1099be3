"""The Feature maps & Grad-CAM page through streamlit's AppTest, entered as a user enters it: app.py's
st.navigation, then switch_page. It must render with no exception and react to its controls."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from arelu_core import inspection
from charts_shown import charts

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE = "pages/inspect_digit.py"
RUN_TIMEOUT = 180   # seconds per script run: the first one imports torch and pytorch_grad_cam


@pytest.fixture(autouse=True)
def isolated(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))   # only the shipped checkpoints are listed


@pytest.fixture()
def page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error") for e in at.get(kind))


def predictions(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric if m.label.startswith(("A:", "B:"))}


def test_default_view_compares_shipped_relu_and_arelu_on_a_gallery_digit(page):
    assert not page.error
    assert page.selectbox(key="inspect_model_a").value.activation == "relu"
    assert page.selectbox(key="inspect_model_b").value.activation == "arelu"
    assert predictions(page) == {"A: ReLU": "7", "B: AReLU": "7"}          # gallery default: the first 7
    assert "MNIST test digit #0, label 7" in shown(page)
    # digit, probabilities, 2 models x 3 blocks of feature maps, the CAM grid
    assert len(charts(page)) == 1 + 1 + 6 + 1
    assert len(page.tabs) == 3


def test_controls_change_digit_method_stage_and_class(page):
    page.selectbox(key="inspect_class").set_value(3).run()
    page.slider(key="inspect_sample").set_value(4).run()
    assert not page.exception and set(predictions(page).values()) == {"3"}
    gallery = inspection.load_gallery()
    assert f"MNIST test digit #{int(gallery.indices[gallery.of_class(3)[3]])}, label 3" in shown(page)
    for method in inspection.CAM_METHODS:
        page.selectbox(key="inspect_cam_method").set_value(method).run()
        assert not page.exception and not page.error, method
    assert "slowest method" in shown(page)                                  # Score-CAM is last: its warning
    page.radio(key="inspect_cam_stage").set_value("pre").run()
    page.selectbox(key="inspect_cam_class").set_value(5).run()
    assert not page.exception and not page.error
    assert "of class 5" in shown(page)


def test_same_checkpoint_on_both_sides(page):
    page.selectbox(key="inspect_model_b").set_value(page.selectbox(key="inspect_model_a").value).run()
    assert not page.exception and not page.error


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_upload_a_photo_like_digit_and_a_broken_file(page):
    page.segmented_control(key="inspect_source").set_value("Upload").run()
    assert not page.exception and page.info                                # asks for a file
    paper = Image.new("L", (500, 700), 245)
    ImageDraw.Draw(paper).line([(250, 80), (250, 620)], fill=20, width=40)   # a big dark "1" on light paper
    page.file_uploader(key="inspect_upload").upload("one.png", png(paper), "image/png").run()
    assert not page.exception and not page.error
    assert "from one.png" in shown(page) and len(predictions(page)) == 2

    page.file_uploader(key="inspect_upload").clear().upload("broken.png", png(paper)[:300], "image/png").run()
    assert not page.exception
    assert len(page.error) == 1 and page.error[0].value.startswith("Cannot use broken.png: ")
    assert "\n" not in page.error[0].value

    page.file_uploader(key="inspect_upload").clear().upload("noise.png", np.random.default_rng(0).bytes(999),
                                                             "image/png").run()
    assert not page.exception and "not an image" in page.error[0].value


def test_draw_mode_renders_the_canvas_or_says_why_not(page):
    page.segmented_control(key="inspect_source").set_value("Draw").run()
    assert not page.exception and not page.error
    assert "Draw a digit" in shown(page) or "canvas is unavailable" in shown(page)


def test_fashion_mnist_pair_with_its_gallery_and_class_names(page):
    page.segmented_control(key="inspect_dataset").set_value("fashion-mnist").run()
    assert not page.exception and not page.error
    a, b = page.selectbox(key="inspect_model_a").value, page.selectbox(key="inspect_model_b").value
    assert (a.activation, a.dataset, b.activation, b.dataset) == ("relu", "fashion-mnist", "arelu", "fashion-mnist")
    gallery = inspection.load_gallery(Path(APP).parent / "assets" / "fashion-mnist_test_sample.npz")
    first_sneaker = int(gallery.indices[gallery.of_class(7)[0]])
    assert f"Fashion-MNIST test image #{first_sneaker}, label Sneaker" in shown(page)
    assert set(predictions(page).values()) <= set(dataset_classes())          # class names, not numbers
    page.selectbox(key="inspect_class").set_value(1).run()                    # a trouser
    assert not page.exception and set(predictions(page).values()) == {"Trouser"}


def dataset_classes():
    from arelu_core.data import dataset_info
    return dataset_info("fashion-mnist").class_names


def _deep_entry(at, activation):
    options = at.selectbox(key="inspect_model_a").options
    return next(i for i, label in enumerate(options) if label.startswith(f"ResNet-18 {activation} "))


def test_deep_checkpoints_show_grad_cam_per_stage_and_b_follows_a(page):
    """Fig. 5: the shipped ReLU / AReLU ResNet-18 pair on a Fashion-MNIST test image, in one choice: picking
    a ResNet-18 as model A offers model B only the checkpoints of its network, the AReLU one first."""
    page.segmented_control(key="inspect_dataset").set_value("fashion-mnist").run()
    page.selectbox(key="inspect_model_a").select_index(_deep_entry(page, "ReLU")).run()
    assert not page.exception and not page.error and not page.warning
    b = page.selectbox(key="inspect_model_b")
    assert b.value.title.startswith("ResNet-18 AReLU") and all(o.startswith("ResNet-18") for o in b.options)
    assert "Explained class" in shown(page) and "ResNet-18 networks trained on Fashion-MNIST" in shown(page)
    assert [t.label for t in page.tabs][-2:] == ["First layer (paper Fig. 5)", "Every stage"]
    assert len(charts(page)) == 2          # the first layer, and every stage
    page.slider(key="deep_cam_sample").set_value(3).run()
    assert not page.exception and not page.error


def _score_table(at) -> dict:
    """The live scores table: {metric row: (A, B)}."""
    table = at.dataframe[0].value
    return {row["metric"]: (row.iloc[1], row.iloc[2]) for _, row in table.iterrows()}


def _shipped_claim(at, pair_key: str):
    from arelu_core.reproduce.fig5 import load_fig5
    pair = next(p for p in load_fig5()["pairs"] if p["key"] == pair_key)
    verdict = [e.value for kind in ("success", "info", "warning") for e in at.get(kind) if "shipped figure" in e.value]
    assert len(verdict) == 1 and f"is **{pair['claim']['verdict']}** for {pair['title']}" in verdict[0]
    assert f"on the first {pair['images']} " in shown(at) and "Shipped figure" in shown(at)
    assert len(at.dataframe[1].value) == len(pair["metrics"])


def test_cam_scores_of_both_checkpoints_and_the_shipped_verdict(page):
    """Fig. 5 measured: block 1's maps scored live (pytorch-grad-cam's metrics, share on the object) beside the
    maps, and the test-set verdict read from the shipped results of this pair."""
    from arelu_core.checkpoint import load_checkpoint
    from arelu_core.inspection.cam_metrics import METRICS, cam_scores
    table = _score_table(page)
    assert list(table) == [m.name + (" ↑" if m.higher_is_better else " ↓") for m in METRICS.values()]
    gallery = inspection.load_gallery()
    digit = inspection.as_digit_tensor(gallery.images[gallery.of_class(7)[0]])      # the page's default digit
    for side, name in enumerate(("relu", "arelu")):
        model, _ = load_checkpoint(APP.parent / "models" / f"{name}.pt")
        cam = inspection.compute_cam(model, digit, 0, "post", "gradcam", 7)          # both predict 7
        expected = cam_scores(model, digit[0], cam, 7)
        for key, metric in METRICS.items():
            row = metric.name + (" ↑" if metric.higher_is_better else " ↓")
            assert table[row][side] == pytest.approx(expected[key], abs=1e-6), (name, key)
    _shipped_claim(page, "mnist")
    page.toggle(key="inspect_cam_road").set_value(False).run()
    assert not page.exception and len(_score_table(page)) == len(METRICS) - 1        # ROAD only on request


def test_deep_view_scores_the_first_layer_and_shows_the_resnet_verdict(page):
    page.segmented_control(key="inspect_dataset").set_value("fashion-mnist").run()
    _shipped_claim(page, "fashion-mnist")                      # MNIST-Conv on Fashion-MNIST: its own pair
    page.selectbox(key="inspect_model_a").select_index(_deep_entry(page, "ReLU")).run()
    options = page.selectbox(key="inspect_model_b").options     # B offers model A's network only
    page.selectbox(key="inspect_model_b").select_index(
        next(i for i, label in enumerate(options) if label.startswith("ResNet-18 AReLU "))).run()
    assert not page.exception and not page.error
    table = _score_table(page)
    assert len(table) == 5 and all(np.isfinite(v) for pair in table.values() for v in pair)
    _shipped_claim(page, "resnet18")


def test_a_checkpoint_without_feature_layers_is_one_line_on_the_page(monkeypatch):
    """CAMs and their scores asked of a network with no feature layers: one error line, no traceback."""
    import torch.nn as nn
    import ui.common

    class WithoutFeatureLayers(nn.Module):
        """The shipped AReLU MNIST-Conv's forward pass, without feature_layers(): nothing for a CAM to hook."""
        def __init__(self, inner):
            super().__init__()
            self.inner, self.activation_name = inner, inner.activation_name

        def forward_features(self, x):
            return self.inner.forward_features(x)

        def logits(self, x):
            return self.inner.logits(x)

        def activation_parameters(self):
            return self.inner.activation_parameters()

    real = ui.common.load_checkpoint_cached

    def load(path):
        model, meta = real(path)
        return (WithoutFeatureLayers(model), meta) if path.name == "arelu.pt" else (model, meta)
    monkeypatch.setattr(ui.common, "load_checkpoint_cached", load)
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Could not compute the class activation maps: WithoutFeatureLayers has no "
                                           "feature layers: class activation maps and their metrics need an MNIST-Conv "
                                           "or a deep network checkpoint"]
    assert not at.dataframe                                   # no scores of maps that could not be made
