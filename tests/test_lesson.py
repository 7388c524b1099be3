"""The lesson: its library (answers computed from the library and the shipped results), `arelu lesson`,
and the Lesson page through app.py (every step before and after Reveal, the step in the URL, a bad step)."""
import json
from statistics import fmean
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from arelu_core import lesson
from arelu_core.cli import main
from arelu_core.lesson import shipped, steps
from arelu_core.reproduce.paper import table1_value

APP = Path(__file__).resolve().parents[1] / "app.py"
RUN_TIMEOUT = 240


def open_lesson(step: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    if step is not None:
        at.query_params["step"] = step
    at.switch_page("pages/lesson.py").run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def shown_step(at: AppTest) -> int:
    return int(at.subheader[0].value.split(".")[0])


def test_parse_step_accepts_only_the_lessons_steps():
    assert lesson.parse_step(None) == (1, None)
    assert lesson.parse_step("3") == (3, None)
    for bad in ("0", "99", "-1", "abc", "2.5", "٣", "x" * 500):
        number, note = lesson.parse_step(bad)
        assert number == 1 and "showing step 1" in note and len(note) < 120


def test_answers_come_from_the_library_and_the_shipped_results():
    curve = lesson.get_step(1).answer(alpha=0.5, beta=0.0)
    assert curve.data["arelu_slopes"] == pytest.approx([0.5, 1.5]) and curve.data["relu_slopes"] == [0.0, 1.0]
    assert curve.correct == lesson.get_step(1).choices[0]
    race = lesson.get_step(3).answer()
    runs = race.data["runs"]
    assert len(runs["relu"]) == len(runs["arelu"]) == 5             # the shipped seeds of SGD 1e-3
    assert race.correct == "AReLU" and min(runs["arelu"]) > max(runs["relu"])     # the paper's effect, every seed
    assert f"published (the paper's Table 1): {table1_value('arelu', 'sgd', 1e-3):.2f}%" in " ".join(race.facts)
    claims = lesson.get_step(7).answer(experiments=("table1",))
    assert claims.correct == "All of them" and all(c["experiment"] == "table1" for c in claims.data["claims"])


def test_gain_and_cam_scores_appear_once_their_results_are_shipped(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "RESULTS_DIR", tmp_path)
    missing = lesson.get_step(4).answer()
    assert not missing.available and "appears once the ablation results are shipped" in missing.headline
    assert steps.fig5_scores() == []
    real = Path(shipped.__file__).resolve().parents[2] / "assets/results"
    (tmp_path / "ablation").mkdir()
    records = [json.loads(line) for line in (real / "ablation/runs.jsonl").read_text().splitlines()]
    adam = [r for r in records if r["optimizer"] == "adam" and r["setting_lr"] == 1e-4 and r["status"] == "finished"]
    (tmp_path / "ablation" / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in adam))
    found = lesson.get_step(4).answer()
    # the oracle: AReLU - frozen, paired by seed, straight from the records
    by = {v: {r["seed"]: r["accuracy"][-1] for r in adam if r["variant"] == v} for v in ("arelu", "arelu-frozen")}
    diff = fmean(by["arelu"][s] - by["arelu-frozen"][s] for s in by["arelu"])
    assert found.available and "of 1 settings" in found.headline
    assert any(line.startswith("Adam 1e-04: AReLU") and f"{diff:+.2f} [" in line for line in found.facts)
    (tmp_path / "fig5").mkdir()
    (tmp_path / "fig5" / "fig5.json").write_text((real / "fig5/fig5.json").read_text())
    mnist = next(p for p in json.loads((real / "fig5/fig5.json").read_text())["pairs"] if p["key"] == "mnist")
    lines = steps.fig5_scores()
    assert lines[0].startswith(f"Over {mnist['images']} test images") and mnist["claim"]["verdict"].upper() in lines[0]
    assert len(lines) == 1 + len(mnist["metrics"])


def test_cli_prints_each_question_and_its_computed_answer(capsys):
    assert main(["lesson", "--step", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Step 3 of 7: The race") and "Question:" in out and "Answer (computed now):" in out
    assert main(["lesson", "--step", "9", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "error: the lesson has steps 1 to 7, not 9"
    assert main(["lesson", "--step", "1", "--json"]) == 0
    step = json.loads(capsys.readouterr().out.splitlines()[-1])["steps"][0]
    assert step["key"] == "curve" and step["correct"] in step["choices"]


def test_every_step_before_and_after_reveal_and_the_step_in_the_url():
    at = open_lesson()
    assert at.query_params["step"] == ["1"] or at.query_params["step"] == "1"
    for number in range(1, lesson.step_count() + 1):
        step = lesson.get_step(number)
        assert shown_step(at) == number and step.title in at.subheader[0].value
        assert list(at.radio(key=f"lesson_guess_{step.key}").options) == list(step.choices)
        assert not at.success and not at.error
        if number == 1:   # a prediction is compared with the answer
            at.radio(key="lesson_guess_curve").set_value(step.choices[1])
        button(at, f"lesson_reveal_{step.key}").click().run()
        assert not at.exception and not at.error, (number, at.exception, [e.value for e in at.error])
        answered = [s.value for s in at.success] + [i.value for i in at.info]
        assert answered, number
        if number == 1:
            assert "Your prediction was *Both pass nothing back*" in " ".join(m.value for m in at.markdown)
        if number in (1, 3, 5, 7):   # cheap to recompute here: the page shows the library's answer
            assert lesson.get_step(number).answer().headline in answered[0]
        if number < lesson.step_count():
            button(at, "lesson_next").click().run()
            assert at.query_params["step"] in (str(number + 1), [str(number + 1)])
    button(at, "lesson_back").click().run()
    assert shown_step(at) == lesson.step_count() - 1 and at.success   # revealed steps stay revealed


@pytest.mark.parametrize("raw", ["99", "abc"])
def test_a_bad_step_falls_back_to_step_one_with_one_note(raw):
    at = open_lesson(raw)
    assert shown_step(at) == 1 and len(at.warning) == 1 and f"no step “{raw}”" in at.warning[0].value
    assert at.query_params["step"] in ("1", ["1"])
    button(at, "lesson_next").click().run()
    assert shown_step(at) == 2 and not at.warning and not at.exception


def test_a_link_opens_its_step():
    at = open_lesson("5")
    assert shown_step(at) == 5 and not at.warning


def test_home_leads_with_the_lesson_and_open_in_full_carries_the_state():
    home = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert home.get("page_link")[0].proto.page == "lesson"       # the first link on Home's first screen
    at = open_lesson("2")
    at.slider(key="lesson_depth").set_value(30).run()
    link = next(l.proto for l in at.get("page_link") if l.proto.page == "gradient_flow")
    # the bound menus' URL values are their labels (what Streamlit writes), so the link opens that view
    assert "flow_depth=30" in link.query_string and "flow_activations=ReLU&flow_activations=AReLU" in link.query_string


def test_load_test_step_times_are_median_and_nearest_rank_p95():
    import importlib
    import sys
    sys.path.insert(0, str(APP.parent / "scripts"))
    importlib.invalidate_caches()       # the folder may have been looked at before this test put it on the path
    from load_test import SessionReport
    from load_test_lesson import step_times
    reports = [SessionReport(i, "ReLU", page_loads={"lesson step 2": float(i + 1)}) for i in range(20)]
    assert step_times(reports) == {"lesson step 2": {"n": 20, "median": 10.5, "p95": 19.0}}
