"""scripts/gpu_check.sh without a GPU: it says so in one line, checks that every part it would run on one
resolves (the CUDA test node ids collect, the bench parts and ui_cost.py load), and exits 0. Run here so
the GPU check cannot rot between the rare sessions that have a GPU."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_without_cuda_resolves_its_parts(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}          # no CUDA, even on a GPU machine
    done = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path / "out")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert sum("no CUDA device here" in line for line in lines) == 1
    report = json.loads((tmp_path / "out" / "cpu_mode.json").read_text())
    assert report["cuda"] is False and report["parts_resolve"] is True
    checks = report["checks"]
    assert checks["cuda_tests_collect"]["collected"] > 100          # second order, Triton, compiled, AReLU
    assert checks["versions_probe"]["versions"]["torch"] and checks["versions_probe"]["versions"]["cuda_available"] is False
    assert json.loads((tmp_path / "out" / "versions.json").read_text())["torch"]


def test_gpu_check_summary_compares_the_goals():
    """The GPU-mode summary from recorded part results: goals met/missed, the card's GPU name checked."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    race = {"ui_samples_per_second": [24_000, 19_000], "cli_default_threads_samples_per_second": [26_000, 21_000],
            "cli_app_threads_samples_per_second": [25_000, 20_000], "ui_cost_percent": 8.5,
            "card_captions": ["24,000 samples/s · MNIST · cuda (NVIDIA H200)", "19,000 samples/s · MNIST · cpu"]}
    results = {"op": {"result": {"op": {"arelu_vs_relu": 1.1, "seconds": {"relu": 1.0, "arelu_torch_ops": 3.0}}}},
               "resnet": {"result": {"resnet": {"arelu_vs_relu": 1.3}}}, "ui": {"result": [race]}}
    table, problems = gpu_check.goals(results, "NVIDIA H200")
    assert table["op_arelu_vs_relu"]["met"] is True and table["resnet18_step_arelu_vs_relu"]["met"] is False
    assert table["live_samples_per_second_each"] == {"value": 19_000, "goal": ">= 20000", "met": False}
    assert len(problems) == 1 and "do not name the GPU" in problems[0]          # the second card says cpu
    text = gpu_check.format_summary({"versions": {"gpu": "NVIDIA H200"}, "parts": {"op": "ok"}, "goals": table,
                                     "correctness_failures": problems}, results)
    assert "op: torch-ops AReLU / ReLU" in text and "3.00" in text and "MISSED" in text and "FAIL" in text
    assert len(text.splitlines()) <= 40                                       # one screen


def test_bench_cifar_part_trains_both_activations_on_synthetic_images():
    """`arelu bench --only cifar`, the GPU check's epoch part, at a size a CPU test affords."""
    import torch
    from arelu_core.bench import bench_cifar_epoch
    torch.set_num_threads(1)
    out = bench_cifar_epoch("cpu", verbose=False, images=64)       # one step of 64 each
    assert out["images"] == 64 and out["device"] == "cpu"
    for act in ("relu", "arelu"):
        assert out[act]["epoch_seconds"] > 0 and out[act]["samples_per_second"] > 0
    assert out["arelu_vs_relu"] == out["arelu"]["epoch_seconds"] / out["relu"]["epoch_seconds"]
