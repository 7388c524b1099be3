"""The Reproduce page shows the shipped Table 3 (MAML) and Fig. 3 runs: figures, claims, no error."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_page_shows_table3_and_fig3(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(tmp_path)                      # no results/ of our own: the shipped files only
    at = AppTest.from_file(str(ROOT / "pages" / "reproduce.py"), default_timeout=120).run()
    next(s for s in at.selectbox if s.label == "Experiment").set_value("table3").run()
    assert not at.exception and not at.error
    files = next(s for s in at.selectbox if s.label == "Results file")
    shipped = sum(1 for line in open(ROOT / "assets" / "results" / "table3" / "runs.jsonl") if line.strip())
    assert shipped >= 18
    expected = "full run: 60 trainings" if shipped >= 60 else f"partial run: {shipped} of the 60 trainings"
    assert files.options == [f"shipped: table3 (our {expected})"]
    claims = [m.value for m in (*at.success, *at.warning, *at.info)]
    assert any("AReLU is the best activation in both MAML settings" in c for c in claims)
    assert any("runs from the command line" in c for c in claims)                # no live form for MAML
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert {"held-out", "95% interval ±", "paper"} <= set(table.columns) and (table["(N, K)"] == "(5, 5)").any()
    next(s for s in at.selectbox if s.label == "Experiment").set_value("fig3").run()
    assert not at.exception and not at.error
    assert any("AReLU has the highest accuracy at every epoch" in c for c in
               (m.value for m in (*at.success, *at.warning, *at.info)))
