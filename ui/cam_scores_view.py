"""How good are the two CAMs? The current image's scores (live) and the test-set verdict (shipped), for the
Feature maps & Grad-CAM page's MNIST-Conv view and its deep (ResNet-18) view.

The numbers are arelu_core.inspection.cam_metrics' (pytorch-grad-cam's metrics and the share on the object)
and arelu_core.reproduce.fig5's (the shipped `arelu reproduce fig5` results); this module only draws.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from arelu_core.data import dataset_info
from arelu_core.inspection.cam_metrics import METRICS, OBJECT_THRESHOLD, cam_scores, object_share
from arelu_core.reproduce.fig5 import SHIPPED_FIG5, load_fig5, pair_result

VERDICT_STYLE = {"supported": st.success, "contradicted": st.warning}   # a finding, not an error of the page


@st.cache_data(max_entries=256, show_spinner=False)
def _scores(path: str, stamp: float, _model, image: np.ndarray, cam: np.ndarray, target: int, road: bool) -> dict:
    """One network's scores of one map (cached: a rerun for another widget does not recompute them; the
    checkpoint's path and modification time stand for the model)."""
    return cam_scores(_model, image, cam, target, road=road)


def render_scores(models: list, paths: list, names: list[str], image, cams: list, targets: list[int],
                  what: str, key: str) -> list[dict]:
    """This image's scores for both maps (one row per metric, a column per model); returns them."""
    road = st.toggle("ROAD too", value=True, key=f"{key}_road",
                     help="ROAD removes the most and least relevant pixels (9 thresholds each), fills them in and "
                          "measures the class probability: 18 more passes per network, about 0.1-0.2 s each on a "
                          "quiet CPU (a ResNet-18 takes longer).")
    image = np.asarray(image, dtype=np.float32)
    started = time.perf_counter()
    scores = [_scores(str(path), Path(path).stat().st_mtime, model, image, np.asarray(cam, dtype=np.float32), int(target), road)
              for path, model, cam, target in zip(paths, models, cams, targets)]
    seconds = time.perf_counter() - started
    rows = [{"metric": metric.name + (" ↑" if metric.higher_is_better else " ↓"),
             names[0]: scores[0][metric_key], names[1]: scores[1][metric_key]}
            for metric_key, metric in METRICS.items() if metric_key in scores[0]]
    st.dataframe(rows, hide_index=True, key=f"{key}_scores",
                 column_config={n: st.column_config.NumberColumn(format="%.3f") for n in names})
    st.caption(f"Scores of {what}. ↑: higher is better. The object: pixels above {OBJECT_THRESHOLD} "
               f"({object_share(image):.0%} of this image: what a map spread evenly would score). Confidence: "
               f"the softmax probability of the explained class, on the image multiplied by the map. "
               f"Computed in {seconds * 1000:.0f} ms (pytorch-grad-cam's metrics).")
    return scores


@st.cache_data(show_spinner=False)
def _shipped_pair(path_a: str, path_b: str, stamps: tuple) -> tuple[dict | None, dict | None]:
    summary = load_fig5()
    return summary, pair_result(summary, path_a, path_b)


def render_verdict(paths: list) -> None:
    """The shipped test-set figure for this pair of checkpoints (when it is one of the scored pairs)."""
    stamps = tuple(Path(p).stat().st_mtime if Path(p).exists() else 0 for p in [*paths, SHIPPED_FIG5])
    summary, pair = _shipped_pair(str(paths[0]), str(paths[1]), stamps)
    if pair is None:
        st.caption("No test-set figure ships for this pair of checkpoints (it is made for the shipped ReLU / AReLU "
                   "pairs): `arelu reproduce fig5 --checkpoints RELU.pt ARELU.pt` scores any two.")
        return
    claim = pair["claim"]
    VERDICT_STYLE.get(claim["verdict"], st.info)(
        f"Over the test set (shipped figure): \"AReLU's CAM is more focused\" is **{claim['verdict']}** "
        f"for {pair['title']}: {_verdict_reason(pair)}")

    def cell(entry) -> str:
        if entry["mean"] is None:
            return "n/a"
        ci = entry["ci95"]
        return f"{entry['mean']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    st.dataframe([{"metric": m["name"] + (" ↑" if m["higher_is_better"] else " ↓"), "ReLU": cell(m["relu"]),
                   "AReLU": cell(m["arelu"]), "AReLU − ReLU": cell(m["difference"]), "verdict": m["verdict"],
                   "images": m["difference"]["n"]} for m in pair["metrics"].values()],
                 hide_index=True, key="fig5_shipped_verdict")
    st.caption(f"Shipped figure (assets/results/fig5, made by `arelu reproduce fig5`): Grad-CAM of the true label at "
               f"{pair['layer']}, on the first {pair['images']} {dataset_info(pair['dataset']).name} test images (ROAD: the first "
               f"{pair['road_images']}); means with 95% intervals, the difference paired per image. The object covers "
               f"{pair['object_share']['mean']:.0%} of an image on average. Accuracy on these images: ReLU "
               f"{pair['accuracy']['relu']:.1%}, AReLU {pair['accuracy']['arelu']:.1%}. Made {summary['created'][:10]}.")


def _verdict_reason(pair: dict) -> str:
    focus = pair["metrics"]["on_object"]
    diff = focus["difference"]
    shown = f"{diff['mean']:+.3f} [{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}]" if diff["ci95"] else "n/a"
    others = ", ".join(f"{pair['metrics'][k]['name']}: {side}" for side, keys in
                       (("AReLU better", pair["claim"]["arelu_better"]), ("ReLU better", pair["claim"]["relu_better"]))
                       for k in keys if k != "on_object")
    return f"share on the object AReLU − ReLU = {shown}" + (f"; {others}" if others else "; no other metric differs")
