"""arelu_core.inspection: MNIST-style preprocessing of any image, feature maps, CAMs, speed."""
import io
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from arelu_core import inspection
from arelu_core.checkpoint import load_checkpoint
from arelu_core.errors import ConfigError

MODELS = Path(__file__).resolve().parents[1] / "models"


# -- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gallery():
    return inspection.load_gallery()


@pytest.fixture(scope="module")
def models(data_dir, tmp_path_factory):
    """The shipped ReLU and AReLU checkpoints; where they are missing, small ones trained here."""
    from arelu_core.checkpoint import save_checkpoint
    from arelu_core.trainer import TrainConfig, train
    pair = []
    for name in ("relu", "arelu"):
        path = MODELS / f"{name}.pt"
        if not path.exists():
            result = train(TrainConfig(activation=name, optimizer="adam", lr=1e-2, train_subset=5000,
                                       test_subset=500, data_dir=data_dir))
            path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / f"{name}.pt", result.model)
        pair.append(load_checkpoint(path)[0])
    return pair


def png_bytes(img: Image.Image, fmt: str = "PNG", **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def draw_seven(size=(600, 400), ink=0, paper=255, width=30, mode="L", offset=(40, 30)) -> Image.Image:
    """A big hand-drawn-like 7 off-centre: dark ink on light paper unless told otherwise."""
    img = Image.new(mode, size, paper)
    x0, y0 = offset
    ImageDraw.Draw(img).line([(x0, y0), (x0 + 200, y0), (x0 + 90, y0 + 300)], fill=ink, width=width)
    return img


def assert_mnist_like(digit: torch.Tensor):
    assert digit.shape == (1, 1, 28, 28) and digit.dtype == torch.float32
    pixels = digit[0, 0].numpy()
    assert np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() == pytest.approx(1.0)
    assert np.median(pixels) == 0 and pixels[0].max() == 0              # ink bright on a black background
    rows, cols = np.flatnonzero(pixels.any(1)), np.flatnonzero(pixels.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20          # fitted to the 20x20 box
    total = pixels.sum()
    cy, cx = (pixels.sum(1) * np.arange(28)).sum() / total, (pixels.sum(0) * np.arange(28)).sum() / total
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5                  # centred by mass, like MNIST


# -- prepare_digit: what it accepts ------------------------------------------------------------------

def test_gallery_is_real_mnist_test_digits(gallery, data_dir):
    from arelu_core.data import load_mnist
    assert len(gallery) == 200 and np.bincount(gallery.labels, minlength=10).tolist() == [20] * 10
    test = load_mnist(train=False, data_dir=data_dir, download=False)
    expected = (test.images[torch.as_tensor(gallery.indices.astype(np.int64)), 0] * 255).round().to(torch.uint8)
    assert torch.equal(expected, torch.from_numpy(gallery.images))
    assert torch.equal(test.labels[torch.as_tensor(gallery.indices.astype(np.int64))],
                       torch.from_numpy(gallery.labels.astype(np.int64)))


def test_gallery_digits_round_trip_and_keep_their_predictions(gallery, models):
    """MNIST digits are already MNIST-shaped: preparing them again changes (almost) nothing."""
    errors, changed, prob_shift = [], 0, 0.0
    for image in gallery.images:
        original = inspection.as_digit_tensor(image)
        prepared = inspection.prepare_digit(image)
        errors.append(float((original - prepared).abs().mean()))
        for model in models:
            a, b = inspection.inspect_digit(model, original), inspection.inspect_digit(model, prepared)
            changed += a.predicted != b.predicted                  # a near tie may flip: allow very few
            prob_shift = max(prob_shift, float(np.abs(a.probabilities - b.probabilities).max()))
    assert np.mean(errors) < 0.005 and max(errors) < 0.1
    assert changed <= 2 and prob_shift < 0.1, (changed, prob_shift)


def test_gallery_digit_as_png_bytes_round_trips(gallery):
    image = gallery.images[0]
    prepared = inspection.prepare_digit(png_bytes(Image.fromarray(image)))
    assert torch.allclose(prepared, inspection.as_digit_tensor(image), atol=0.1)


def test_large_white_background_png_is_inverted_cropped_and_centred():
    digit = inspection.prepare_digit(png_bytes(draw_seven()))
    assert_mnist_like(digit)


def test_jpeg_photo_like_noise_and_exif_free_rgb():
    img = draw_seven(mode="RGB", ink=(30, 30, 60), paper=(235, 230, 220))
    noisy = np.asarray(img).astype(np.int16) + np.random.default_rng(0).integers(-12, 12, (400, 600, 3))
    data = png_bytes(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), "JPEG", quality=70)
    assert_mnist_like(inspection.prepare_digit(data))


def test_file_objects_and_paths(tmp_path):
    data = png_bytes(draw_seven())
    (tmp_path / "seven.png").write_bytes(data)
    expected = inspection.prepare_digit(data)
    assert torch.equal(inspection.prepare_digit(io.BytesIO(data)), expected)
    assert torch.equal(inspection.prepare_digit(tmp_path / "seven.png"), expected)
    assert torch.equal(inspection.prepare_digit(Image.open(io.BytesIO(data))), expected)


@pytest.mark.parametrize("ink", [(0, 0, 0, 255), (255, 255, 255, 255)], ids=["dark-ink", "light-ink"])
def test_rgba_strokes_on_transparent_background(ink):
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(60, 40), (220, 40), (120, 260)], fill=ink, width=24)
    from_png = inspection.prepare_digit(png_bytes(img))
    assert_mnist_like(from_png)
    assert torch.allclose(inspection.prepare_digit(np.asarray(img)), from_png)   # a canvas hands us arrays


def test_canvas_like_rgba_array_white_on_black():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    img = Image.fromarray(canvas, "RGBA")
    ImageDraw.Draw(img).line([(70, 40), (210, 40), (120, 250)], fill=(255, 255, 255, 255), width=22)
    assert_mnist_like(inspection.prepare_digit(np.asarray(img)))


def test_sixteen_bit_grayscale_png():
    base = np.asarray(draw_seven()).astype(np.uint16) * 257                      # 0..65535
    img = Image.fromarray(base)
    assert img.mode.startswith("I;16")
    data = png_bytes(img)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    digit = inspection.prepare_digit(data)
    assert_mnist_like(digit)
    assert torch.allclose(digit, inspection.prepare_digit(png_bytes(draw_seven())), atol=0.02)


def test_palette_images_with_and_without_transparency():
    palette = draw_seven(mode="RGB", ink=(20, 20, 120), paper=(250, 250, 250)).convert("P", palette=Image.Palette.ADAPTIVE,
                                                                                         colors=8)
    assert palette.mode == "P"
    assert_mnist_like(inspection.prepare_digit(png_bytes(palette)))
    transparent = Image.new("P", (200, 200), 0)
    transparent.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    ImageDraw.Draw(transparent).line([(40, 30), (160, 30), (90, 170)], fill=1, width=16)
    assert_mnist_like(inspection.prepare_digit(png_bytes(transparent, "GIF", transparency=0)))


def test_animated_gif_uses_the_first_frame():
    first = draw_seven(size=(260, 340), width=14, offset=(20, 10))
    second = Image.new("L", (260, 340), 255)
    ImageDraw.Draw(second).ellipse([40, 40, 200, 300], outline=0, width=14)      # a zero
    data = png_bytes(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    assert torch.allclose(inspection.prepare_digit(data), inspection.prepare_digit(png_bytes(first, "GIF")))


def test_digit_touching_the_edge_and_a_stray_speck():
    img = draw_seven(size=(240, 320), offset=(20, 10))                          # the 7 runs off the bottom
    ImageDraw.Draw(img).rectangle([1, 300, 3, 302], fill=200)                   # a faint speck near a corner
    digit = inspection.prepare_digit(png_bytes(img))
    reference = draw_seven(size=(240, 320), offset=(20, 10))
    assert torch.allclose(digit, inspection.prepare_digit(png_bytes(reference)))


def test_tiny_and_wide_digits_keep_their_aspect_ratio():
    one = Image.new("L", (12, 40), 0)
    ImageDraw.Draw(one).line([(6, 2), (6, 37)], fill=255, width=3)
    pixels = inspection.prepare_digit(np.asarray(one))[0, 0].numpy()
    rows, cols = np.flatnonzero(pixels.any(1)), np.flatnonzero(pixels.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 <= 4


# -- prepare_digit: what it refuses, always with one line --------------------------------------------

def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (1-bit grey): cheap to make, costly to decode."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def blank(color, mode="L"):
    return png_bytes(Image.new(mode, (64, 64), color))


REFUSED = {
    "random-bytes": np.random.default_rng(1).bytes(4096),
    "text": b"hello, this is not an image",
    "empty": b"",
    "truncated-png": png_bytes(draw_seven())[:400],
    "header-only-png": png_bytes(draw_seven())[:33],
    "huge-10000x10000": png_claiming(10_000, 10_000),
    "bomb-20000x20000": png_claiming(20_000, 20_000),
    "blank-white": blank(255),
    "blank-black": blank(0),
    "blank-transparent": blank((0, 0, 0, 0), "RGBA"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refuses_with_a_one_line_config_error(name):
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        inspection.prepare_digit(REFUSED[name])
    message = str(caught.value)
    assert message and "\n" not in message and len(message) < 200
    assert time.perf_counter() - started < 2.0      # refused from the header, not after decoding 10^8 pixels


def test_refuses_oversized_files_and_odd_inputs():
    with pytest.raises(ConfigError, match="larger than"):
        inspection.prepare_digit(b"\x89PNG" + b"\x00" * (inspection.MAX_FILE_BYTES + 10))
    with pytest.raises(ConfigError):
        inspection.prepare_digit(np.zeros((5, 5, 7)))
    with pytest.raises(ConfigError):
        inspection.prepare_digit(np.zeros((10, 10, 3)))          # blank
    with pytest.raises(ConfigError):
        inspection.prepare_digit(12345)
    with pytest.raises(ConfigError):
        inspection.prepare_digit(np.zeros((6000, 6000), np.uint8), max_pixels=1_000_000)


# -- predictions and maps -------------------------------------------------------------------------

def test_inspect_digit_shapes(gallery, models):
    digit = inspection.as_digit_tensor(gallery.images[0])
    for model in models:
        result = inspection.inspect_digit(model, digit)
        assert result.probabilities.shape == (10,) and result.probabilities.sum() == pytest.approx(1, abs=1e-5)
        assert result.predicted == int(gallery.labels[0])
        shapes = [(10, 12, 12), (20, 4, 4), (40, 1, 1)]
        for features, shape in zip(result.features, shapes):
            assert features["pre"].shape == shape and features["post"].shape == shape
            assert isinstance(features["post"], np.ndarray)
    relu_post = inspection.inspect_digit(models[0], digit).features[0]["post"]
    arelu_post = inspection.inspect_digit(models[1], digit).features[0]["post"]
    assert relu_post.min() >= 0 and arelu_post.min() < 0          # AReLU keeps (scaled) negatives


@pytest.mark.parametrize("method", list(inspection.CAM_METHODS))
def test_every_cam_method_gives_finite_maps_in_unit_range(gallery, models, method):
    digit = inspection.as_digit_tensor(gallery.images[gallery.of_class(3)[0]])
    for model in models:
        for stage in inspection.CAM_STAGES:
            for block in range(3):
                heat = inspection.compute_cam(model, digit, block, stage, method)
                assert heat.shape == (28, 28) and heat.dtype == np.float32
                assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
                if block < 2:
                    assert heat.max() > 0, f"{method} {stage} block {block + 1} of {model.activation_name} is all zero"
                else:
                    assert heat.std() == 0                              # 1x1 maps: uniform by design


def test_cam_for_a_chosen_class_and_bad_arguments(gallery, models):
    digit = inspection.as_digit_tensor(gallery.images[0])
    model = models[1]
    own = inspection.compute_cam(model, digit, 1, "post", "gradcam")
    other = inspection.compute_cam(model, digit, 1, "post", "gradcam", target_class=(int(gallery.labels[0]) + 1) % 10)
    assert not np.allclose(own, other)
    assert np.array_equal(inspection.compute_cam(model, digit, 0, method="Grad-CAM++"),
                          inspection.compute_cam(model, digit, 0, method="gradcam++"))
    for kwargs in ({"method": "nope"}, {"stage": "middle"}, {"block_index": 3}, {"target_class": 10}):
        with pytest.raises(ConfigError):
            inspection.compute_cam(model, digit, **{"block_index": 0, **kwargs})


def test_compare_cams_and_difference(gallery, models):
    digit = inspection.as_digit_tensor(gallery.images[5])
    comparison = inspection.compare_cams(models[0], models[1], digit, 0, "post", "layercam")
    assert np.allclose(comparison.difference, comparison.cam_a - comparison.cam_b)
    assert comparison.difference.min() >= -1 and comparison.difference.max() <= 1
    assert 0 <= comparison.on_ink_a <= 1 and 0 <= comparison.on_ink_b <= 1
    with pytest.raises(ConfigError):
        inspection.cam_difference(np.zeros((28, 28)), np.zeros((14, 14)))


def test_cams_from_two_threads_on_one_model_do_not_mix(gallery, models):
    """Streamlit sessions share the cached model; pytorch_grad_cam hooks it, so CAMs are serialised."""
    digits = [inspection.as_digit_tensor(gallery.images[i]) for i in (0, 50, 100, 150)]
    expected = [inspection.compute_cam(models[1], d, 0, "post", "gradcam") for d in digits]
    got, errors = {}, []

    def work(i):
        try:
            for _ in range(5):
                got[i] = inspection.compute_cam(models[1], digits[i], 0, "post", "gradcam")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        assert np.allclose(got[i], expected[i])
    assert all(p.grad is None for p in models[1].parameters())      # no gradients left on the shared model
    assert torch.get_num_threads() >= 1


def test_inspection_speed_for_two_models(gallery, models):
    """Predictions + maps + one CAM method at 3 blocks for two models: measured and printed, not asserted."""
    digit = inspection.as_digit_tensor(gallery.images[0])
    threads_before = torch.get_num_threads()
    for method in ("gradcam", "scorecam"):
        def once():
            for model in models:
                inspection.inspect_digit(model, digit)
                for block in range(3):
                    inspection.compute_cam(model, digit, block, "post", method)
        once()                                                       # imports, JIT, caches
        times = []
        for _ in range(5):
            started = time.perf_counter()
            once()
            times.append(time.perf_counter() - started)
        print(f"\ninspection of one digit, two models, {method} at 3 blocks: median {np.median(times) * 1000:.0f} ms "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")
    assert torch.get_num_threads() == threads_before
