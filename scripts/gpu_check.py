#!/usr/bin/env python
"""Every CUDA path of AReLU Lab checked by one bounded command (scripts/gpu_check.sh OUTDIR calls this).

Parts, each a subprocess with its own time limit, all inside one budget (default 480 s):
  versions  GPU, driver, torch, Triton, CUDA, Python
  tests     the CUDA tests: second derivatives on every path, the Triton kernels against the formula in
            float32/bfloat16/float16 (compiled for the GPU), the compiled path; pytest-timeout per test
  op        `arelu bench --only op --compiled`: AReLU (Triton / torch ops / compiled) vs ReLU, fwd+bwd, memory
  resnet    `arelu bench --only resnet`: a ResNet-18 training step, ReLU vs AReLU, eager
  cifar     `arelu bench --only cifar`: a CIFAR-100-sized epoch (50 000 synthetic images), ReLU and AReLU
  ui        the app started and one Train live race (ReLU vs AReLU, full MNIST, one epoch) in headless
            Chromium (scripts/ui_cost.py): samples/s, the UI's cost, and the GPU named on every card
  maml      `arelu bench --only maml`: Table 3's 5-way 1-shot MAML run
  resnet_compiled  `arelu bench --only resnet --compiled`, if the budget still allows
Every figure goes to OUTDIR/<part>.json, the summary to OUTDIR/summary.json and summary.txt.
Exit 1 only if a correctness check failed (a CUDA test, or a card not naming the GPU); a slow figure,
a part out of time or a part that cannot run here (no browser) is reported, not failed.

Without CUDA: one line saying so, then a check that every part resolves (the test node ids collect,
the bench parts and scripts import), exit 0 (tests/test_gpu_check.py runs it so).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).absolute().parents[1]
PY = sys.executable
CUDA_TESTS = ["tests/test_second_order.py", "tests/test_triton_kernels.py", "tests/test_compiled.py",
              "tests/test_arelu.py", "tests/test_activations.py::test_learnable_on_cuda"]
PER_TEST_TIMEOUT_S = 120
GOALS = {"resnet18_step_arelu_vs_relu_max": 1.15, "op_arelu_vs_relu_max": 1.2, "live_samples_per_second_min": 20_000}


def parts(device: str = "cuda", rehearse: bool = False) -> list[tuple[str, list[str], float]]:
    """name, command, seconds allowed (each also cut to what is left of the budget). rehearse: the same
    plumbing on the CPU with small sizes (--rehearse), to try the script without spending GPU time."""
    bench = [PY, "-m", "arelu_core", "bench", "--device", device, "--json"] + (["--quick"] if rehearse else [])
    digits = "first 2 000" if rehearse else "all 60 000"
    compiled = [] if rehearse else ["--compiled"]        # a CPU's C++ compile alone would take the budget
    return [("op", bench + ["--only", "op", *compiled], 90),
            ("resnet", bench + ["--only", "resnet"], 90),
            ("cifar", bench + ["--only", "cifar"], 120),
            ("ui", [PY, "scripts/ui_cost.py", "--races", "ReLU,AReLU", "--digits", digits, "--json"], 180),
            ("maml", bench + ["--only", "maml"], 90),
            ("resnet_compiled", bench + ["--only", "resnet", "--compiled"], 150)]

VERSIONS = r"""
import json, platform, subprocess, torch
out = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
       "cuda_available": torch.cuda.is_available()}
try:
    import triton; out["triton"] = triton.__version__
except Exception as exc:
    out["triton"] = f"unavailable ({type(exc).__name__})"
if torch.cuda.is_available():
    out["gpu"] = torch.cuda.get_device_name(0)
    out["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
        out["driver"], out["memory"] = [s.strip() for s in smi.split(",")]
    except Exception as exc:
        out["driver"] = f"unknown ({type(exc).__name__})"
print(json.dumps(out))
"""


def run(command: list[str], timeout_s: float, log: Path) -> tuple[str, float, str]:
    """(outcome, seconds, stdout): outcome ok / failed (rc) / timeout. Its whole process group ends at the
    limit (a streamlit server, Chromium), so a part cannot outlive its time."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as err:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=max(timeout_s, 1))
            outcome = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                time.sleep(3)
            out, _ = proc.communicate()
            outcome = f"timeout ({timeout_s:.0f} s)"
    return outcome, time.monotonic() - started, out or ""


def last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def junit_counts(path: Path) -> dict:
    if not path.exists():
        return {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed_ids": []}
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")} | {"failed_ids": failed}


def ui_missing() -> str | None:
    """Why the browser race cannot run here (streamlit, Playwright or Chromium absent), else None."""
    missing = [name for name in ("streamlit", "playwright") if not _importable(name)]
    chromium = os.environ.get("ARELU_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        missing.append(f"Chromium at {chromium} (ARELU_CHROMIUM)")
    return f"needs {', '.join(missing)}" if missing else None


def _importable(module: str) -> bool:
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True).returncode == 0


def cpu_mode(outdir: Path, versions: dict) -> int:
    """No CUDA: check that what the GPU run calls resolves, so the script cannot rot unnoticed."""
    checks = {}
    outcome, _, out = run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", *CUDA_TESTS],
                          300, outdir / "collect.log")
    collected = next((int(w) for line in out.splitlines() if "collected" in line for w in line.split() if w.isdigit()), 0)
    checks["cuda_tests_collect"] = {"ok": outcome == "ok" and collected > 0, "collected": collected}
    probe = ("import arelu_core.bench as b, arelu_core.cli as c; "
             "assert all(callable(getattr(b, f)) for f in ('bench_op', 'bench_resnet', 'bench_cifar_epoch', 'bench_maml')); "
             "p = c.build_parser(); a = p.parse_args(['bench', '--only', 'cifar', '--only', 'maml', '--compiled', "
             "'--device', 'cuda', '--json']); assert a.only == ['cifar', 'maml']; print('ok')")
    outcome, _, out = run([PY, "-c", probe], 120, outdir / "bench_probe.log")
    checks["bench_parts_resolve"] = {"ok": outcome == "ok" and out.strip().endswith("ok")}
    outcome, _, out = run([PY, "scripts/ui_cost.py", "--help"], 120, outdir / "ui_probe.log")
    checks["ui_cost_script"] = {"ok": outcome == "ok" and "--races" in out}
    checks["versions_probe"] = {"ok": bool(versions.get("torch")), "versions": versions}
    checks["ui_here"] = {"ok": True, "note": ui_missing() or "streamlit, Playwright and Chromium present"}
    ok = all(c["ok"] for c in checks.values())
    (outdir / "cpu_mode.json").write_text(json.dumps({"cuda": False, "parts_resolve": ok, "checks": checks}, indent=1))
    for name, check in checks.items():
        print(f"  {'ok ' if check['ok'] else 'BAD'} {name}" + (f" ({check.get('collected') or check.get('note')})"
                                                           if check.get("collected") or check.get("note") else ""))
    print(f"parts resolve: {'yes' if ok else 'NO'}; results in {outdir}")
    return 0 if ok else 1


def figure(results: dict, part: str, *path):
    value = results.get(part, {}).get("result")
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def goals(results: dict, gpu: str | None) -> tuple[dict, list[str]]:
    """Each goal: value, target, met (None: not measured); and the correctness failures of the UI part."""
    ui = figure(results, "ui")
    race = ui[0] if isinstance(ui, list) and ui else {}
    rates = race.get("ui_samples_per_second") or []
    out = {"resnet18_step_arelu_vs_relu": (figure(results, "resnet", "resnet", "arelu_vs_relu"),
                                           GOALS["resnet18_step_arelu_vs_relu_max"], "<="),
           "op_arelu_vs_relu": (figure(results, "op", "op", "arelu_vs_relu"), GOALS["op_arelu_vs_relu_max"], "<="),
           "live_samples_per_second_each": (min(rates) if rates else None, GOALS["live_samples_per_second_min"], ">=")}
    table = {name: {"value": v, "goal": f"{sign} {target:g}",
                    "met": None if v is None else (v <= target if sign == "<=" else v >= target)}
             for name, (v, target, sign) in out.items()}
    problems = []
    if race and gpu:
        cards = race.get("card_captions") or []
        if len(cards) != 2 or not all(gpu in text for text in cards):
            problems.append(f"the Train live cards do not name the GPU {gpu!r}: {cards}")
    return table, problems


def gpu_mode(outdir: Path, budget_s: float, versions: dict, rehearse: bool = False) -> int:
    deadline = time.monotonic() + budget_s
    results, failures = {"versions": {"outcome": "ok", "result": versions}}, []
    left = lambda: deadline - time.monotonic()  # noqa: E731
    junit = outdir / "tests.xml"
    outcome, seconds, _ = run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--timeout={PER_TEST_TIMEOUT_S}",
                               f"--junitxml={junit}", *(CUDA_TESTS[-2:] if rehearse else CUDA_TESTS)],
                              min(240, left()), outdir / "tests.log")
    counts = junit_counts(junit)
    results["tests"] = {"outcome": outcome, "seconds": round(seconds, 1), "result": counts}
    (outdir / "tests.json").write_text(json.dumps(results["tests"], indent=1))
    if outcome != "ok" or counts["failures"] or counts["errors"] or not counts["tests"]:
        failures.append(f"CUDA tests: {outcome}, {counts['failures']} failed, {counts['errors']} errors "
                        f"({', '.join(counts['failed_ids'][:5])}); log: tests.log")
    print(f"[tests] {outcome} in {seconds:.0f} s: {counts['tests']} run, {counts['failures']} failed, "
          f"{counts['skipped']} skipped", flush=True)
    missing_ui = ui_missing()
    for name, command, limit in parts("cpu" if rehearse else "cuda", rehearse):
        if name == "ui" and missing_ui:
            results[name] = {"outcome": f"skipped: {missing_ui}"}
        elif left() < 20:
            results[name] = {"outcome": "skipped: out of time"}
        else:
            outcome, seconds, out = run(command, min(limit, left()), outdir / f"{name}.log")
            results[name] = {"outcome": outcome, "seconds": round(seconds, 1), "result": last_json(out)}
        print(f"[{name}] {results[name]['outcome']}" + (f" in {results[name]['seconds']:.0f} s" if "seconds" in results[name] else ""),
              flush=True)
        (outdir / f"{name}.json").write_text(json.dumps(results[name], indent=1, default=str))
    goal_table, problems = goals(results, "cpu" if rehearse else versions.get("gpu"))
    failures += problems
    summary = {"versions": versions, "parts": {k: v["outcome"] for k, v in results.items()}, "goals": goal_table,
               "correctness_failures": failures, "budget_s": budget_s}
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    text = format_summary(summary, results)
    (outdir / "summary.txt").write_text(text + "\n")
    print(text)
    return 1 if failures else 0


def format_summary(summary: dict, results: dict) -> str:
    v = summary["versions"]
    lines = [f"GPU {v.get('gpu')} (sm {v.get('capability')}, driver {v.get('driver')}), torch {v.get('torch')}, "
             f"CUDA {v.get('cuda')}, Triton {v.get('triton')}, Python {v.get('python')}; MNIST {v.get('mnist')}", ""]
    for name, outcome in summary["parts"].items():
        lines.append(f"  {name:<16} {outcome}")
    ratios = [("op: AReLU / ReLU fwd+bwd", figure(results, "op", "op", "arelu_vs_relu")),
              ("op: torch-ops AReLU / ReLU", _ratio(results, "op", "op", "seconds", "arelu_torch_ops", "relu")),
              ("resnet step: AReLU / ReLU", figure(results, "resnet", "resnet", "arelu_vs_relu")),
              ("resnet step: torch-ops / ReLU", _ratio(results, "resnet", "resnet", "step_seconds", "arelu_torch_ops", "relu")),
              ("resnet step: compiled / ReLU", figure(results, "resnet_compiled", "resnet", "compiled_vs_relu")),
              ("CIFAR-100 epoch: AReLU / ReLU", figure(results, "cifar", "cifar", "arelu_vs_relu")),
              ("MAML s per 100 iterations", figure(results, "maml", "maml", "vectorised", "seconds_per_100"))]
    lines += [""] + [f"  {label:<32} {value:.2f}" for label, value in ratios if value is not None]
    ui = figure(results, "ui")
    if isinstance(ui, list) and ui:
        race = ui[0]
        lines.append(f"  {'Train live ReLU + AReLU':<32} UI {race['ui_samples_per_second']} samples/s, CLI "
                     f"{max(race['cli_default_threads_samples_per_second'], race['cli_app_threads_samples_per_second'], key=sum)}"
                     f" samples/s: the UI costs {race['ui_cost_percent']:+.1f}%")
    lines.append("")
    for name, g in summary["goals"].items():
        verdict = "not measured" if g["met"] is None else ("met" if g["met"] else "MISSED")
        value = "" if g["value"] is None else f"{g['value']:.2f} "
        lines.append(f"  goal {name} {g['goal']}: {value}{verdict}")
    lines.append("")
    lines.append("correctness: " + ("PASS" if not summary["correctness_failures"] else
                                    "FAIL: " + "; ".join(summary["correctness_failures"])))
    return "\n".join(lines)


def _ratio(results, part, *path):
    *keys, a, b = path
    table = figure(results, part, *keys)
    return table[a] / table[b] if isinstance(table, dict) and a in table and b in table and table[b] else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", help="folder for the JSON figures, the logs and the summary")
    parser.add_argument("--budget", type=float, default=float(os.environ.get("ARELU_GPU_CHECK_BUDGET_S", 480)),
                        help="seconds for all parts together (default 480)")
    parser.add_argument("--rehearse", action="store_true",
                        help="without a GPU: run every part on the CPU at small sizes (tries the plumbing)")
    args = parser.parse_args()
    outdir = Path(args.outdir).absolute()
    outdir.mkdir(parents=True, exist_ok=True)
    outcome, _, out = run([PY, "-c", VERSIONS], 60, outdir / "versions.log")
    versions = last_json(out) or {}
    sys.path.insert(0, str(ROOT))
    from arelu_core.data import mnist_available, resolve_data_dir
    versions["mnist"] = f"{resolve_data_dir()} ({'found' if mnist_available() else 'MISSING'})"
    if not mnist_available():   # the trainings (tests, epochs, MAML, the race) would fail for this, not the GPU
        print(f"warning: MNIST is not under {resolve_data_dir()}: set ARELU_DATA_DIR (see README)", flush=True)
    (outdir / "versions.json").write_text(json.dumps(versions, indent=1))
    print(", ".join(f"{k} {v}" for k, v in versions.items()) or f"versions: {outcome}", flush=True)
    if args.rehearse:
        print("rehearsal on the CPU: every part at small sizes, figures not a GPU's", flush=True)
        return gpu_mode(outdir, args.budget, versions, rehearse=True)
    if not versions.get("cuda_available"):
        print("no CUDA device here: the GPU check needs one; checking that its parts resolve instead", flush=True)
        return cpu_mode(outdir, versions)
    if shutil.which("nvidia-smi") is None:
        print("(nvidia-smi not found: driver version unknown)")
    return gpu_mode(outdir, args.budget, versions)


if __name__ == "__main__":
    sys.exit(main())
