"""The attention-or-gain ablation: a real (small) grid through the CLI, Table 1's runs reused, the records and
the claims' arithmetic, an unknown variant refused in one line with the finished runs kept, and the Reproduce
page's view (opened by Explore's ?reproduce_experiment=<the ablation's title> link)."""
import json
import math
from pathlib import Path
from statistics import fmean, stdev
from urllib.parse import urlencode

import pytest

from arelu_core.cli import main
from arelu_core.reproduce import NO_DATA, NOT_SUPPORTED, SUPPORTED, get_experiment
from arelu_core.reproduce.ablation import paired_interval, t975
from arelu_core.reproduce.experiments import RELU_LIKE_BETA
from charts_shown import charts

ROOT = Path(__file__).resolve().parents[1]
TINY = 256          # 2 steps at batch 128: the bookkeeping, not the science


@pytest.fixture(autouse=True)
def restore_threads():            # the CLI's --threads 1 sets this process's torch threads
    import torch
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_t_quantiles_and_paired_interval():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in range(1, 40):
        assert abs(t975(df) - scipy_stats.t.ppf(0.975, df)) < 0.001, df
    a, b = {0: 90.0, 1: 92.0, 2: 91.0, 3: 95.0}, {0: 89.0, 1: 90.5, 2: 91.0, 3: 92.0, 9: 10.0}   # seed 9 unpaired
    pair = paired_interval(a, b)
    diffs = [1.0, 1.5, 0.0, 3.0]
    half = scipy_stats.t.ppf(0.975, 3) * stdev(diffs) / math.sqrt(4)
    assert pair["n"] == 4 and pair["diff"] == pytest.approx(fmean(diffs))
    assert pair["ci95"] == pytest.approx([fmean(diffs) - half, fmean(diffs) + half], abs=2e-3)
    assert paired_interval({0: 1.0}, {0: 2.0}) is None


def float32(value: float) -> float:
    import torch
    return torch.tensor(value).item()


def run_cli(capsys, *argv) -> tuple[int, dict | None, str]:
    code = main(["reproduce", *argv])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return code, json.loads(lines[-1]) if code == 0 and lines else None, captured.err


def test_small_ablation_through_the_cli_and_the_page(tmp_path, capsys, monkeypatch, data_dir):
    common = ["--optimizers", "adam", "--lrs", "1e-2", "--seeds", "0", "1", "--train-subset", str(TINY),
              "--data-dir", data_dir, "--device", "cpu", "--threads", "1", "--json"]
    # Table 1's AReLU and ReLU at this protocol: the ablation must copy these, not train them again
    code, table1, _ = run_cli(capsys, "table1", "--activations", "relu", "arelu", "--out",
                              str(tmp_path / "results" / "table1"), *common)
    assert code == 0 and table1["trained_now"] == 4
    out = tmp_path / "results" / "ablation"
    variants = ["arelu", "arelu-frozen", "arelu-from-relu", "relu", "relu-lr2"]
    code, summary, _ = run_cli(capsys, "ablation", "--variants", *variants, "--out", str(out), *common)
    assert code == 0
    assert summary["requested"] == 10 and summary["finished"] == 10 and summary["trained_now"] == 6
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    by = {(r["variant"], r["seed"]): r for r in records}
    table1_runs = {(r["activation"], r["seed"]): r for r in
                   map(json.loads, (tmp_path / "results" / "table1" / "runs.jsonl").read_text().splitlines())}
    for key in ("arelu", "relu"):
        for seed in (0, 1):
            copied = by[(key, seed)]
            assert copied["copied_from"].startswith("table1") and copied["experiment"] == "ablation"
            assert copied["accuracy"] == table1_runs[(key, seed)]["accuracy"]
    assert all(r["setting_lr"] == 1e-2 for r in records)
    assert {r["lr"] for r in records if r["variant"] == "relu-lr2"} == {2e-2}
    # frozen: alpha, beta never move; started as ReLU: from (0.01, -4.6), and they do move
    for seed in (0, 1):
        frozen, start = by[("arelu-frozen", seed)], by[("arelu-from-relu", seed)]
        assert frozen["params"] == {"learn": "none"}
        initial = {"alpha": float32(0.9), "beta": 2.0}       # exactly: not one float32 step away
        assert all(layer == initial for epoch in frozen["activation_parameters"] for layer in epoch)
        assert start["activation_parameters"][0] == [{"alpha": float32(0.01), "beta": float32(RELU_LIKE_BETA)}] * 3
        assert start["activation_parameters"][-1] != start["activation_parameters"][0]

    # the table: one cell per variant, the claims: three for the setting, figures recomputable from the records
    assert [c["variant"] for c in summary["cells"]] == variants
    claims = {c["id"]: c for c in summary["claims"]}
    assert set(claims) == {f"abl_{name}_adam_0.01_subset{TINY}" for name in ("learned", "relu_lr", "from_relu")}
    assert all(c["verdict"] in (SUPPORTED, NOT_SUPPORTED, NO_DATA) and c["setting"] == f"Adam 1e-02, {TINY} digits"
               for c in claims.values())
    learned = claims[f"abl_learned_adam_0.01_subset{TINY}"]
    diffs = [by[("arelu", s)]["accuracy"][-1] - by[("arelu-frozen", s)]["accuracy"][-1] for s in (0, 1)]
    assert learned["figures"]["diff"] == pytest.approx(fmean(diffs), abs=1e-4) and learned["figures"]["n"] == 2
    low, high = learned["figures"]["ci95"]
    assert learned["verdict"] == (SUPPORTED if low > 0 else NOT_SUPPORTED)
    relu_lr = claims[f"abl_relu_lr_adam_0.01_subset{TINY}"]["figures"]
    assert [p["k"] for p in relu_lr["per_k"]] == [2]                      # only x2 was asked for
    assert relu_lr["catches_up_at"] in (2, None)

    # an unknown variant: one line, exit 2, nothing trained, the finished runs kept
    before = (out / "runs.jsonl").read_bytes()
    code, _, err = run_cli(capsys, "ablation", "--variants", "arelu", "gain", "--out", str(out), *common)
    assert code == 2 and err.strip().count("\n") == 0
    assert "unknown ablation variant 'gain'; choose one of: arelu, arelu-frozen" in err
    assert (out / "runs.jsonl").read_bytes() == before
    code, again, _ = run_cli(capsys, "ablation", "--variants", *variants, "--out", str(out), *common)
    assert code == 0 and again["trained_now"] == 0 and again["cells"] == summary["cells"]

    # the page: ?reproduce_experiment=<its title> opens the ablation's own view on these results
    from streamlit.testing.v1 import AppTest
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(ROOT / "pages" / "reproduce.py"), default_timeout=120)
    at.query_params["reproduce_experiment"] = get_experiment("ablation").title
    at.run()
    assert not at.exception and not at.error
    assert next(s for s in at.selectbox if s.label == "Experiment").value == "ablation"
    tables = [frame.value for frame in at.dataframe]
    accuracy = next(t for t in tables if "variant" in t and f"Adam 1e-02" in t)
    assert list(accuracy["variant"]) == ["AReLU", "AReLU frozen", "AReLU started as ReLU", "ReLU", "ReLU, lr x2"]
    claims_table = next(t for t in tables if "learning α/β beats the frozen curve" in t)
    assert list(claims_table["setting"]) == [f"Adam 1e-02, {TINY} digits"]
    assert len(charts(at)) == 1


def test_explore_links_to_the_ablation_view(data_dir, monkeypatch):
    """Explore's "Is it only the gain?" opens the Reproduce page on the ablation (?reproduce_experiment=<its title>, which
    the page reads: test_small_ablation_through_the_cli_and_the_page)."""
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("pages/explore.py").run()
    assert not at.exception
    link = next(link for link in at.get("page_link") if link.proto.label == "Is it only the gain?")
    assert link.proto.page == "reproduce" and link.proto.query_string == urlencode({"reproduce_experiment": get_experiment("ablation").title})
