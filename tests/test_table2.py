"""Table 2 (transfer learning): the grouped RGB network equals its models, the protocol runs for real
(MNIST -> Fashion-MNIST, and MNIST -> a synthetic SVHN in the real .mat format), resumes, shows the
paper's numbers only for the paper's pair, computes its claims from the data, and refuses bad input."""
import json
import os
from pathlib import Path

import pytest
import torch

from arelu_core.cli import main
from arelu_core.reproduce import run_experiment, summarise
from arelu_core.reproduce.batched import GroupedMNISTConv, fresh_models
from arelu_core.reproduce.claims import NOT_SUPPORTED, SUPPORTED
from arelu_core.reproduce.results import ResultsFile
from arelu_core.reproduce.table2 import format_table2, settings, summarise_table2
from arelu_core.trainer import TrainConfig
from test_datasets import write_svhn

TINY = 256


pytestmark = pytest.mark.usefixtures("one_thread")      # tests/conftest.py


def test_grouped_rgb_network_equals_its_models():
    specs = [TrainConfig(activation=a, seed=s) for a in ("relu", "prelu", "arelu") for s in (0, 1)]
    models = fresh_models(specs, in_channels=3)
    net = GroupedMNISTConv(specs, models).eval()
    x = torch.rand(5, 3, 28, 28)
    grouped = net(x.unsqueeze(1).expand(-1, len(specs), -1, -1, -1).flatten(1, 2))   # [5, G, 10]
    for g, model in enumerate(models):
        torch.testing.assert_close(grouped[:, g], model.eval()(x), rtol=1e-4, atol=1e-5)
        torch.manual_seed(specs[g].seed)        # fresh_models gives each model its seed's initial weights
        fresh = type(model)(specs[g].activation, in_channels=3)
        assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))


def test_cli_mnist_to_fashion_json_and_resume(tmp_path, capsys, data_dir):
    argv = ["reproduce", "table2", "--target", "fashion-mnist", "--activations", "relu", "arelu", "--seeds", "0",
            "--train-subset", str(TINY), "--epochs", "2", "--pretrain-epochs", "1", "--out", str(tmp_path),
            "--data-dir", data_dir, "--device", "cpu", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["experiment"] == "table2" and (out["source"], out["target"]) == ("mnist", "fashion-mnist")
    assert out["settings"] == ["no pretrain", "no fine-tune", "f.t. 2 epochs"] and out["finished"] == 2
    assert {(c["activation"], c["setting"]) for c in out["cells"]} == {(a, s) for a in ("relu", "arelu")
                                                                       for s in out["settings"]}
    assert all(c["paper"] is None and isinstance(c["mean"], float) for c in out["cells"])  # not the paper's pair
    assert "NOT the paper's pair" in out["note"]
    records = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    for r in records:
        assert r["status"] == "finished" and len(r["accuracy"]) == 2 and len(r["source_accuracy"]) == 1
        assert r["settings"]["f.t. 2 epochs"] == r["accuracy"][1]          # the row is the fine-tuning curve
        assert r["settings"]["no pretrain"] == r["scratch_accuracy"][-1]
        assert r["device"] == "cpu" and r["train_subset"] == TINY
    assert main(argv) == 0                                                  # resumed: nothing to train
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["trained_now"] == 0 and again["cells"] == out["cells"]
    assert summarise("table2", records)["cells"] == out["cells"]           # the page's path gives the same


def test_mnist_to_synthetic_svhn_shows_the_papers_numbers(tmp_path, data_dir):
    data = tmp_path / "data"
    write_svhn(data, n_train=64, n_test=40)
    os.symlink(Path(data_dir) / "MNIST", data / "MNIST")
    summary = run_experiment("table2", activations=["arelu"], seeds=[0], epochs=1, pretrain_epochs=1,
                             train_subset=TINY, device="cpu", out=tmp_path / "out", data_dir=data)
    assert summary["paper_pair"] and summary["target"] == "svhn"
    cells = {c["setting"]: c for c in summary["cells"]}
    assert cells["f.t. 1 epochs"]["paper"] is None               # the paper reports 5, 10, 20
    assert cells["no fine-tune"]["paper"] == 31.91 and cells["no pretrain"]["paper"] == 24.95
    assert cells["no fine-tune"]["diff"] == pytest.approx(cells["no fine-tune"]["mean"] - 31.91, abs=1e-3)
    assert "(31.9)" in format_table2(summary)
    assert all(r["tf32"] is False for r in ResultsFile(tmp_path / "out" / "runs.jsonl", "table2").read())


def _records(values: dict, source="mnist", target="svhn") -> list[dict]:
    """Results records as run_table2 writes them, with chosen numbers: {activation: {setting: value}}."""
    return [{"key": f"{a}|{s}", "activation": a, "seed": s, "status": "finished", "source": source, "target": target,
             "epochs": 20, "settings": {k: v + s for k, v in row.items()}, "accuracy": [], "group_id": a}
            for a, row in values.items() for s in (0, 1)]


def test_claims_follow_the_data_and_the_paper_only_beside_its_pair():
    rows = settings(20)
    arelu_best = {"relu": dict(zip(rows, (19.6, 35.0, 69.0, 70.0, 71.0))),
                  "arelu": dict(zip(rows, (24.0, 32.0, 76.0, 78.0, 79.0)))}
    summary = summarise_table2(_records(arelu_best))
    verdicts = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert verdicts == {"t2_arelu_best_ft": SUPPORTED, "t2_pretraining_helps": SUPPORTED}
    assert all(c["paper_verdict"] == SUPPORTED for c in summary["claims"])     # the paper's table says so too
    cell = next(c for c in summary["cells"] if (c["activation"], c["setting"]) == ("arelu", "f.t. 20 epochs"))
    assert (cell["mean"], cell["std"], cell["n"], cell["paper"]) == (79.5, 0.5, 2, 78.48)
    relu_better = {**arelu_best, "relu": dict(zip(rows, (30.0, 35.0, 80.0, 81.0, 20.0)))}
    verdicts = {c["id"]: c["verdict"] for c in summarise_table2(_records(relu_better))["claims"]}
    assert verdicts == {"t2_arelu_best_ft": NOT_SUPPORTED, "t2_pretraining_helps": NOT_SUPPORTED}
    other_pair = summarise_table2(_records(arelu_best, target="fashion-mnist"))
    assert all(c["paper"] is None for c in other_pair["cells"]) and not other_pair["paper_pair"]


@pytest.mark.parametrize("args, needle", [
    (["--source", "mnist", "--target", "mnist"], "two different datasets"),
    (["--target", "cifar100"], "100 classes"),
    (["--target", "imagenet"], "unknown dataset"),
    (["--optimizers", "adam"], "fixed protocol"),
    (["--pretrain-epochs", "0"], "pretrain epochs must be a positive integer"),
])
def test_cli_bad_table2_options_are_one_line(args, needle, capsys, tmp_path):
    assert main(["reproduce", "table2", *args, "--out", str(tmp_path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_cli_svhn_offline_is_one_line(tmp_path, capsys, monkeypatch, data_dir):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("no internet")))
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(Path(data_dir) / "MNIST", data / "MNIST")
    assert main(["reproduce", "table2", "--activations", "relu", "--seeds", "0", "--data-dir", str(data),
                 "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SVHN not found" in err[0] and "--data-dir" in err[0]
    assert not (tmp_path / "out" / "runs.jsonl").exists()
    assert main(["reproduce", "table1", "--source", "svhn", "--out", str(tmp_path)]) == 2
    assert "belong to table2" in capsys.readouterr().err


def test_page_shows_the_shipped_transfer_table_and_runs_a_small_one(tmp_path, monkeypatch, data_dir):
    """The Reproduce page: the shipped MNIST -> Fashion-MNIST runs with their claims and no paper column,
    then a small live Table 2 in the background."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "reproduce.py"), default_timeout=120)
    at.run()
    experiment = next(s for s in at.selectbox if s.label == "Experiment")
    experiment.set_value("table2").run()
    files = next(s for s in at.selectbox if s.label == "Results file")
    files.set_value(next(o for o in files.options if "table2" in str(o))).run()
    assert not at.exception and not at.error
    assert any("not the paper's pair" in w.value for w in at.warning)
    assert any("pretraining on the source helps" in m.value for m in (*at.success, *at.warning, *at.info))
    table = at.dataframe[-1].value
    assert set(table["setting"]) == set(settings(20)) and table["paper"].isna().all()
    # a small live run: 5 000 images, 1 + 1 epochs, ReLU and AReLU, one seed
    at.selectbox(key="t2_subset").set_value(next(k for k in at.selectbox(key="t2_subset").options if "5 000" in k))
    at.number_input(key="t2_finetune").set_value(1)
    next(b for b in at.button if b.label == "Start").click().run()
    from ui.common import get_job_manager
    manager = get_job_manager()                 # a job of the app's JobManager, in a worker process
    run = manager.get(at.session_state["arelu_owner_id"], at.session_state["reproduce_job_id"])
    assert manager.wait([run], 600), run.status
    at.run()
    assert not at.exception and not at.error, at.error
    assert run.result["finished"] == 2 and run.result["target"] == "fashion-mnist"


def test_shipped_transfer_runs_are_real_and_labelled():
    """assets/results/table2: full-data MNIST -> Fashion-MNIST runs, device recorded, no paper column."""
    from arelu_core.reproduce.results import ResultsFile
    path = Path(__file__).resolve().parents[1] / "assets" / "results" / "table2" / "runs.jsonl"
    records = ResultsFile(path, "table2").read()
    assert records and all((r["source"], r["target"], r["train_subset"], r["epochs"], r["pretrain_epochs"])
                           == ("mnist", "fashion-mnist", None, 20, 5) for r in records)
    assert all(r["device"] and r["status"] == "finished" and len(r["accuracy"]) == 20 for r in records)
    summary = summarise_table2(records)
    assert not summary["paper_pair"] and all(c["paper"] is None for c in summary["cells"])
    assert {len(c["seeds"]) for c in summary["cells"]} == {3}
