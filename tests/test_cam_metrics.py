"""Fig. 5 measured: cam_metrics scores a CAM with pytorch-grad-cam's own metrics and the share on the object;
`arelu reproduce fig5` summarises them over test images. Real MNIST / Fashion-MNIST and the shipped checkpoints."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from arelu_core.checkpoint import load_checkpoint
from arelu_core.cli import main
from arelu_core.data import load_dataset
from arelu_core.deep_cam import deep_cams
from arelu_core.errors import ConfigError
from arelu_core.inspection import compute_cam
from arelu_core.inspection.cam_metrics import cam_scores, fig5_cam, mass_on_object, object_share
from arelu_core.reproduce.fig5 import claim_verdict, metric_summary

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def mnist_case(data_dir):
    model, _ = load_checkpoint(MODELS / "relu.pt")
    test = load_dataset("mnist", False, data_dir, download=False)
    image, label = test.images[1], int(test.labels[1])           # a 2
    return model, image, label, fig5_cam(model, image, label)


def test_mass_on_object_against_a_hand_computed_case():
    image = np.zeros((1, 4, 4), dtype=np.float32)
    image[0, 0, 0], image[0, 1, 1], image[0, 0, 1] = 1.0, 0.5, 0.05    # 0.05: below the 0.1 threshold
    cam = np.full((4, 4), 0.1, dtype=np.float32)
    cam[0, 0], cam[1, 1] = 0.5, 0.3
    # total weight 14 * 0.1 + 0.5 + 0.3 = 2.2, of which 0.5 + 0.3 on the two object pixels
    assert mass_on_object(cam, image) == pytest.approx(0.8 / 2.2)
    assert object_share(image) == 2 / 16
    assert mass_on_object(cam, image, threshold=0.01) == pytest.approx(0.9 / 2.2)
    assert math.isnan(mass_on_object(np.zeros((4, 4)), image))          # an empty map has no share


def test_scores_are_pytorch_grad_cams_metrics(mnist_case):
    from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    model, image, label, cam = mnist_case
    assert np.array_equal(cam, compute_cam(model, image, 0, "post", "gradcam", label))   # the project's Grad-CAM
    scores = cam_scores(model, image, cam, label)
    logits = type("Logits", (nn.Module,), {"forward": lambda self, x: model.logits(x)})()
    x, targets = image[None], [ClassifierOutputSoftmaxTarget(label)]
    change = float(CamMultImageConfidenceChange()(x, cam[None], targets, logits)[0])
    with torch.no_grad():
        probability = float(model.logits(x).softmax(1)[0, label])
        masked = float(model.logits(x * torch.from_numpy(cam)).softmax(1)[0, label])
    assert scores["confidence_change"] == pytest.approx(change, abs=1e-6) == pytest.approx(masked - probability, abs=1e-5)
    assert scores["drop_in_confidence"] == pytest.approx(max(0.0, -change), abs=1e-6)
    assert scores["increase_in_confidence"] == float(change > 0)
    torch.manual_seed(0)
    assert scores["road"] == pytest.approx(float(ROADCombined()(x, cam[None], targets, logits)[0]), abs=1e-6)
    assert 0 < scores["on_object"] < 1


def test_road_is_seeded_and_leaves_the_callers_generators_alone(mnist_case):
    model, image, label, cam = mnist_case
    torch.manual_seed(123)
    np.random.seed(123)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    first = cam_scores(model, image, cam, label)["road"]
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert cam_scores(model, image, cam, label)["road"] == first
    assert cam_scores(model, image, cam, label, seed=1)["road"] != first        # the noise is really drawn


def test_deep_network_first_layer_and_a_model_without_feature_layers(data_dir):
    model, _ = load_checkpoint(MODELS / "deep" / "resnet18_arelu_fashion-mnist.pt")
    test = load_dataset("fashion-mnist", False, data_dir, download=False)
    image, label = test.images[0], int(test.labels[0])
    cam = fig5_cam(model, image, label)
    assert np.array_equal(cam, deep_cams(model, image, label)[0][0].heat) and cam.shape == (28, 28)
    assert set(cam_scores(model, image, cam, label, road=False)) == {
        "on_object", "confidence_change", "drop_in_confidence", "increase_in_confidence"}
    with pytest.raises(ConfigError, match="has no feature layers"):
        compute_cam(model, image, 0)                          # MNIST-Conv's CAMs asked of a ResNet: one line
    flat = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(ConfigError, match="^Sequential has no feature layers: class activation maps and their metrics"):
        fig5_cam(flat, image, label)


def test_verdicts_follow_the_intervals():
    rng = np.random.default_rng(0)
    relu = rng.normal(0.3, 0.05, 200)
    assert metric_summary(relu, relu + 0.02, True)["verdict"] == "AReLU better"
    assert metric_summary(relu, relu + 0.02, False)["verdict"] == "ReLU better"
    assert metric_summary(relu, relu + rng.normal(0, 0.05, 200), True)["verdict"] == "no difference shown"
    summary = metric_summary([0.1, 0.2, np.nan, 0.4], [0.2, np.nan, 0.5, 0.6], True)
    assert summary["difference"]["n"] == 2 and summary["relu"]["n"] == 3    # paired on images where both exist
    focus_up, up, down, same = ({"verdict": v} for v in ("AReLU better", "AReLU better", "ReLU better", "no difference shown"))
    assert claim_verdict({"on_object": focus_up, "road": same})["verdict"] == "supported"
    assert claim_verdict({"on_object": focus_up, "road": down})["verdict"] == "mixed"
    assert claim_verdict({"on_object": same, "road": up})["verdict"] == "not shown"
    assert claim_verdict({"on_object": down, "road": same})["verdict"] == "contradicted"


def test_cli_fig5_small_real_run(tmp_path, data_dir):
    run = subprocess.run([sys.executable, "-m", "arelu_core", "reproduce", "fig5", "--pairs", "mnist", "--images", "6",
                          "--road-images", "3", "--threads", "1", "--out", str(tmp_path), "--data-dir", data_dir,
                          "--json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert json.loads((tmp_path / "fig5.json").read_text())["pairs"] == result["pairs"]
    (pair,) = result["pairs"]
    assert (pair["key"], pair["images"], pair["road_images"]) == ("mnist", 6, 3)
    assert pair["sha256"]["relu"] == json.loads((MODELS / "manifest.json").read_text())["models"]["relu"]["sha256"]
    per_image = json.loads((tmp_path / "fig5_images.json").read_text())["mnist"]
    test = load_dataset("mnist", False, data_dir, download=False)
    assert per_image["labels"] == [int(c) for c in test.labels[:6]]         # the first test images, true labels
    for key, metric in pair["metrics"].items():
        relu, arelu = np.array(per_image["relu"][key], float), np.array(per_image["arelu"][key], float)
        assert len(relu) == (3 if key == "road" else 6)
        both = np.isfinite(relu) & np.isfinite(arelu)
        assert metric["difference"]["mean"] == pytest.approx(float(np.mean(arelu[both] - relu[both])), abs=1e-5)
        assert metric["verdict"] in ("AReLU better", "ReLU better", "no difference shown")
    assert pair["claim"]["verdict"] in ("supported", "contradicted", "mixed", "not shown")
    assert all(t["road_cpu_s_per_image"] > 0 for t in pair["timings"].values())


def test_cli_fig5_bad_input_is_one_line(monkeypatch, capsys):
    flat = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    monkeypatch.setattr("arelu_core.checkpoint.load_checkpoint", lambda path, device="cpu": (flat, {}))
    code = main(["reproduce", "fig5", "--checkpoints", str(MODELS / "relu.pt"), str(MODELS / "arelu.pt"),
                 "--images", "4", "--road-images", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == ("error: Sequential has no feature layers: class activation maps and their metrics "
                                 "need an MNIST-Conv or a deep network checkpoint")
    assert main(["reproduce", "fig5", "--images", "1"]) == 2
    assert main(["reproduce", "fig5", "--pairs", "cifar"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: images must be an integer of at least 2 (an interval needs two), got 1",
                   "error: unknown pair 'cifar'; choose from: mnist, fashion-mnist, resnet18"]
