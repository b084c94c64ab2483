import json
import os

import jax
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.io.checkpoint import save_model

pytestmark = pytest.mark.fast


def spec(gen):
    m = gen.model.module
    return {"type": "dcgan", "latent_dim": m.latent_dim, "image_size": m.image_size,
            "channels": m.channels, "widths": list(m.widths)}


def test_save_load_roundtrip_is_exact(tmp_path, small_gen):
    path = save_model(str(tmp_path / "m"), generator_spec=spec(small_gen), generator_variables=small_gen.params)
    again = gb.load_pretrained(path)
    for a, b in zip(jax.tree_util.tree_leaves(small_gen), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(a, b)
    assert again.model == small_gen.model
    with pytest.raises(ValueError, match="no discriminator"):
        gb.load_discriminator(path)
    assert sorted(os.listdir(tmp_path)) == ["m"]  # no temporary folder left behind


def test_failed_save_leaves_nothing(tmp_path, small_gen):
    with pytest.raises(Exception):
        save_model(str(tmp_path / "m"), generator_spec=spec(small_gen), generator_variables=small_gen.params,
                   discriminator_spec={"type": "dcgan"}, discriminator_variables=object())
    assert os.listdir(tmp_path) == []


def test_bad_folders(tmp_path, small_gen):
    path = save_model(str(tmp_path / "m"), generator_spec=spec(small_gen), generator_variables=small_gen.params)
    arch = json.loads(open(os.path.join(path, "architecture.json")).read())
    arch["generator"]["type"] = "stylegan9"
    open(os.path.join(path, "architecture.json"), "w").write(json.dumps(arch))
    with pytest.raises(ValueError, match="unknown generator type"):
        gb.load_pretrained(path)
    arch["format"] = "other/2"
    open(os.path.join(path, "architecture.json"), "w").write(json.dumps(arch))
    with pytest.raises(ValueError, match="unknown format"):
        gb.load_pretrained(path)
