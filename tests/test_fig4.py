"""Fig. 4 (deep networks x activations x seeds): resumable results, claims from the data, Ray runs."""
import json
import os
import subprocess
import sys

import pytest

from arelu_core.reproduce.claims import NO_DATA, NOT_SUPPORTED, SUPPORTED
from arelu_core.reproduce.fig4 import PAPER_ACTIVATIONS, fig4_claims, fig4_runs, run_fig4
from arelu_core.reproduce.results import ResultsFile

SMALL = dict(networks=["resnet18"], activations=["relu", "arelu"], epochs=1, dataset="fashion-mnist",
             width=0.125, train_subset=64, test_subset=64, threads=1)


def _cell(network, activation, curve):
    return {"network": network, "activation": activation, "curve": curve}


def test_grid_is_the_papers():
    runs = fig4_runs(seeds=[0, 1])
    assert len(runs) == 5 * 6 * 2 and {r.activation for r in runs} == set(PAPER_ACTIVATIONS)
    assert {(r.lr, r.batch_size, r.weight_decay, r.optimizer) for r in runs} == {(0.1, 64, 5e-4, "sgd")}
    assert runs[0].dataset == "cifar100"


def test_claims_follow_the_data():
    nets = ["resnet18", "seresnet18", "vgg16", "densenet121", "mobilenetv2"]
    # AReLU ahead over the first quarter (epochs 1-2 of 8) on all five: supported
    cells = [c for n in nets for c in (_cell(n, "arelu", [50, 60, 70, 71, 72, 73, 74, 75]),
                                       _cell(n, "relu", [40, 55, 65, 72, 74, 75, 76, 77]))]
    fastest = fig4_claims(cells)[0]
    assert fastest["verdict"] == SUPPORTED and len(fastest["figures"]["fastest_on"]) == 5
    # behind on one network: not supported, and the detail names it
    cells[-1] = _cell("mobilenetv2", "relu", [80, 80, 80, 80, 80, 80, 80, 80])
    fastest = fig4_claims(cells)[0]
    assert fastest["verdict"] == NOT_SUPPORTED and "mobilenetv2 (relu)" in fastest["detail"]
    # only one network run: cannot say "all five"
    assert fig4_claims(cells[:2])[0]["verdict"] == NO_DATA
    # PAU ahead of ReLU at epoch 1, then 3 points below its best: supported; rising PAU: not
    pau = [_cell("resnet18", "pau", [60, 66, 63]), _cell("resnet18", "relu", [50, 60, 65])]
    assert fig4_claims(pau)[1]["verdict"] == SUPPORTED
    pau[0] = _cell("resnet18", "pau", [60, 62, 64])
    assert fig4_claims(pau)[1]["verdict"] == NOT_SUPPORTED
    assert fig4_claims([])[1]["verdict"] == NO_DATA


def test_resumable_and_ray_gives_the_same_accuracies(tmp_path, data_dir):
    pytest.importorskip("ray")
    local = run_fig4(**SMALL, device="cpu", data_dir=data_dir, out=tmp_path / "local")
    assert local["status"] == "finished" and local["trained_now"] == 2
    assert [json.loads(line)["tf32"] for line in (tmp_path / "local" / "runs.jsonl").read_text().splitlines()] == [False] * 2
    again = run_fig4(**SMALL, device="cpu", data_dir=data_dir, out=tmp_path / "local")
    assert again["skipped"] == 2 and again["trained_now"] == 0
    # One of the two runs already finished: Ray trains only the other, into the same file.
    ray_out = tmp_path / "ray"
    ray_out.mkdir()
    first = (tmp_path / "local" / "runs.jsonl").read_text().splitlines()[0]
    (ray_out / "runs.jsonl").write_text(first + "\n")
    import ray
    from arelu_core.reproduce import run_experiment
    table1 = dict(activations=["relu", "arelu"], optimizers=["sgd"], lrs=[1e-2], seeds=[0], train_subset=256,
                  device="cpu", data_dir=data_dir, group_size=1)
    t1_local = run_experiment("table1", **table1, out=tmp_path / "t1_local")
    try:
        via_ray = run_fig4(**SMALL, device="cpu", data_dir=data_dir, out=ray_out, ray="local")
        t1_ray = run_experiment("table1", **table1, out=tmp_path / "t1_ray", ray="local")   # same Ray session
    finally:
        ray.shutdown()
    assert t1_ray["trained_now"] == 2
    assert [c["mean"] for c in t1_ray["cells"]] == [c["mean"] for c in t1_local["cells"]]
    assert via_ray["skipped"] == 1 and via_ray["trained_now"] == 1 and via_ray["status"] == "finished"
    by_key = lambda path: {r["key"]: r for r in ResultsFile(path / "runs.jsonl", "fig4").read()}  # noqa: E731
    ours, theirs = by_key(tmp_path / "local"), by_key(ray_out)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key]["accuracy"] == theirs[key]["accuracy"]
        assert ours[key]["activation_parameters"] == theirs[key]["activation_parameters"]


def test_ray_retries_a_killed_worker(tmp_path):
    pytest.importorskip("ray")
    import ray
    from arelu_core.reproduce import ray_runner
    from arelu_core.reproduce.ray_runner import run_on_ray

    def dies_once(item, data_dir, device):   # nested: Ray ships it by value to the worker
        """A task whose worker process dies the first time (as a killed or lost worker would)."""
        marker = os.path.join(item["dir"], "attempted")
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return {"value": item["value"], "pid": os.getpid()}

    def always_dies(item, data_dir, device):
        os._exit(1)

    got = []
    try:
        run_on_ray(dies_once, [{"dir": str(tmp_path), "value": 7}], "local", got.append, threads=1)
        assert [g["value"] for g in got] == [7] and (tmp_path / "attempted").exists()
        # retries used up: reported in one line, the finished runs handed on before it
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ray_runner, "MAX_RETRIES", 0)
            with pytest.raises(ray_runner.RayWorkerLostError, match=r"^a Ray worker running one run was lost "
                               r"\(\w+\) on each of 1 try; the runs finished \(0 in this call\) are kept: rerun "
                               r"the same command to continue$"):
                run_on_ray(always_dies, [{"value": 9}], "local", got.append, threads=1)
    finally:
        ray.shutdown()
    assert [g["value"] for g in got] == [7]


def test_ray_task_requests_fit_the_largest_node():
    """The first cluster try hung: each task asked for the cluster's 2 CPUs, and no node had 2."""
    from arelu_core.reproduce.ray_runner import RayInfeasibleError, fits, task_resources
    node = lambda cpus, gpus=0: {"NodeManagerAddress": "10.0.0.1", "Alive": True,  # noqa: E731
                                 "Resources": {"CPU": cpus, **({"GPU": gpus} if gpus else {})}}
    assert task_resources([node(1), node(1)], "auto", threads=2) == {"num_cpus": 1}
    assert task_resources([node(1), node(4)], "cpu", threads=8) == {"num_cpus": 4}
    assert task_resources([node(8)], "auto", threads=2) == {"num_cpus": 2}
    assert task_resources([node(8), node(4, gpus=1)], "auto", threads=8) == {"num_gpus": 1, "num_cpus": 1}
    assert task_resources([node(8), node(4, gpus=1)], "cpu", threads=8) == {"num_cpus": 8}
    assert fits({"num_cpus": 2}, node(2)) and not fits({"num_cpus": 2}, node(1))
    assert not fits({"num_gpus": 1, "num_cpus": 1}, node(8))
    with pytest.raises(RayInfeasibleError, match="--device cuda, but no node of the Ray cluster has a GPU"):
        task_resources([node(8)], "cuda", threads=1)
    with pytest.raises(RayInfeasibleError, match="no node of the Ray cluster has a whole CPU"):
        task_resources([node(0.5)], "auto", threads=1)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "arelu_core", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_ray_missing_or_unreachable_is_one_line_and_keeps_runs(tmp_path, data_dir):
    out = tmp_path / "f4"
    out.mkdir()
    kept = '{"format": "arelu-lab/reproduce", "format_version": 1, "experiment": "fig4", "key": "k", ' \
           '"activation": "relu", "optimizer": "sgd", "lr": 0.1, "seed": 0, "status": "finished", "accuracy": [50.0], ' \
           '"network": "resnet18", "dataset": "fashion-mnist", "epochs": 1}\n'
    (out / "runs.jsonl").write_text(kept)
    args = ["reproduce", "fig4", "--dataset", "fashion-mnist", "--networks", "resnet18", "--activations", "relu",
            "--epochs", "1", "--train-subset", "64", "--width", "0.125", "--out", str(out), "--json"]
    run = _cli(*args, "--ray", "127.0.0.1:9")
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "error: cannot reach the Ray cluster at '127.0.0.1:9' (Connection refused); start one with `ray start --head` "
        "or use --ray local"]
    # Ray not installed: a stand-in 'ray' package that fails to import, as a missing one does
    fake = tmp_path / "noray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    run = _cli(*args, "--ray", "local", env={"PYTHONPATH": str(fake)})
    assert run.returncode == 2 and "pip install 'arelu-lab[cluster]'" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert (out / "runs.jsonl").read_text() == kept          # the finished run is still there
    run = _cli("reproduce", "fig4", "--networks", "mnist-conv", "--json")
    assert run.returncode == 2 and "deep networks" in run.stderr
    json.loads(run.stdout.strip().splitlines()[-1])
