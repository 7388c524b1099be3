"""Deep networks (issue 12): timm CIFAR networks with any activation, the recipe, CIFAR-100 files, Fig. 4.

Small widths and subsets: these run on a 2-core machine."""
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from arelu_core.checkpoint import load_checkpoint, save_checkpoint
from arelu_core.deep_networks import DEEP_NETWORKS, create_network, list_networks
from arelu_core.errors import CheckpointError, ConfigError
from arelu_core.trainer import augment_batch, deep_recipe, train

W = 0.125   # channels / 8: a ResNet-18 step in well under a second here

# Independent oracle for the number of activation sites: timm's own ImageNet models, counted by their
# ReLU / ReLU6 modules (VGG: minus the two in timm's ImageNet head, which the CIFAR VGG does not have).
TIMM_TWINS = {"resnet18": ("resnet18", 0), "seresnet18": ("seresnet18", 0), "vgg16": ("vgg16_bn", 2),
              "densenet121": ("densenet121", 0), "mobilenetv2": ("mobilenetv2_100", 0)}


def _timm_relu_count(name: str) -> int:
    import timm
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return sum(isinstance(m, (torch.nn.ReLU, torch.nn.ReLU6)) for m in model.modules())


def test_the_five_networks_listed():
    assert list_networks() == ["mnist-conv", *DEEP_NETWORKS] and len(DEEP_NETWORKS) == 5


@pytest.mark.parametrize("network", DEEP_NETWORKS)
def test_every_site_has_its_own_activation(network):
    torch.manual_seed(0)
    model = create_network(network, "arelu", in_channels=3, num_classes=100, width=W)
    twin, head_sites = TIMM_TWINS[network]
    assert model.sites == _timm_relu_count(twin) - head_sites
    alphas = [m.alpha for _, m in model.activation_modules()]
    assert len({id(a) for a in alphas}) == len(alphas) == model.sites          # one parameter per site
    assert not any(isinstance(m, (torch.nn.ReLU, torch.nn.ReLU6)) for m in model.modules())
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 100) and torch.allclose(out.exp().sum(1), torch.ones(2), atol=1e-5)  # log-probs
    out[:, 0].sum().backward()
    assert all(a.grad is not None and a.grad != 0 for a in alphas)            # every site is on the path
    assert len(model.activation_parameters()) == model.sites


@pytest.mark.parametrize("network", DEEP_NETWORKS)
def test_cifar_stem_keeps_the_resolution(network):
    model = create_network(network, "relu", in_channels=1, num_classes=10, width=W)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.kernel_size == (3, 3) and first.stride == (1, 1) and first.in_channels == 1
    maps = []
    label, module = model.stages()[0]
    module.register_forward_hook(lambda m, i, o: maps.append(o))
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)                    # Fashion-MNIST's 28x28 too
    assert label == "first layer" and maps[0].shape[-2:] == (28, 28)


def test_fixed_and_learnable_activations_and_bad_names():
    for act in ("selu", "prelu", "pau", "relu+elsa"):
        assert create_network("resnet18", act, 3, 100, width=W)(torch.rand(1, 3, 32, 32)).shape == (1, 100)
    with pytest.raises(ConfigError, match="unknown network 'resnet19'"):
        create_network("resnet19", "relu")
    with pytest.raises(ConfigError, match="changes the channel count"):
        create_network("resnet18", "maxout")
    with pytest.raises(ConfigError, match="width"):
        create_network("resnet18", "relu", width=0)


def test_width_scales_the_parameters():
    counts = {w: sum(p.numel() for p in create_network("resnet18", "relu", 1, 10, width=w).parameters())
              for w in (0.25, 0.5)}
    assert 3.5 < counts[0.5] / counts[0.25] < 4.1      # conv weights grow with width squared


def test_augment_batch_is_a_crop_of_the_padded_image_maybe_flipped():
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(16, 3, 32, 32)
    out = augment_batch(images, gen)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    flips = 0
    for k in range(16):   # the oracle: search every crop offset and both orientations
        hits = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                if torch.equal(out[k], (lambda c: c.flip(-1) if f else c)(padded[k, :, dy:dy + 32, dx:dx + 32]))]
        assert len(hits) == 1, k
        flips += hits[0][2]
    assert 0 < flips < 16
    again = augment_batch(images, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)                      # the seed fixes the crops


def test_recipe_defaults_and_training_is_deterministic(data_dir, tmp_path):
    config = deep_recipe("resnet18", activation="arelu", dataset="fashion-mnist", width=W, train_subset=128,
                         test_subset=100, device="cpu", data_dir=data_dir)
    assert (config.optimizer, config.lr, config.batch_size, config.weight_decay, config.momentum, config.augment) == \
        ("sgd", 0.1, 64, 5e-4, 0.9, True)
    first, second = train(config), train(deep_recipe(**{**config.__dict__}))
    assert first.status == "finished" and first.steps == 2
    assert first.epoch_accuracies == second.epoch_accuracies and first.losses == second.losses
    assert len(first.model.activation_parameters()) == 17
    # checkpoint round trip: the same network comes back, with its metadata
    path = save_checkpoint(tmp_path / "r.pt", first.model, {"dataset": "fashion-mnist"})
    model, meta = load_checkpoint(path)
    assert (meta["network"], meta["width"], meta["in_channels"]) == ("resnet18", W, 1)
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(model(x), first.model.eval()(x))
    bad = tmp_path / "bad.pt"
    state = torch.load(path, weights_only=True)
    state["metadata"]["network"] = "vgg16"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="do not fit network 'vgg16'"):
        load_checkpoint(bad)


def write_cifar100(root, n_train=96, n_test=40, seed=0):
    """Small files in CIFAR-100's real format: Python 2 pickles (protocol 2, str keys) of uint8 rows
    (1024 R, 1024 G, 1024 B values, row-major), fine and coarse labels, and a meta file of names."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {"filenames": [f"{i}.png" for i in range(n)], "batch_label": f"{name} batch",
                 "fine_labels": rng.integers(0, 100, n).tolist(), "coarse_labels": rng.integers(0, 20, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class{i}" for i in range(100)],
                     "coarse_label_names": [f"super{i}" for i in range(20)]}, f, protocol=2)
    return folder


def test_cifar100_files_train_a_deep_network(tmp_path):
    from arelu_core.data import load_dataset
    folder = write_cifar100(tmp_path)
    data = load_dataset("cifar100", True, tmp_path, download=False)
    with open(folder / "train", "rb") as f:
        raw = pickle.load(f)
    assert data.images.shape == (96, 3, 32, 32) and data.labels.tolist() == raw["fine_labels"]
    # pixel (row 1, col 2) of image 5: R at 32*1+2, G 1024 further, B 2048 further, scaled to [0, 1]
    expected = [raw["data"][5][c * 1024 + 34] / 255 for c in range(3)]
    assert torch.allclose(data.images[5, :, 1, 2], torch.tensor(expected, dtype=torch.float32))
    result = train(deep_recipe("resnet18", activation="relu", dataset="cifar100", width=W, device="cpu",
                               data_dir=str(tmp_path)))
    assert result.status == "finished" and result.model.num_classes == 100 and result.steps == 2


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "arelu_core", *args], capture_output=True, text=True, timeout=300)


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    run = _cli("train", "--network", "resnet19", "--json")
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "error: unknown network 'resnet19'; choose one of: mnist-conv, resnet18, seresnet18, vgg16, densenet121, mobilenetv2"]
    run = _cli("train", "--network", "resnet18", "--dataset", "cifar100", "--data-dir", str(tmp_path / "none"))
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "CIFAR-100" in run.stderr


def test_networks_command_counts_parameters():
    run = _cli("networks", "--activations", "relu", "arelu", "--json")
    rows = {r["key"]: r for r in json.loads(run.stdout.strip().splitlines()[-1])["networks"]}
    resnet = rows["resnet18"]
    assert resnet["sites"] == 17 and resnet["parameters"]["arelu"] - resnet["parameters"]["relu"] == 2 * 17
    built = sum(p.numel() for p in create_network("resnet18", "arelu", 3, 100).parameters())
    assert resnet["parameters"]["arelu"] == built


def test_shipped_deep_checkpoints_fit_and_are_small(repo):
    manifest = json.loads((repo / "models" / "deep" / "manifest.json").read_text())
    for entry in manifest["models"].values():
        path = repo / "models" / "deep" / entry["file"]
        assert path.stat().st_size <= 10 * 1024 * 1024
        model, meta = load_checkpoint(path)
        assert (meta["network"], meta["dataset"], meta["activation"]) == ("resnet18", "fashion-mnist", entry["activation"])


def test_deep_gradcam_matches_pytorch_grad_cam_on_the_shipped_pair(repo, data_dir):
    """Our per-stage Grad-CAM against pytorch_grad_cam's GradCAM (an independent implementation)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from arelu_core.data import load_dataset
    from arelu_core.deep_cam import compare_deep, deep_cams
    deep = repo / "models" / "deep"
    relu, _ = load_checkpoint(deep / "resnet18_relu_fashion-mnist.pt")
    arelu, _ = load_checkpoint(deep / "resnet18_arelu_fashion-mnist.pt")
    image = load_dataset("fashion-mnist", False, data_dir).images[0]
    pairs, cls, probs_a, probs_b = compare_deep(relu, arelu, image)
    assert [p.label for p in pairs] == ["first layer", "stage 1", "stage 2", "stage 3", "stage 4"]
    assert [p.raw_size for p in pairs] == [(28, 28), (28, 28), (14, 14), (7, 7), (4, 4)]
    assert cls == int(probs_a.argmax()) and abs(probs_b.sum() - 1) < 1e-4
    for p in pairs:
        assert p.cam_a.shape == (28, 28) and np.allclose(p.difference, p.cam_a - p.cam_b)
    cams, _, _ = deep_cams(arelu, image, cls)
    for (label, module), ours in zip(arelu.stages(), cams):
        with GradCAM(model=arelu.net, target_layers=[module]) as cam:
            theirs = cam(input_tensor=image[None], targets=[ClassifierOutputTarget(cls)])[0]
        assert np.corrcoef(ours.heat.ravel(), theirs.ravel())[0, 1] > 0.999, label
    with pytest.raises(ConfigError, match="takes 1-channel images"):
        deep_cams(arelu, torch.rand(3, 32, 32))
