"""Train live's links through AppTest: a hand-edited URL with bad settings falls back to the defaults with one
note; the paper's race in one click (Table 1's settings, its id in the URL); another session holding the id (a
reload, a shared link) finds the race but cannot stop it."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from arelu_core.jobs import JobManager
from charts_shown import charts

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "train_live.py")
RUN_TIMEOUT = 180


@pytest.fixture(autouse=True)
def isolated_runs(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))


def open_page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=RUN_TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return " ".join(str(element.value) for kind in ("markdown", "caption", "info", "warning", "error")
                    for element in at.get(kind))


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_bad_link_settings_fall_back_to_the_defaults_with_one_note():
    at = open_page(train_lr="5", train_optimizer="Adam", train_activations=["ReLU", "Bogus"], train_seed="xx",
                   train_subset="first 512", train_alpha="9", train_dataset="nowhere", race="not-a-race")
    assert not at.error and len(at.info) == 1, [i.value for i in at.info]
    note = at.info[0].value
    for bad in ("train_lr=5", "train_seed=xx", "train_alpha=9", "train_dataset=nowhere", "ReLU,Bogus"):
        assert bad in note
    assert "race of this link is not on this server" in note
    assert "train_optimizer" not in note and "train_subset" not in note     # valid ones are taken, not noted
    state = at.session_state
    assert (state["train_lr"], state["train_seed"], state["train_alpha"], state["train_dataset"]) == (1e-3, 0, 0.9, "mnist")
    assert (state["train_optimizer"], state["train_subset"], state["train_activations"]) == ("adam", 512, ["relu"])
    link = at.get("code")[0].value
    assert "train_optimizer=Adam" in link and "train_subset=first+512" in link and "train_lr" not in link
    at.run()                                                      # the next run: the note was said once
    assert not at.info and not at.exception


def test_the_paper_race_in_one_click_and_its_link_in_another_session(monkeypatch):
    # The page's manager, with the trainings in threads: stopping one while it still loads takes no worker
    # start (worker processes: tests/test_races.py, test_browser_race_link.py).
    manager = JobManager(max_running=2)
    monkeypatch.setattr("ui.common.get_job_manager", lambda: manager)
    at = open_page()
    button(at, "The paper's race: ReLU vs AReLU").click().run()
    assert not at.exception and not at.error
    race_id = at.query_params["race"][0] if isinstance(at.query_params["race"], list) else at.query_params["race"]
    race = manager.race(race_id)
    try:
        assert [(c.activation, c.optimizer, c.lr, c.batch_size, c.epochs, c.train_subset, c.dataset)
                for c in (job.config for job in race.jobs)] == [
            ("relu", "sgd", 1e-3, 128, 1, None, "mnist"), ("arelu", "sgd", 1e-3, 128, 1, None, "mnist")]
        assert [job.started_at for job in race.jobs] == [race.jobs[0].started_at] * 2   # both slots, at once
        assert f"race={race_id}" in at.get("code")[0].value
        assert "ReLU" in texts(at) and "AReLU" in texts(at)

        reload = open_page(race=race_id)                          # a new session: a reload or a shared link
        assert reload.session_state["train_job_ids"] == [job.id for job in race.jobs]
        assert "started in another browser session" in texts(reload)
        assert not any(b.label == "Stop" for b in reload.button)   # only its own session may stop it
        assert [b.disabled for b in reload.button if b.label == "The paper's race: ReLU vs AReLU"] == [True]
        assert len(charts(reload)) >= 1
    finally:
        button(at, "Stop").click().run()
        assert manager.wait(race.jobs, 240)
    assert all(job.status == "stopped" for job in race.jobs)
