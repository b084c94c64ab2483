import json
import math
import os

import pytest

from gbas_jax.core.baselines import linf_half_side
from gbas_jax.cli import main

pytestmark = pytest.mark.fast


from conftest import CLI_FAST

# A small run: two queries, one layer, the command-line tests' small setting.
SMALL = ["--queries", "2", "--layers", "2", "--mc-proposals", "64", *CLI_FAST]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "r"
    assert main(["reproduce", *SMALL, "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_quick_outputs(quick_run):
    out, res = quick_run
    assert {"report.md", "results.json", "figure4.png", "figure6.png", "figure7.png"} <= set(os.listdir(out))
    assert res["layers"] == [2] and res["queries"] == 2 and res["config"]["capacity"] == 48
    for layer in ("2",):
        rows = res["per_query"][layer]
        assert len(rows) == 2
        s = res["summary"][layer]
        for method in ("E-GBAS", "eps-L2", "eps-Linf"):
            m = s["methods"][method]
            assert m["image_variation"]["mean"] >= 0 and m["image_variation"]["se"] >= 0
            assert len(m["discriminator_similarity"]) == 3
        assert s["methods"]["E-GBAS"]["nrs_relaxed"]["mean"] == 1.0  # in the region by construction
        assert 0 <= s["mc_acceptance"]["mean"] <= 1 and 0 < s["egbas_acceptance"]["mean"] <= 1
        assert isinstance(s["egbas_lowest_variation"], bool)
    report = (out / "report.md").read_text()
    assert "Table 1" in report and "Table 2" in report and "claims hold" in report


def test_paired_differences_are_of_the_per_query_rows(quick_run):
    """Table 1's and Table 2's verdict figures: E-GBAS minus each baseline, query by
    query, then the mean and its standard error (recomputed here with NumPy)."""
    import numpy as np
    _, res = quick_run
    rows, s = res["per_query"]["2"], res["summary"]["2"]
    for b in ("eps-L2", "eps-Linf"):
        d = np.array([r["methods"]["E-GBAS"]["image_variation"] - r["methods"][b]["image_variation"] for r in rows])
        assert s["variation_difference_vs"][b]["mean"] == pytest.approx(d.mean(), rel=1e-12, abs=1e-15)
        assert s["variation_difference_vs"][b]["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=1e-9,
                                                                      abs=1e-15)
        sims = np.array([np.subtract(r["methods"]["E-GBAS"]["discriminator_similarity"],
                                     r["methods"][b]["discriminator_similarity"]) for r in rows])
        got = s["similarity_difference_vs"][b]
        assert len(got) == sims.shape[1] == 3
        for k, ms in enumerate(got):
            assert ms["mean"] == pytest.approx(sims[:, k].mean(), rel=1e-12, abs=1e-15)
            assert ms["se"] == pytest.approx(sims[:, k].std(ddof=1) / np.sqrt(len(rows)), rel=1e-9, abs=1e-15)


def test_calibration_recorded_per_query(quick_run):
    _, res = quick_run
    for rows in res["per_query"].values():
        for r in rows:
            if not r["calibration_fallback"]:
                assert r["eps_l2"] == pytest.approx(0.5 * (r["min_dist"] + r["max_dist"]), rel=1e-12)
            # Equal volumes: (2a)^D = pi^(D/2) eps^D / Gamma(D/2 + 1), D = 100.
            assert r["eps_linf"] == pytest.approx(linf_half_side(r["eps_l2"], 100), rel=1e-12)
            log_cube = 100 * math.log(2 * r["eps_linf"])
            log_ball = 50 * math.log(math.pi) + 100 * math.log(r["eps_l2"]) - math.lgamma(51)
            assert log_cube == pytest.approx(log_ball, rel=1e-9)


def test_figure4_records_its_radii(quick_run):
    _, res = quick_run
    f4 = res["figure4"]
    assert f4["model"] == "dcgan-mnist-2d" and f4["min_dist"] <= f4["eps_l2"] <= f4["max_dist"]


@pytest.mark.slow
def test_the_quick_preset(tmp_path):
    """``--quick``: its queries, layers and tree settings, the rest at the defaults."""
    out = tmp_path / "q"
    assert main(["reproduce", "--quick", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["layers"] == [1, 2] and res["queries"] == 2 and res["mc_proposals"] == 512
    assert res["config"]["capacity"] == 64 and res["config_sources"]["capacity"] == "--quick"
    assert all(len(res["per_query"][str(layer)]) == 2 for layer in (1, 2))


def test_reproduce_bad_layer(tmp_path, capsys):
    assert main(["reproduce", "--quick", "--layers", "7", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "layer 7" in capsys.readouterr().err


def test_verdicts_say_which_rest_on_incomplete_trees(quick_run):
    """Every layer's verdict names its incomplete trees, and only then."""
    out, res = quick_run
    report = (out / "report.md").read_text()
    verdicts = [line for line in report.splitlines() if line.startswith("- Layer ")]
    assert len(verdicts) == len(res["layers"])
    for layer, line in zip(res["layers"], verdicts):
        rows = res["per_query"][str(layer)]
        incomplete = sum(r["stop_reason"] != "capacity" for r in rows)
        assert res["summary"][str(layer)]["incomplete_trees"] == incomplete
        assert ("rest on incomplete data" in line) == (incomplete > 0), line
        if incomplete:
            assert f"{incomplete} of {len(rows)}" in line
