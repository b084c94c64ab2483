"""gbas_jax.apps.sample_many: ``sample-many`` in one process and ``merge``: the rows
are the single E-GBAS calls of the same queries and keys, bit for bit (on a CPU)."""

import json

import jax
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.apps.sample_many import merge
from gbas_jax.cli import main

pytestmark = pytest.mark.fast

from conftest import CLI_FAST, CLI_FAST_CFG

FLAGS = ["--layer", "2", *CLI_FAST]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="batch rows equal single calls bit for bit on CPUs")
def test_one_process_run_and_merge(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sample-many", "--queries", "3", "--seed", "4", "--out", str(out), *FLAGS]) == 0
    part = json.loads((out / "part-00000.json").read_text())
    assert part["share"] == [0, 3] and part["settings"]["sources"]["capacity"] == "command line"
    assert main(["sample-many", "--queries", "3", "--out", str(out), *FLAGS]) == 2       # the part exists
    assert "exists" in capsys.readouterr().err
    assert main(["merge", str(out)]) == 0
    merged = np.load(out / "merged.npz")
    gen = gb.load_pretrained("dcgan-mnist")
    cfg = CLI_FAST_CFG
    z0s = gb.query_latents(gen.latent_dim, 4, 3)
    keys = jax.random.split(jax.random.key(5), 3)
    for i in range(3):
        res = gb.egbas(gen, z0s[i], 2, cfg, key=keys[i])
        n = int(res.tree.num_samples)
        assert merged["num_samples"][i] == n
        np.testing.assert_array_equal(merged["samples"][i][:n], res.tree.accepted())
        np.testing.assert_array_equal(merged["indicator"][i], np.asarray(res.indicator))
        np.testing.assert_allclose(merged["theta"][i], np.asarray(res.theta), rtol=1e-6)
    assert merged["indicator"].dtype == np.int8 and merged["theta"].shape == (3, gen.layer_size(2))
    assert json.loads((out / "merged.json").read_text())["samples"] == int(merged["num_samples"].sum())


def test_merge_refuses_an_empty_run(tmp_path):
    with pytest.raises(ValueError, match="no part files"):
        merge(str(tmp_path))


def test_merge_refuses_a_missing_part(tmp_path):
    (tmp_path / "part-00001.json").write_text(json.dumps({"process": 1, "processes": 2, "queries": 4}))
    with pytest.raises(ValueError, match="expected parts 0..1"):
        merge(str(tmp_path))
