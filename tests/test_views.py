"""gbas_jax.models.views and the commands on a StyleGAN2 model folder written from
the PyTorch mirror: ``gbas-jax convert``, then ``sample`` in Z and W (and with a
label, and the frozen-styles view); the samples checked inside the region by the
mirror's own forward pass; the view flags refused where they do not apply."""

import json

import jax
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import gbas_jax as gb
from gbas_jax.cli import main
from gbas_jax.models import stylegan2 as sg
from gbas_jax.models import views
from torch_mirror.stylegan2 import TorchStyleGAN2, to_nhwc

from conftest import CLI_FAST, CLI_FAST_CFG

pytestmark = pytest.mark.fast

#: The random StyleGAN2 of these tests and of docs/models.md: 32x32, z and w 64,
#: two mapping layers, channels min(1024 / r, 64), torch seed 0, ``randomise(1)``.
MIRROR = dict(z_dim=64, w_dim=64, img_resolution=32, mapping_layers=2, channel_base=1024, channel_max=64)
#: Layer 3 (the second convolution at 8x8) with the library defaults fills every
#: tree of seeds 0-4 in both spaces (docs/models.md).
LAYER = 3


def write_folder(tmp_path_factory, name, **extra):
    torch.manual_seed(0)
    net = TorchStyleGAN2(**{**MIRROR, **extra}).randomise(1)
    d = tmp_path_factory.mktemp(name)
    save_file(net.state_dict_numpy(), str(d / "g.safetensors"))
    assert main(["convert", str(d / "g.safetensors"), str(d / "model")]) == 0
    return net, d / "model"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory, "sg2")


def run_sample(out, model, *flags):
    assert main(["sample", "--model", str(model), "--layer", str(LAYER), "--out", str(out), "--no-progress",
                 *flags]) == 0
    return json.loads((out / "record.json").read_text())


def mirror_pre_activations(net, zs, space, gen):
    """Layer ``LAYER``'s pre-activations of latents of ``space`` by the mirror
    (``w`` from the standardised latent with the model's statistics), NHWC order."""
    with torch.inference_mode():
        if space == "z":
            pre = net.pre_activations(torch.from_numpy(zs))
        else:
            stats = gen.params["stats"]
            w = np.asarray(stats["w_mean"]) + np.asarray(stats["w_std"]) * zs
            ws = torch.from_numpy(w.astype(np.float32))[:, None].repeat(1, net.num_ws, 1)
            record = []
            net.synthesis.run(ws, record=record)
            pre = record
    return to_nhwc(pre[LAYER - 1]).reshape(len(zs), -1)


def check_run(tmp_path, net, model, space, seed, flags=(), cfg=None):
    rec = run_sample(tmp_path / f"{space}{seed}", model, "--space", space, "--seed", str(seed), *flags)
    assert rec["space"] == space and rec["frozen_styles"] is False
    samples = np.load(tmp_path / f"{space}{seed}" / "egbas_samples.npy")
    # the same run in the library gives the indicator; the mirror decides membership
    gen = gb.load_pretrained(str(model))
    view = views.view(gen, space=space)
    np.testing.assert_array_equal(samples[0], views.seeded_queries(view, seed))
    res = gb.egbas(view, samples[0], LAYER, cfg or gb.EGBASConfig(),
                   key=gb.apps.evaluation.query_keys(jax.random.key(seed))[0])
    np.testing.assert_array_equal(res.tree.accepted(), samples)
    a = mirror_pre_activations(net, samples, space, gen)
    V = np.asarray(res.indicator)
    slack = np.min(np.where(V != 0, V * a, np.inf), axis=1)
    assert np.all(slack >= -1e-4 * np.abs(a).max()), slack.min()
    return rec


@pytest.mark.parametrize("space", ["z", "w"])
def test_sample_in_each_space_stays_in_the_region(tmp_path, folder, space):
    """A small setting (the command-line tests' own): the samples inside the
    region by the mirror's forward pass."""
    net, model = folder
    rec = check_run(tmp_path, net, model, space, 0, CLI_FAST, CLI_FAST_CFG)
    assert rec["counts"]["samples"] > 1


@pytest.mark.slow
@pytest.mark.parametrize("space", ["z", "w"])
def test_the_library_defaults_fill_the_tree_on_five_seeds(tmp_path, folder, space):
    net, model = folder
    for seed in range(5):
        rec = check_run(tmp_path, net, model, space, seed)
        assert rec["counts"]["stop_reason"] == "capacity" and rec["counts"]["samples"] == 500


def test_same_seed_same_query_image_in_both_spaces(folder):
    _, model = folder
    gen = gb.load_pretrained(str(model))
    z, w = views.view(gen, space="z"), views.view(gen, space="w")
    x_z = z.generate(views.seeded_queries(z, 3)[None])
    x_w = w.generate(views.seeded_queries(w, 3)[None])
    np.testing.assert_allclose(x_w, x_z, atol=1e-4)


@pytest.mark.slow
def test_a_conditional_model_needs_its_label_and_keeps_it(tmp_path, tmp_path_factory):
    net, model = write_folder(tmp_path_factory, "sg2c", c_dim=5)
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert main(["sample", "--model", str(model), "--label", "5", "--out", str(tmp_path / "x")]) == 2
    rec = run_sample(tmp_path / "c", model, "--label", "2", "--capacity", "64", "--ber-steps", "100",
                     "--ber-window", "50", "--allow-incomplete")
    assert rec["label"] == 2 and rec["space"] == "z"
    # the images are the label's: the mirror with the one-hot of 2 draws them
    gen = views.view(gb.load_pretrained(str(model)), label=2)
    zs = np.load(tmp_path / "c" / "eps_l2_samples.npy")[:4]
    with torch.inference_mode():
        c = torch.nn.functional.one_hot(torch.full((4,), 2), 5).float()
        want = to_nhwc(net(torch.from_numpy(zs), c))
    np.testing.assert_allclose(gen.generate(zs), want, atol=1e-4 * np.abs(want).max())


@pytest.mark.slow
def test_frozen_styles_run(tmp_path, folder):
    _, model = folder
    rec = run_sample(tmp_path / "f", model, "--frozen-styles", "--space", "w", "--capacity", "64",
                     "--ber-steps", "100", "--ber-window", "50", "--allow-incomplete")
    assert rec["frozen_styles"] is True and rec["space"] == "w"


@pytest.mark.parametrize("argv, words", [
    (["--space", "w"], ["--space w", "latent spaces z"]),
    (["--label", "1"], ["--label 1", "not conditional"]),
    (["--frozen-styles"], ["--frozen-styles", "StyleGAN2"]),
])
def test_view_flags_refused_where_they_do_not_apply(tmp_path, capsys, argv, words):
    assert main(["sample", *argv, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert not (tmp_path / "x").exists()


def test_label_view_and_its_errors(tmp_path_factory, tmp_path, capsys):
    net, model = write_folder(tmp_path_factory, "sg2c", c_dim=5)
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "conditional (5 labels): give --label K" in capsys.readouterr().err
    assert main(["sample", "--model", str(model), "--label", "5", "--out", str(tmp_path / "x")]) == 2
    assert "--label 5: this model has labels 0..4" in capsys.readouterr().err
    gen = gb.load_pretrained(str(model))
    with pytest.raises(ValueError, match="give --label"):
        views.view(gen)
    zs = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    with torch.inference_mode():
        want = to_nhwc(net(torch.from_numpy(zs), torch.nn.functional.one_hot(torch.full((3,), 4), 5).float()))
    labelled = views.view(gen, label=4)
    np.testing.assert_allclose(labelled.generate(zs), want, atol=1e-4 * np.abs(want).max())
    assert views.record(labelled) == {"space": "z", "frozen_styles": False, "label": 4}


def test_views_of_a_plain_model_are_the_model(small_gen):
    assert views.spaces(small_gen) == ("z",) and views.label_count(small_gen) == 0
    assert views.view(small_gen) is small_gen and views.record(small_gen) == {}
    np.testing.assert_array_equal(views.seeded_queries(small_gen, 4), gb.query_latents(small_gen.latent_dim, 4))
    with pytest.raises(ValueError, match="only a StyleGAN2"):
        views.frozen_styles(small_gen, 1, np.zeros(small_gen.latent_dim))
    assert sg.is_stylegan2(small_gen) is False
