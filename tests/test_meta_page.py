"""The Reproduce page shows the shipped Table 3 (MAML) and Fig. 3 runs: figures, claims, no error."""
from pathlib import Path
from charts_shown import charts

ROOT = Path(__file__).resolve().parents[1]


def test_page_shows_table3_and_fig3(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(tmp_path)                      # no results/ of our own: the shipped files only
    at = AppTest.from_file(str(ROOT / "pages" / "reproduce.py"), default_timeout=120).run()
    next(s for s in at.selectbox if s.label == "Experiment").set_value("table3").run()
    assert not at.exception and not at.error
    files = next(s for s in at.selectbox if s.label == "Results file")
    counts = {name: sum(1 for line in open(ROOT / "assets" / "results" / name / "runs.jsonl") if line.strip())
              for name in ("table3", "table3-inner-lr-0.01")}
    assert counts["table3-inner-lr-0.01"] == 60 and counts["table3"] >= 4

    def label(runs):
        return "full run: 60 trainings" if runs >= 60 else f"partial run: {runs} of the 60 trainings"
    assert files.options == [f"shipped: table3, inner lr 0.005 as the official script ran (our {label(counts['table3'])})",
                             f"shipped: table3, inner lr 0.01 (the variant) (our {label(60)})"]
    claims = [m.value for m in (*at.success, *at.warning, *at.info)]
    # both inner learning rates side by side, the claim computed on each
    for lr in ("0.005", "0.01"):
        assert any("AReLU is the best activation in both MAML settings" in c and f"inner lr {lr}:" in c for c in claims)
    assert any("runs from the command line" in c for c in claims)                # no live form for MAML
    assert len(charts(at)) == 1
    compared = at.dataframe[0].value
    assert {"paper", "official, inner lr 0.005", "held-out, inner lr 0.005", "official, inner lr 0.01",
            "held-out, inner lr 0.01"} <= set(compared.columns)
    assert "PAU (form=safe)" in set(compared["activation"])      # the shipped 0.01 PAU runs: the safe form
    arelu = compared[(compared["activation"] == "AReLU") & (compared["(N, K)"] == "(5, 1)")]
    assert arelu["official, inner lr 0.005"].str.contains("±").all() and arelu["held-out, inner lr 0.01"].str.contains("±").all()
    table = at.dataframe[1].value
    assert {"held-out", "95% interval ±", "paper", "inner lr"} <= set(table.columns)
    assert (table["inner lr"] == 0.005).all()
    files.set_value(ROOT / "assets" / "results" / "table3-inner-lr-0.01" / "runs.jsonl").run()
    assert not at.exception and not at.error
    table = at.dataframe[1].value
    assert (table["inner lr"] == 0.01).all() and (table["(N, K)"] == "(5, 5)").any() and len(table) == 12
    next(s for s in at.selectbox if s.label == "Experiment").set_value("fig3").run()
    assert not at.exception and not at.error
    assert any("AReLU has the highest accuracy at every epoch" in c for c in
               (m.value for m in (*at.success, *at.warning, *at.info)))
