"""Reproduction: batched training equals sequential training, divergence stays isolated, results
files resume and refuse foreign or damaged content, claims follow the data, the CLI's JSON parses."""
import json
from pathlib import Path
from statistics import fmean, pstdev

import pytest

from arelu_core.cli import main
from arelu_core.data import load_mnist
from arelu_core.errors import AReLULabError
from arelu_core.jobs import JobManager
from arelu_core.reproduce import (NO_DATA, NOT_SUPPORTED, SUPPORTED, ResultsFileError, reproduce_task, run_experiment,
                                  run_key, summarise, train_group)
from arelu_core.reproduce import batched
from arelu_core.trainer import TrainConfig, train
from charts_shown import charts

ROOT = Path(__file__).resolve().parents[1]
SUBSET = 2048          # 16 steps at batch 128: enough to separate seeds, seconds on the CPU
TINY = 256             # 2 steps: for bookkeeping tests


@pytest.fixture(scope="module")
def data(data_dir):          # data_dir: tests/conftest.py ($ARELU_DATA_DIR, else ../shared/data)
    return load_mnist(True, data_dir), load_mnist(False, data_dir).subset(2000)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch and Numba thread: on a small shared CPU, idle threads spinning between ops made the
    sequential reference runs ~10x slower (measured), and the results do not depend on it."""
    import numba
    import torch
    threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)


def test_batched_matches_sequential(data):
    train_data, test_data = data
    specs = [TrainConfig(activation=a, optimizer="sgd", lr=1e-2, seed=s, device="cpu", train_subset=SUBSET,
                         params_every=0) for a in ("relu", "arelu") for s in (0, 1, 2)]
    outcomes = train_group(specs, train_data, test_data, "cpu")        # one group, two activations
    ours, theirs = {}, {}
    for spec, out in zip(specs, outcomes):
        ref = train(TrainConfig(activation=spec.activation, optimizer="sgd", lr=1e-2, seed=spec.seed, device="cpu",
                                train_subset=SUBSET, params_every=0), train_data=train_data, test_data=test_data)
        assert out.status == ref.status == "finished"
        # Same init and batch order; only float summation order differs.
        assert out.epoch_accuracies[0] == pytest.approx(ref.epoch_accuracies[0], abs=0.3), run_key(spec)
        # TrainResult-shaped: the same fields as trainer.train's, the trained model included
        assert out.steps == ref.steps and len(out.losses) == len(ref.losses)
        assert out.losses[0] == pytest.approx(ref.losses[0], abs=1e-4)      # same init, same first batch
        assert out.test_accuracy == pytest.approx(ref.test_accuracy, abs=0.3)
        if spec.activation == "arelu":
            for got, want in zip(out.epoch_parameters[-1], ref.model.activation_parameters()):
                assert got["alpha"] == pytest.approx(want["alpha"], abs=1e-3)
                assert got["beta"] == pytest.approx(want["beta"], abs=1e-3)
            assert out.model.activation_parameters() == out.epoch_parameters[-1]
            assert len(out.epoch_parameters) == len(ref.epoch_parameters) == 2     # the start, after epoch 1
        ours.setdefault(spec.activation, []).append(out.epoch_accuracies[0])
        theirs.setdefault(spec.activation, []).append(ref.epoch_accuracies[0])
    for act in ours:   # the per-activation distributions over seeds agree too
        assert fmean(ours[act]) == pytest.approx(fmean(theirs[act]), abs=0.2)
        assert pstdev(ours[act]) == pytest.approx(pstdev(theirs[act]), abs=0.3)
    assert len(set(ours["relu"])) > 1   # the seeds really differ


def test_divergence_is_isolated(data, monkeypatch):
    train_data, test_data = data
    specs = [TrainConfig(activation="arelu", optimizer="adam", lr=1e-3, seed=s, train_subset=640) for s in (0, 1, 2)]
    clean = train_group(specs, train_data, test_data, "cpu")

    class Poisoned(batched.GroupedMNISTConv):
        calls = 0

        def forward(self, x):
            out = super().forward(x)
            if self.training:
                Poisoned.calls += 1
                if Poisoned.calls == 3:      # model 1's loss turns NaN at step 3
                    out = out.clone()
                    out[:, 1] = float("nan")
            return out

    monkeypatch.setattr(batched, "GroupedMNISTConv", Poisoned)
    poisoned = train_group(specs, train_data, test_data, "cpu")
    assert poisoned[1].status == "diverged" and "step 3" in poisoned[1].message
    assert poisoned[1].epoch_accuracies == [] and poisoned[1].steps == 2 and len(poisoned[1].losses) == 2
    for g in (0, 2):   # the others trained exactly as without model 1's NaN
        assert poisoned[g].status == "finished"
        assert poisoned[g].epoch_accuracies == clean[g].epoch_accuracies
        assert poisoned[g].epoch_parameters == clean[g].epoch_parameters


class Interrupt(Exception):
    pass


def _grid(data_dir, **kw):
    return {**dict(activations=["relu"], optimizers=["sgd"], lrs=[1e-2, 1e-3], seeds=[0], train_subset=TINY,
                   data_dir=data_dir, device="cpu", group_size=1), **kw}


def test_resume_after_interrupt(tmp_path, data_dir):
    def interrupt_after_first_run(event):
        if event["kind"] == "run":
            raise Interrupt
    with pytest.raises(Interrupt):
        run_experiment("table1", out=tmp_path, progress=interrupt_after_first_run, **_grid(data_dir))
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 1                                    # the finished run was written before the interrupt

    groups = []
    summary = run_experiment("table1", out=tmp_path, progress=lambda e: groups.append(e) if e["kind"] == "group" else None,
                             **_grid(data_dir))
    assert len(groups) == 1                                   # only the missing run was trained
    after = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert after[0] == lines[0] and len(after) == 2           # nothing lost, nothing redone
    assert summary["skipped"] == 1 and summary["trained_now"] == 1 and summary["status"] == "finished"
    assert {c["lr"] for c in summary["cells"]} == {1e-2, 1e-3}
    assert [json.loads(line)["tf32"] for line in after] == [False, False]     # TF32 off, and recorded


def _one_line_error(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_foreign_and_corrupted_results_files_are_refused_and_kept(tmp_path, data_dir):
    run_experiment("table1", out=tmp_path, **_grid(data_dir, lrs=[1e-2]))
    path = tmp_path / "runs.jsonl"
    original = path.read_bytes()
    with pytest.raises(ResultsFileError) as exc:              # another experiment's file
        run_experiment("fig2", out=tmp_path, seeds=[0], epochs=1, train_subset=TINY, data_dir=data_dir, device="cpu")
    assert "holds table1 runs, not fig2" in _one_line_error(exc)
    assert path.read_bytes() == original

    path.write_bytes(original + b'{"format": "arelu-lab/reproduce", "broken\n')
    damaged = path.read_bytes()
    with pytest.raises(ResultsFileError) as exc:
        run_experiment("table1", out=tmp_path, **_grid(data_dir, lrs=[1e-2]))
    assert "line 2" in _one_line_error(exc)
    assert path.read_bytes() == damaged                       # never truncated or rewritten

    # The CLI: one line on stderr, exit status 2; with --json the last stdout line is the error object.
    code = main(["reproduce", "table1", "--out", str(tmp_path), "--data-dir", data_dir, "--json"])
    assert code == 2
    # The app's way (a job of the JobManager): the job fails with that line, nothing else.
    manager = JobManager(max_running=1)
    job = manager.submit_task("tab", reproduce_task("table1", out=tmp_path, activations=["relu"], data_dir=data_dir),
                              label="Table 1")
    assert manager.wait([job], 30)
    assert job.status == "failed" and "line 2" in job.message and job.result is None


def _record(activation, optimizer, lr, seed, accuracy, params=None, experiment="table1"):
    return {"format": "arelu-lab/reproduce", "format_version": 1, "experiment": experiment,
            "key": f"{activation}|{params}|{optimizer}|{lr}|{seed}", "activation": activation, "params": params or {},
            "optimizer": optimizer, "lr": lr, "seed": seed, "epochs": len(accuracy), "train_subset": None,
            "status": "finished", "accuracy": accuracy, "wall_seconds": 1.0}


def _verdicts(summary):
    return {c["id"]: c["verdict"] for c in summary["claims"]}


def test_claims_follow_the_data():
    records = [_record(a, "sgd", lr, s, [acc + s * 0.1]) for lr, table in
               ((1e-3, {"relu": 40.0, "selu": 80.0, "arelu": 92.0}), (1e-4, {"relu": 11.0, "arelu": 9.0}))
               for a, acc in table.items() for s in range(3)]
    summary = summarise("table1", records)
    v = _verdicts(summary)
    assert v["t1_best_sgd_0.001"] == SUPPORTED
    assert v["t1_best_sgd_0.0001"] == NOT_SUPPORTED
    assert v["t1_best_small_lr"] == NOT_SUPPORTED
    assert v["t1_arelu_row"] == NOT_SUPPORTED                     # 9 vs the paper's 47.78 at SGD 1e-4
    cell = next(c for c in summary["cells"] if c["activation"] == "arelu" and c["lr"] == 1e-3)
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(92.1) and cell["paper"] == 93.13
    assert cell["diff"] == pytest.approx(92.1 - 93.13)
    # The sentences are fair readings of the published table:
    assert all(c["paper_verdict"] == SUPPORTED for c in summary["claims"] if "paper_verdict" in c)
    assert _verdicts(summarise("table1", records[:3]))["t1_best_sgd_0.001"] == NO_DATA

    inits = [(0.01, -2.0, 90.0, 97.0), (0.01, 2.0, 93.0, 97.5), (0.25, -1.0, 91.0, 98.0), (0.25, 1.0, 94.0, 98.6)]
    fig2 = summarise("fig2", [_record("arelu", "sgd", 1e-3, 0, [e1, e2], {"alpha": a, "beta": b}, "fig2")
                              for a, b, e1, e2 in inits])
    assert _verdicts(fig2) == {"f2_insensitive": SUPPORTED, "f2_beta_faster": SUPPORTED, "f2_best_alpha": SUPPORTED}

    base = [_record(a, "sgd", lr, 0, [acc]) for a, lr, acc in (("relu", 1e-2, 95.0), ("relu", 1e-4, 10.0))]
    elsa = [_record("relu+elsa", "sgd", lr, 0, [acc], experiment="table4") for lr, acc in ((1e-2, 94.0), (1e-4, 40.0))]
    t4 = summarise("table4", elsa, baseline=base)
    assert _verdicts(t4) == {"t4_improves": NOT_SUPPORTED, "t4_small_lr": SUPPORTED}   # 1 of 2 is not "most"
    assert _verdicts(summarise("table4", elsa)) == {"t4_improves": NO_DATA, "t4_small_lr": NO_DATA}


def test_cli_json_last_line_and_rerun(tmp_path, capsys, data_dir):
    argv = ["reproduce", "table1", "--activations", "relu,arelu", "--optimizers", "sgd", "--lrs", "1e-2",
            "--seeds", "0", "--train-subset", str(TINY), "--out", str(tmp_path), "--data-dir", data_dir,
            "--device", "cpu", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["experiment"] == "table1" and out["finished"] == 2 and out["trained_now"] == 2
    assert {c["activation"] for c in out["cells"]} == {"relu", "arelu"}
    assert all({"activation", "optimizer", "lr", "mean", "std", "n", "paper"} <= set(c) for c in out["cells"])
    assert isinstance(out["seconds"], float) and out["claims"]
    assert main(argv) == 0                                    # resumed: nothing left to train
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["trained_now"] == 0 and again["skipped"] == 2 and again["cells"] == out["cells"]


def test_cli_rejects_unknown_experiment_and_bad_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "table9"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert main(["reproduce", "table1", "--activations", "nonsense", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown activation" in err[0]
    with pytest.raises(AReLULabError):
        run_experiment("table1", group_size=0, activations=["relu"])


def test_page_shows_a_damaged_file_as_one_error(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    folder = tmp_path / "results" / "table1"
    folder.mkdir(parents=True)
    (folder / "runs.jsonl").write_text(json.dumps(_record("relu", "sgd", 1e-2, 0, [95.0])) + "\nnot json\n")
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "reproduce.py"), default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and "line 2 is not valid JSON" in at.error[0].value


def test_page_runs_a_small_table1_live(tmp_path, monkeypatch, data_dir):
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "reproduce.py"), default_timeout=60).run()
    at.multiselect[0].set_value(["relu", "arelu"])      # activations; SGD; lr 1e-3; 5 000 digits
    at.multiselect[2].set_value([1e-3])
    at.button[0].click().run()
    from ui.common import get_job_manager
    manager = get_job_manager()                          # the app's JobManager: a worker process, not the page
    run = manager.get(at.session_state["arelu_owner_id"], at.session_state["reproduce_job_id"])
    assert manager.wait([run], 300)
    assert run.result and run.result["finished"] == 2, run.message
    at.run()                                             # the finished run, and the same file in the load tab
    assert not at.exception and not at.error
    assert len(charts(at)) == 2
    assert any("AReLU beats every other activation with SGD, lr 0.001" in s.value for s in at.success)


def test_page_shows_the_shipped_runs_offline(tmp_path, monkeypatch):
    """A fresh clone has no results/ of its own: the Load tab offers our shipped full runs, and Table 4
    finds the shipped Table 1 as its baseline."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "reproduce.py"), default_timeout=120).run()
    # It opens on the results (not on the run form), and lists only the selected experiment's files.
    assert at.tabs[0].label == "Results"
    files = next(s for s in at.selectbox if s.label == "Results file")
    assert files.options == ["shipped: table1 (our full run)"]
    assert any("AReLU beats every other activation" in s.value for s in at.success)   # the 760 runs, drawn
    for experiment in ("fig2", "table4"):
        next(s for s in at.selectbox if s.label == "Experiment").set_value(experiment).run()
        files = next(s for s in at.selectbox if s.label == "Results file")
        assert files.options == [f"shipped: {experiment} (our full run)"]
    next(s for s in at.selectbox if s.label == "Experiment").set_value("table2").run()
    files = next(s for s in at.selectbox if s.label == "Results file")
    assert files.options == ["shipped: table2 (our full-data run: ReLU only, H100)",
                             "shipped: table2 (ReLU, PReLU, PAU, AReLU on 10 000 training images, CPU)"]
    files.set_value(files.options[1]).run()
    assert not at.exception and not at.error
    next(s for s in at.selectbox if s.label == "Experiment").set_value("table4").run()
    assert not at.exception and not at.error
    assert any("adding ELSA improves most activations over our Table 1" in s.value for s in at.success)
    table = at.dataframe[0].value
    pau = [a for a in table["activation"] if a.startswith("PAU")]
    assert pau and all(a.endswith("(form=safe)") for a in pau)      # the shipped PAU runs: made with the safe form
    next(s for s in at.selectbox if s.label == "Experiment").set_value("fig4").run()     # the deep networks' curves
    files = next(s for s in at.selectbox if s.label == "Results file")
    assert [option.split(":")[0] for option in files.options] == ["shipped", "shipped"]
    assert "H100" in files.options[0] and "x 6 activations" in files.options[1] and "CPU" in files.options[1]
    assert not at.exception and not at.error and len(charts(at)) == 1
    files.set_value(files.options[1]).run()
    assert not at.exception and not at.error and len(charts(at)) == 1
    # Table 4 has no legible published numbers: no such column
    assert "paper" not in table and "ours − ref" in table and not table.isin(["None"]).any().any()


def test_results_files_are_listed_per_experiment(tmp_path, monkeypatch):
    """Your own full runs first, then ours, then this page's small runs; a file counts for the experiment its
    first line names, whatever its folder is called."""
    from ui import reproduce_views as views
    monkeypatch.chdir(tmp_path)
    for folder, experiment in (("table1", "table1"), ("mine", "fig2"), ("app/table1", "table1")):
        (tmp_path / "results" / folder).mkdir(parents=True)
        (tmp_path / "results" / folder / "runs.jsonl").write_text(
            json.dumps(_record("relu", "sgd", 1e-2, 0, [95.0], experiment=experiment)) + "\n")
    assert [views.results_label(p) for p in views.results_files("table1")] == [
        "results/table1/runs.jsonl", "shipped: table1 (our full run)",
        "results/app/table1/runs.jsonl (small runs from this page)"]
    assert [views.results_label(p) for p in views.results_files("fig2")] == [
        "results/mine/runs.jsonl", "shipped: fig2 (our full run)"]
