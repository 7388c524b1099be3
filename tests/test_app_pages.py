"""The Home, Explore, Gradient flow and Train live pages through streamlit's AppTest, entered the way a
user enters them: app.py's st.navigation, then switch_page. Each must render with no exception and
react to its main controls."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from arelu_core.runs import save_run_checkpoint
from arelu_core.trainer import TrainConfig, train
from charts_shown import charts

APP = Path(__file__).resolve().parents[1] / "app.py"
RUN_TIMEOUT = 180   # seconds per script run: the shared test machine can be slow
RACE_TIMEOUT = 300  # seconds for a short race to end


@pytest.fixture(autouse=True)
def isolated_runs(data_dir, tmp_path, monkeypatch):
    """Real MNIST from the data_dir fixture; checkpoints saved by the pages go to a temporary runs/."""
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def texts(at: AppTest) -> str:
    return " ".join(str(element.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
                    for element in at.get(kind))


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_home_explains_and_reports_device_and_data():
    at = open_page()
    assert at.title[0].value == "AReLU Lab"
    assert len(at.latex) == 1
    assert metric(at, "MNIST").value == "available"
    assert metric(at, "Training device").value
    assert not at.error


def test_explore_sliders_drive_slopes_and_extremes_do_not_break(isolated_runs):
    at = open_page("pages/explore.py")
    assert charts(at)  # the curves (and the learned ones when models/ ships checkpoints)
    assert "C(α) = 0.900" in texts(at) and "1 + σ(β) = 1.881" in texts(at)
    at.slider(key="explore_alpha").set_value(1.5).run()
    at.slider(key="explore_beta").set_value(-10.0).run()
    assert not at.exception
    assert "C(α) = 0.990" in texts(at) and "clamped" in texts(at)
    assert "1 + σ(β) = 1.000" in texts(at)
    at.slider(key="explore_alpha").set_value(-0.5)
    at.slider(key="explore_beta").set_value(10.0)
    at.slider(key="explore_range").set_value(10.0).run()
    assert not at.exception and "C(α) = 0.010" in texts(at)
    at.multiselect(key="explore_overlays").set_value(["relu", "maxout", "pau", "carelu"])
    at.selectbox(key="explore_elsa").set_value("swish+elsa").run()
    assert not at.exception and not at.error
    assert "Skipped Maxout" in texts(at)


def test_explore_draws_the_learned_curves_of_a_saved_checkpoint(isolated_runs):
    result = train(TrainConfig(activation="arelu", activation_params={"alpha": 0.25, "beta": 1.0},
                               train_subset=256, test_subset=200, device="cpu"))
    path = save_run_checkpoint(result, label="AReLU")
    at = open_page("pages/explore.py")
    at.selectbox(key="explore_checkpoint").select_index(
        next(i for i, entry in enumerate(at.selectbox(key="explore_checkpoint").options) if path.stem in entry)).run()
    assert len(charts(at)) == 2 and not at.error
    table = markdown_table(at, "layer")
    assert [row[0] for row in table[1:]] == ["1", "2", "3"] and {"alpha", "beta", "C(α)", "1 + σ(β)"} <= set(table[0])


def markdown_table(at, first_column: str) -> list[list[str]]:
    """The Markdown table (ui.common.small_table) whose first column is `first_column`: header, then rows."""
    text = next(m.value for m in at.markdown if m.value.startswith(f"| {first_column} |"))
    lines = [line for line in text.splitlines() if not line.startswith("|-") and not line.startswith("|:")
             and "---" not in line]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_gradient_flow_depth_and_activations(isolated_runs):
    at = open_page("pages/gradient_flow.py")
    assert len(charts(at)) == 2
    at.multiselect(key="flow_activations").set_value(["relu", "arelu", "maxout"])
    at.slider(key="flow_depth").set_value(50).run()
    assert not at.exception and not at.error
    summary = markdown_table(at, "activation")
    assert [row[0] for row in summary[1:]] == ["ReLU", "AReLU", "Maxout"] and "layer 50" in summary[0]
    at.radio(key="flow_gradient").set_value("output_grad_norm")
    at.selectbox(key="flow_init").set_value("kaiming").run()
    assert not at.exception and len(charts(at)) == 2
    at.multiselect(key="flow_activations").set_value([]).run()
    assert "Pick at least one activation" in texts(at)


def run_until_results(at: AppTest) -> AppTest:
    deadline = time.monotonic() + RACE_TIMEOUT
    while not any(header.value == "Results" for header in at.subheader):
        assert time.monotonic() < deadline, "the race did not end in time"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    return at


def test_train_live_short_race_then_save(isolated_runs):
    at = open_page("pages/train_live.py")
    at.multiselect(key="train_activations").set_value(["relu", "arelu"])
    at.selectbox(key="train_subset").set_value(512)
    at.select_slider(key="train_lr").set_value(1e-2)
    button(at, "Start race").click().run()
    assert not at.exception and not at.error
    assert len(at.session_state["train_job_ids"]) == 2
    assert len(charts(at)) >= 1  # the live charts are drawn while it runs
    run_until_results(at)
    assert "finished" in texts(at) and "samples/s" in texts(at)
    assert len(charts(at)) >= 3  # loss/accuracy, α/β per layer, AReLU's learned curves
    assert len(at.get("download_button")) == 4  # a checkpoint and a CSV per activation
    at.button(key=f"save_{at.session_state['train_job_ids'][1]}").click().run()
    assert not at.exception and not at.error
    assert len(list(isolated_runs.glob("*_arelu_*.pt"))) == 1
    button(at, "Clear results").click().run()
    assert not at.exception and not at.session_state["train_job_ids"]


def test_train_live_stop_keeps_the_page_alive(isolated_runs):
    at = open_page("pages/train_live.py")
    at.multiselect(key="train_activations").set_value(["arelu"])
    at.slider(key="train_epochs").set_value(5)
    button(at, "Start race").click().run()
    assert not at.exception
    at.switch_page("pages/home.py").run()  # leaving the page does not stop the training
    at.switch_page("pages/train_live.py").run()
    assert len(at.session_state["train_job_ids"]) == 1
    button(at, "Stop").click().run()
    run_until_results(at)
    assert "stopped" in texts(at) and not at.error


def test_train_live_without_data_explains_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ARELU_DATA_DIR", str(tmp_path / "empty"))

    def offline(*args, **kwargs):
        raise OSError("no internet")

    monkeypatch.setattr("arelu_core.data.download_mnist", offline)
    at = open_page("pages/train_live.py")
    assert "not on this machine" in texts(at) and "MNIST/raw" in texts(at)
    button(at, "Download MNIST (about 11 MB)").click().run()
    assert not at.exception
    assert "download failed" in at.error[0].value and "ARELU_DATA_DIR" in texts(at)


def test_train_live_reports_a_diverged_run(isolated_runs):
    import sys
    at = open_page("pages/train_live.py")
    manager = sys.modules["ui.common"].get_job_manager()  # the page's process-wide manager
    job = manager.submit(at.session_state["arelu_owner_id"],
                         TrainConfig(activation="arelu", lr=1e3, train_subset=512, test_subset=500, device="cpu"))
    at.session_state["train_job_ids"] = [job.id]
    run_until_results(at.run())
    assert job.status == "diverged"
    assert any("diverged" in warning.value and "smaller learning rate" in warning.value for warning in at.warning)
    assert not at.exception


def test_train_live_downloads_mnist_with_a_progress_bar(data_dir, tmp_path, monkeypatch):
    import shutil
    target = tmp_path / "fresh"
    monkeypatch.setenv("ARELU_DATA_DIR", str(target))
    reported = []

    def fake_download(directory=None, progress=None, **kwargs):  # the real files, "arriving" in two chunks
        raw = target / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for source in sorted((Path(data_dir) / "MNIST" / "raw").iterdir()):
            for done in (source.stat().st_size // 2, source.stat().st_size):
                progress(source.name + ".gz", done, source.stat().st_size)
                reported.append(done)
            shutil.copy(source, raw / source.name)
        return target

    monkeypatch.setattr("arelu_core.data.download_mnist", fake_download)
    at = open_page("pages/train_live.py")
    button(at, "Download MNIST (about 11 MB)").click().run()
    assert not at.exception and not at.error and reported
    assert any(b.label == "Start race" for b in at.button)  # the data is there: the race settings show


def test_train_live_shows_queue_positions_beyond_the_free_slots(isolated_runs):
    at = open_page("pages/train_live.py")
    at.multiselect(key="train_activations").set_value(["relu", "arelu", "tanh", "swish"])
    at.selectbox(key="train_subset").set_value(512)
    button(at, "Start race").click().run()
    assert not at.exception
    assert "queued, position" in texts(at)  # two slots (the default): the third and fourth wait
    run_until_results(at)
    assert texts(at).count("finished") >= 4


def test_train_live_races_on_fashion_mnist_and_saves_its_dataset(isolated_runs):
    from arelu_core.checkpoint import load_checkpoint
    at = open_page("pages/train_live.py")
    at.selectbox(key="train_dataset").set_value("fashion-mnist").run()
    at.multiselect(key="train_activations").set_value(["relu", "arelu"])
    at.selectbox(key="train_subset").set_value(512)
    button(at, "Start race").click().run()
    assert not at.exception and not at.error
    run_until_results(at)
    assert "Fashion-MNIST" in texts(at) and "all 10 000 test images" in texts(at)
    at.button(key=f"save_{at.session_state['train_job_ids'][1]}").click().run()
    saved = list(isolated_runs.glob("*_arelu_*.pt"))
    assert len(saved) == 1 and load_checkpoint(saved[0])[1]["dataset"] == "fashion-mnist"


def test_train_live_dataset_missing_offline_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("no internet")))
    at = open_page("pages/train_live.py")
    at.selectbox(key="train_dataset").set_value("svhn").run()
    assert "SVHN is not on this machine" in texts(at) and "train_32x32.mat" in texts(at)
    button(at, "Download SVHN (about 246 MB)").click().run()
    assert not at.exception and len(at.error) == 1
    assert "download failed" in at.error[0].value and "\n" not in at.error[0].value
    at.selectbox(key="train_dataset").set_value("mnist").run()            # nothing else lost: MNIST still races
    assert any(b.label == "Start race" for b in at.button)
