"""Fig. 5's claim measured: is AReLU's first-layer Grad-CAM "more focused" than ReLU's? (`arelu reproduce fig5`)

For each shipped ReLU/AReLU pair (PAIRS), on the first `images` test images of its dataset (the real test
set, in its file order): both networks' Grad-CAM of the image's true label at the first feature layer
(cam_metrics.fig5_cam; eval mode), scored by cam_metrics (pytorch-grad-cam's metrics and the share on the
object). ROAD takes 18 imputations per image and network, so it runs on the first `road_images` only.
Per metric: each network's mean with a 95% t interval, the paired difference AReLU − ReLU with its 95% t
interval, and who is better; then the claim's verdict (claim_verdict).

The layer: ResNet-18's first layer (conv1 -> bn1 -> act1, 28x28), the paper's Fig. 5. MNIST-Conv's
counterpart is block 1 after its activation (conv -> pool -> activation, 12x12): the first map the
activation shapes (blocks[0].act).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..runs import MODELS_DIR, PROJECT_ROOT

SHIPPED_FIG5 = PROJECT_ROOT / "assets" / "results" / "fig5" / "fig5.json"
DEFAULT_IMAGES, DEFAULT_ROAD_IMAGES = 1000, 200
CHUNK = 50           # images per metric call: the network runs on a batch (ROAD's noise is seeded per chunk)
FOCUS = "on_object"  # the metric that says "focused on the object" directly; the others say faithful


@dataclass(frozen=True)
class Fig5Pair:
    key: str
    title: str
    dataset: str
    relu: str            # checkpoint paths relative to models/
    arelu: str
    layer: str


PAIRS = {p.key: p for p in (
    Fig5Pair("mnist", "MNIST-Conv on MNIST", "mnist", "relu.pt", "arelu.pt", "block 1 after the activation"),
    Fig5Pair("fashion-mnist", "MNIST-Conv on Fashion-MNIST", "fashion-mnist", "fashion-mnist/relu.pt",
             "fashion-mnist/arelu.pt", "block 1 after the activation"),
    Fig5Pair("resnet18", "ResNet-18 on Fashion-MNIST", "fashion-mnist", "deep/resnet18_relu_fashion-mnist.pt",
             "deep/resnet18_arelu_fashion-mnist.pt", "first layer: act1 after conv1, bn1"),
)}


def interval(values) -> dict:
    """Mean and 95% t interval of the finite values (n < 2: no interval)."""
    from scipy.stats import t
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = float(v.mean())
    if n < 2:
        return {"mean": mean, "ci95": None, "n": 1}
    half = float(t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


def metric_summary(relu, arelu, higher_is_better: bool) -> dict:
    """Both networks' means and the paired difference AReLU − ReLU (images where both are finite)."""
    relu, arelu = np.asarray(relu, dtype=np.float64), np.asarray(arelu, dtype=np.float64)
    diff = interval((arelu - relu)[np.isfinite(relu) & np.isfinite(arelu)])
    verdict = "no difference shown"
    if diff["ci95"] is not None:
        low, high = diff["ci95"] if higher_is_better else [-diff["ci95"][1], -diff["ci95"][0]]
        verdict = "AReLU better" if low > 0 else "ReLU better" if high < 0 else verdict
    return {"relu": interval(relu), "arelu": interval(arelu), "difference": diff, "verdict": verdict}


def claim_verdict(metrics: dict) -> dict:
    """"AReLU's CAM is more focused": supported when the share on the object favours AReLU (95% interval of the
    paired difference above 0) and no metric favours ReLU; contradicted in the mirror case; mixed when metrics
    point both ways; not shown otherwise."""
    better = {key: m["verdict"] for key, m in metrics.items()}
    arelu = [k for k, v in better.items() if v == "AReLU better"]
    relu = [k for k, v in better.items() if v == "ReLU better"]
    if better.get(FOCUS) == "AReLU better" and not relu:
        verdict = "supported"
    elif better.get(FOCUS) == "ReLU better" and not arelu:
        verdict = "contradicted"
    elif arelu and relu:
        verdict = "mixed"
    else:
        verdict = "not shown"
    return {"verdict": verdict, "arelu_better": arelu, "relu_better": relu}


def summarise_pair(pair: Fig5Pair, scores: dict, labels, object_share, correct: dict) -> dict:
    """The pair's summary from its per-image scores ({"relu": {metric: [...]}, "arelu": {...}})."""
    from ..inspection.cam_metrics import METRICS
    metrics = {key: {"name": m.name, "higher_is_better": m.higher_is_better,
                     **metric_summary(scores["relu"][key], scores["arelu"][key], m.higher_is_better)}
               for key, m in METRICS.items() if key in scores["relu"]}
    return {"key": pair.key, "title": pair.title, "dataset": pair.dataset, "layer": pair.layer,
            "images": len(labels), "road_images": len(scores["relu"].get("road", [])),
            "object_share": interval(object_share), "accuracy": {k: float(np.mean(v)) for k, v in correct.items()},
            "empty_cams": {k: int(np.sum(~np.isfinite(np.asarray(v["on_object"], dtype=float)))) for k, v in scores.items()},
            "metrics": metrics, "claim": claim_verdict(metrics)}


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def score_network(model, images, labels, road_images: int, seed: int) -> tuple[dict, dict]:
    """Per-image scores of one network ({metric: list}) and its timings: seconds per image, wall clock and
    this process's CPU time (on a shared machine the wall clock also counts other processes' turns)."""
    from ..inspection.cam_metrics import fig5_cam, score_batch
    clock = _Clock()
    with clock("cam"):
        cams = np.stack([fig5_cam(model, image, int(label)) for image, label in zip(images, labels)])
    scores = {}
    for start in range(0, len(images), CHUNK):
        stop, road_stop = min(start + CHUNK, len(images)), min(start + CHUNK, len(images), road_images)
        with clock("cheap_metrics"):
            chunk = score_batch(model, images[start:stop], cams[start:stop], labels[start:stop], road=False)
        if road_stop > start:
            with clock("road"):     # seeded per chunk: seed + the chunk's first image index
                chunk["road"] = score_batch(model, images[start:road_stop], cams[start:road_stop],
                                            labels[start:road_stop], road=True, seed=seed + start)["road"]
        for key, values in chunk.items():
            scores.setdefault(key, []).extend(float(v) for v in values)
    counts = {"cam": len(images), "cheap_metrics": len(images), "road": road_images}
    return scores, clock.per_image(counts)


class _Clock:
    """Wall-clock and CPU seconds per named part."""
    def __init__(self):
        self.wall, self.cpu = {}, {}

    @contextlib.contextmanager
    def __call__(self, part: str):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[part] = self.wall.get(part, 0.0) + time.perf_counter() - wall
            self.cpu[part] = self.cpu.get(part, 0.0) + time.process_time() - cpu

    def per_image(self, counts: dict) -> dict:
        return {f"{part}_{kind}_s_per_image": (seconds[part] / counts[part] if counts[part] and part in seconds else None)
                for part in counts for kind, seconds in (("wall", self.wall), ("cpu", self.cpu))}


def run_fig5(pairs=None, images: int = DEFAULT_IMAGES, road_images: int = DEFAULT_ROAD_IMAGES, seed: int = 0,
             data_dir=None, out=None, models_dir=None, checkpoints=None, progress=None) -> dict:
    """Score every pair; write <out>/fig5.json (summary) and <out>/fig5_images.json (per-image scores).

    checkpoints: (relu_path, arelu_path) to score a pair of your own instead of the shipped ones."""
    from .. import __version__
    from ..checkpoint import load_checkpoint
    from ..data import load_dataset
    from ..inspection.cam_metrics import layer_size, require_feature_layers
    import torch
    if not isinstance(images, int) or images < 2:
        raise ConfigError(f"images must be an integer of at least 2 (an interval needs two), got {images}")
    if not isinstance(road_images, int) or not 0 <= road_images <= images:
        raise ConfigError(f"road images must be 0..{images} (the images scored), got {road_images}")
    chosen = _pairs(pairs, checkpoints, models_dir)
    emit = progress or (lambda event: None)
    started, summaries, per_image = time.perf_counter(), [], {}
    for pair, paths in chosen:
        pair_started = time.perf_counter()
        models = {side: load_checkpoint(path)[0] for side, path in paths.items()}
        for model in models.values():
            require_feature_layers(model)        # before the data: a wrong checkpoint fails at once
        test = load_dataset(pair.dataset, False, data_dir, download=False)
        if images > len(test.labels):
            raise ConfigError(f"{pair.dataset} has {len(test.labels)} test images, asked for {images}")
        x, labels = test.images[:images].cpu(), [int(c) for c in test.labels[:images]]
        scores, timings, correct = {}, {}, {}
        for side, path in paths.items():
            model = models[side]
            emit({"kind": "network", "pair": pair.key, "side": side, "path": str(path)})
            scores[side], timings[side] = score_network(model, x, labels, road_images, seed)
            with torch.no_grad():
                correct[side] = (model.logits(x).argmax(1) == torch.tensor(labels)).numpy()
        from ..inspection.cam_metrics import object_share
        shares = [object_share(image) for image in x]
        summary = summarise_pair(pair, scores, labels, shares, correct)
        height, width = layer_size(models["relu"], x[0])
        summary["layer"] = f"{pair.layer} ({height}×{width})"
        summary.update(checkpoints={side: _shown(path) for side, path in paths.items()},
                       sha256={side: file_sha256(path) for side, path in paths.items()},
                       timings=timings, seconds=time.perf_counter() - pair_started)
        summaries.append(summary)
        per_image[pair.key] = {"labels": labels, "object_share": shares, **scores}
        emit({"kind": "pair", "summary": summary})
    from ..inspection.cam_metrics import OBJECT_THRESHOLD, ROAD_PERCENTILES
    result = {"experiment": "fig5", "images": images, "road_images": road_images, "road_seed": seed,
              "road_chunk": CHUNK, "road_percentiles": list(ROAD_PERCENTILES), "object_threshold": OBJECT_THRESHOLD,
              "cam": "Grad-CAM (pytorch-grad-cam for MNIST-Conv, arelu_core.deep_cam for ResNet-18)",
              "target": "the true label, for both networks", "class_score": "softmax probability of the target",
              "pairs": summaries, "seconds": time.perf_counter() - started, "threads": torch.get_num_threads(),
              "library_version": __version__, "torch_version": str(torch.__version__),
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "fig5.json").write_text(json.dumps(result, indent=1) + "\n")
        (folder / "fig5_images.json").write_text(json.dumps(_rounded(per_image)) + "\n")
        result["results_file"] = str(folder / "fig5.json")
    return result


def _pairs(keys, checkpoints, models_dir) -> list[tuple[Fig5Pair, dict]]:
    models = Path(models_dir) if models_dir else MODELS_DIR
    if checkpoints:
        from ..checkpoint import read_checkpoint, checkpoint_dataset
        if len(checkpoints) != 2:
            raise ConfigError(f"--checkpoints takes two files (ReLU's, then AReLU's), got {len(checkpoints)}")
        dataset = checkpoint_dataset(read_checkpoint(checkpoints[0])["metadata"])
        pair = Fig5Pair("custom", f"{Path(checkpoints[0]).name} vs {Path(checkpoints[1]).name}", dataset, "", "",
                        "the first feature layer")
        return [(pair, {"relu": Path(checkpoints[0]), "arelu": Path(checkpoints[1])})]
    unknown = [k for k in keys or () if k not in PAIRS]
    if unknown:
        raise ConfigError(f"unknown pair {unknown[0]!r}; choose from: {', '.join(PAIRS)}")
    return [(PAIRS[k], {"relu": models / PAIRS[k].relu, "arelu": models / PAIRS[k].arelu}) for k in keys or PAIRS]


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return round(value, 6) if isinstance(value, float) and math.isfinite(value) else value


def load_fig5(path=SHIPPED_FIG5) -> dict | None:
    """The summary `arelu reproduce fig5` wrote (None when there is none)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def pair_result(summary: dict | None, path_a, path_b) -> dict | None:
    """The summary's pair whose two checkpoints are these files (by content, either order), else None."""
    if not summary:
        return None
    try:
        hashes = {file_sha256(path_a), file_sha256(path_b)}
    except OSError:
        return None
    return next((p for p in summary.get("pairs", []) if set(p.get("sha256", {}).values()) == hashes), None)


def format_fig5(result: dict) -> str:
    """The result as text: per pair, per metric ReLU, AReLU, AReLU − ReLU with 95% intervals."""
    def cell(entry):
        if entry["mean"] is None:
            return "n/a"
        ci = entry["ci95"]
        return f"{entry['mean']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
    lines = [f"Fig. 5: Grad-CAM of the true label at the first layer; {result['images']} test images "
             f"(ROAD: the first {result['road_images']}); object = pixels > {result['object_threshold']}"]
    for p in result["pairs"]:
        lines += ["", f"{p['title']} ({p['layer']}): claim \"AReLU's CAM is more focused\": {p['claim']['verdict'].upper()}",
                  f"  accuracy on these images: ReLU {p['accuracy']['relu']:.1%}, AReLU {p['accuracy']['arelu']:.1%}; "
                  f"the object covers {p['object_share']['mean']:.1%} of an image",
                  f"  {'metric':26s} {'ReLU':28s} {'AReLU':28s} {'AReLU - ReLU':28s} verdict"]
        for m in p["metrics"].values():
            lines.append(f"  {m['name'] + (' ↑' if m['higher_is_better'] else ' ↓'):26s} {cell(m['relu']):28s} "
                         f"{cell(m['arelu']):28s} {cell(m['difference']):28s} {m['verdict']} (n={m['difference']['n']})")
        lines.append("  seconds per image and network (wall / CPU): " + "; ".join(
            f"{side}: " + ", ".join(f"{part.replace('_', ' ')} {t[f'{part}_wall_s_per_image']:.3f} / "
                                   f"{t[f'{part}_cpu_s_per_image']:.3f}"
                                   for part in ("cam", "cheap_metrics", "road") if t[f"{part}_wall_s_per_image"])
            for side, t in p["timings"].items()) + f"; pair {p['seconds']:.0f} s")
    lines.append(f"\ntotal {result['seconds']:.0f} s")
    return "\n".join(lines)
