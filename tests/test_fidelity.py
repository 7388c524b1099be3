"""Fidelity to the official code (issue 17): PAU's official form where the paper's tables are reproduced,
torch's own PReLU (old checkpoints still load), Table 3 at both inner learning rates, merging grids."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from arelu_core.checkpoint import current_names, load_checkpoint
from arelu_core.data import load_mnist
from arelu_core.network import MNISTConv, accuracy
from arelu_core.reproduce import get_experiment, summarise
from arelu_core.reproduce.batched import train_group
from arelu_core.reproduce.fig4 import fig4_runs
from arelu_core.reproduce.meta import SHIPPED_TABLE3, table3_comparison, table3_configs
from arelu_core.reproduce.results import ResultsFile, ResultsFileError, merge_results
from arelu_core.reproduce.summary import compare_table3, format_table3_comparison
from arelu_core.reproduce.table2 import table2_key
from arelu_core.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


def test_paper_reproductions_build_pau_as_the_official_code():
    official = {"form": "official"}
    for experiment in ("table1", "fig3", "table4"):
        runs = get_experiment(experiment).runs(["pau", "relu"], seeds=[0])
        assert {r.activation: r.activation_params for r in runs} in (
            {"pau": official, "relu": {}}, {"pau+elsa": official, "relu+elsa": {}})
    fig2 = get_experiment("fig2").runs(seeds=[0])
    assert all("form" not in r.activation_params for r in fig2)          # AReLU inits only
    assert {c.activation: c.params for c in table3_configs(["pau", "arelu"], seeds=[0], shots=[1])} == \
        {"pau": official, "arelu": {}}
    assert "|params=form=official" in table3_configs(["pau"], seeds=[0], shots=[1])[0].key()
    assert "params" not in table3_configs(["relu"], seeds=[0], shots=[1])[0].key()   # older keys unchanged
    assert {r.activation: r.params for r in fig4_runs(["resnet18"], ["pau", "relu"])} == {"pau": official, "relu": {}}
    assert table2_key("pau", 0, "mnist", "svhn", 5, 20, 128, None, official).startswith("pau|params=form=official|")
    assert table2_key("relu", 0, "mnist", "svhn", 5, 20, 128, None, {}) == \
        table2_key("relu", 0, "mnist", "svhn", 5, 20, 128, None)


def test_batched_trainer_trains_torchs_prelu_and_both_pau_forms_as_plain_training(data_dir):
    train_data, test_data = load_mnist(True, data_dir), load_mnist(False, data_dir)
    specs = [TrainConfig(activation=a, activation_params=p, optimizer="sgd", lr=1e-2, seed=0, device="cpu",
                         train_subset=512, params_every=0)
             for a, p in (("prelu", {}), ("pau", {"form": "safe"}), ("pau", {"form": "official"}))]
    grouped = train_group(specs, train_data, test_data, "cpu")
    for spec, out in zip(specs, grouped):
        ref = train(spec, train_data=train_data, test_data=test_data)
        assert out.status == ref.status == "finished"
        assert out.losses[0] == pytest.approx(ref.losses[0], abs=1e-4)
        for got, want in zip(out.epoch_parameters[-1], ref.model.activation_parameters()):
            assert got.keys() == want.keys()
            assert got == pytest.approx(want, abs=1e-3)
    assert list(grouped[0].epoch_parameters[-1][0]) == ["weight"]          # nn.PReLU's slope, one per layer
    forms = [out.model.blocks[0].act.form for out in grouped[1:]]
    assert forms == ["safe", "official"]


def test_prelu_checkpoints_from_before_torchs_module_still_load(data_dir, tmp_path):
    model, meta = load_checkpoint(ROOT / "models" / "prelu.pt")            # shipped: its slope saved as '.a'
    assert isinstance(model.blocks[0].act, torch.nn.PReLU)
    test = load_mnist(False, data_dir)
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())["models"]["prelu"]
    assert accuracy(model, test.images, test.labels) == pytest.approx(manifest["test_accuracy"], abs=0.01)
    layers = model.activation_parameters()
    assert len(layers) == 3 and all(list(layer) == ["weight"] for layer in layers)
    # the renaming itself: '<site>.a' of shape () -> '<site>.weight' of shape (1,), other names untouched
    fresh = MNISTConv("prelu")
    old = {(k[:-len("weight")] + "a" if k.endswith("act.weight") else k): (v.reshape(()) if k.endswith("act.weight") else v)
           for k, v in fresh.state_dict().items()}
    assert "blocks.0.act.a" in old and old["blocks.0.act.a"].shape == ()
    renamed = current_names(fresh, old)
    assert renamed.keys() == fresh.state_dict().keys() and renamed["blocks.2.act.weight"].shape == (1,)
    assert current_names(MNISTConv("apl"), MNISTConv("apl").state_dict()).keys() == MNISTConv("apl").state_dict().keys()


def test_shipped_table3_grids_side_by_side_with_claims_per_inner_lr():
    comparison = table3_comparison()
    assert comparison["inner_lrs"][0] == 0.005 and 0.01 in comparison["inner_lrs"]
    assert [Path(p).parent.name for p in comparison["results_files"]] == ["table3", "table3-inner-lr-0.01"]
    old = ResultsFile(SHIPPED_TABLE3[1], "table3").read()
    assert len(old) == 60 and {r["inner_lr"] for r in old} == {0.01}
    rows = {(r["activation"], r["variant"], r["shots"]): r for r in comparison["rows"]}
    assert rows[("pau", "form=safe", 1)]["by_inner_lr"]["0.01"]["n"] == 5      # the shipped 0.01 PAU: the safe form
    assert rows[("arelu", "", 1)]["paper"] == 92.5
    for lr in comparison["inner_lrs"]:
        claims = [c for c in comparison["claims"] if c["inner_lr"] == lr]
        assert len(claims) == 2 and all(c["detail"].startswith(f"inner lr {lr:g}: ") for c in claims)
    # each inner lr's claim is computed on its own cells only: the 0.01 grid alone gives the same verdicts
    alone = compare_table3(old)["claims"]
    assert [c["verdict"] for c in alone] == [c["verdict"] for c in comparison["claims"] if c["inner_lr"] == 0.01]
    text = format_table3_comparison(comparison)
    assert "inner lr 0.005: official" in text and "pau (form=safe)" in text


def test_cli_compare_prints_both_inner_lrs_and_refuses_other_experiments():
    cmd = [sys.executable, "-m", "arelu_core", "reproduce", "table3", "--compare", "--json"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    assert out == json.loads(json.dumps(table3_comparison()))
    refused = subprocess.run([sys.executable, "-m", "arelu_core", "reproduce", "table1", "--compare"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--compare belongs to table3" in refused.stderr


def test_summaries_keep_pau_forms_apart_and_name_them():
    def record(params, seed, value):
        return {"activation": "pau", "params": params, "optimizer": "sgd", "lr": 1e-3, "seed": seed, "epochs": 1,
                "status": "finished", "accuracy": [value], "key": f"{params}{seed}"}
    records = [record({}, 0, 90.0), record({}, 1, 92.0), record({"form": "official"}, 0, 97.0)]
    records.append({**record({}, 0, 99.0), "activation": "arelu", "key": "a"})
    cells = {c["variant"]: c for c in summarise("table1", records)["cells"] if c["activation"] == "pau"}
    assert cells["form=safe"]["mean"] == 91.0 and cells["form=official"]["mean"] == 97.0
    claim = next(c for c in summarise("table1", records)["claims"] if c["id"] == "t1_best_sgd_0.001")
    assert claim["figures"]["best_other"] == "pau (form=official)" and claim["figures"]["compared"] == 2


def test_merge_is_rerunnable_and_keeps_each_run_once(tmp_path):
    def line(key, seed):
        return json.dumps({"format": "arelu-lab/reproduce", "format_version": 1, "experiment": "table3", "key": key,
                           "activation": "relu", "optimizer": "adam", "lr": 0.005, "seed": seed,
                           "status": "finished", "accuracy": [50.0]}) + "\n"
    a, b, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "out" / "runs.jsonl"
    a.write_text(line("k0", 0) + line("k1", 1))
    b.write_text(line("k1", 1) + line("k2", 2))
    assert merge_results(target, [a, b], "table3") == (3, 1)
    assert merge_results(target, [a, b], "table3") == (0, 4)                 # again: nothing added
    assert [json.loads(x)["key"] for x in target.read_text().splitlines()] == ["k0", "k1", "k2"]
    b.write_text(line("k3", 3) + "{torn")
    kept = target.read_bytes()
    with pytest.raises(ResultsFileError):
        merge_results(target, [b], "table3")
    assert target.read_bytes() == kept
    script = subprocess.run([sys.executable, str(ROOT / "scripts" / "merge_results.py"), "table3", str(target), str(b)],
                            capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert script.returncode == 2 and script.stderr.startswith("error: ") and target.read_bytes() == kept


def test_the_maml_claim_waits_for_a_complete_grid():
    """A setting that lacks an activation the grid has elsewhere decides nothing: the missing one might win."""
    from arelu_core.reproduce.claims import NO_DATA, SUPPORTED, arelu_best_meta
    cell = lambda act, shots, value: {"activation": act, "ways": 5, "shots": shots, "mean": value}  # noqa: E731
    full = [cell("arelu", 1, 90.0), cell("selu", 1, 80.0), cell("arelu", 5, 95.0), cell("selu", 5, 94.0)]
    assert arelu_best_meta("mean")(full)["verdict"] == SUPPORTED
    partial = [c for c in full if not (c["activation"] == "selu" and c["shots"] == 5)] + [cell("relu", 5, 70.0)]
    verdict = arelu_best_meta("mean")(partial)
    assert verdict["verdict"] == NO_DATA and "(5, 5) lacks SELU" in verdict["detail"], verdict
