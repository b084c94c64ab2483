import json
import os

import numpy as np
import pytest

from gbas_jax.cli import main

FAST = ["--capacity", "48", "--proposals", "16", "--ber-steps", "40", "--no-progress"]


def test_sample_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sample", "--out", str(out), "--layer", "1", *FAST]) == 0
    files = set(os.listdir(out))
    assert {"samples.png", "record.json", "query.npy", "egbas_samples.npy", "eps_l2_samples.npy",
            "eps_linf_samples.npy", "egbas_parents.npy", "egbas_rejected.npy"} <= files
    rec = json.loads((out / "record.json").read_text())
    n = rec["counts"]["samples"]
    assert np.load(out / "egbas_samples.npy").shape == (n, 100)
    assert np.load(out / "eps_l2_samples.npy").shape == (n, 100)
    assert rec["config"]["capacity"] == 48 and rec["layer"] == 1
    for method in ("E-GBAS", "eps-L2", "eps-Linf"):
        m = rec["metrics"][method]
        assert m["count"] == n and m["image_variation"] >= 0
        assert len(m["discriminator_similarity"]) == 3
    assert rec["metrics"]["E-GBAS"]["nrs_relaxed"] > 0.99  # E-GBAS samples are in the region
    assert set(rec["timings"]) >= {"egbas_s", "total_s"}
    printed = capsys.readouterr().out
    assert "E-GBAS" in printed and "eps-L2" in printed and "kept boundaries" in printed


def test_sample_from_npy_query(tmp_path):
    z = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    np.save(tmp_path / "q.npy", z)
    out = tmp_path / "run"
    assert main(["sample", "--query", str(tmp_path / "q.npy"), "--out", str(out), *FAST]) == 0
    np.testing.assert_array_equal(np.load(out / "query.npy"), z)
    np.testing.assert_array_equal(np.load(out / "egbas_samples.npy")[0], z)


@pytest.mark.parametrize("argv, msg", [
    (["sample", "--layer", "9"], "layer"),
    (["sample", "--capacity", "0"], "capacity"),
    (["sample", "--model", "nowhere"], "neither a shipped model"),
    (["boundaries", "--model", "dcgan-mnist"], "2-D latent"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, argv, msg):
    assert main([*argv, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_bad_query_file(tmp_path, capsys):
    np.save(tmp_path / "q.npy", np.zeros(7))
    assert main(["sample", "--query", str(tmp_path / "q.npy"), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "shape" in capsys.readouterr().err


def test_boundaries_figure(tmp_path):
    out = tmp_path / "b"
    assert main(["boundaries", "--resolution", "40", "--capacity", "40", "--ber-steps", "40",
                 "--out", str(out), "--no-progress"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert (out / "boundaries.png").stat().st_size > 10_000
    assert 0 < rec["region_fraction_of_view"] <= 1 and rec["kept_boundaries"] <= rec["units"]
