"""Training snapshots: the generator (and discriminator) found inside the dicts
real training scripts save (torch_mirror/snapshots.py writes them around the
mirror's DCGANs), converted to the same network as the bare state dict, the
entry named; ambiguity an error with the candidates; unknown classes read as
inert records; calls refused, also when nested."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a test dependency: pip install -e '.[test]'")

import converters  # noqa: E402
import gbas_jax as gb  # noqa: E402
from converters import CheckpointError, UnsafePickleError, snapshot  # noqa: E402
from converters.torch_pickle import InertRecord  # noqa: E402
from torch_mirror import layouts as tm  # noqa: E402
from torch_mirror import snapshots as ts  # noqa: E402

pytestmark = pytest.mark.fast

SAVE = {"zip": {}, "legacy": {"_use_new_zipfile_serialization": False}}


def _nets(seed=0):
    torch.manual_seed(seed)
    return tm.ExamplesG(nz=8, ngf=4, nc=1), tm.ExamplesD(ndf=4, nc=1)


def _leaves(folder, what="generator"):
    load = gb.load_pretrained if what == "generator" else gb.load_discriminator
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(load(folder))]


def _same_network(a, b, what="generator"):
    la, lb = _leaves(a, what), _leaves(b, what)
    assert len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _bare(tmp_path, G, D=None, name="bare"):
    torch.save(G.state_dict(), tmp_path / f"{name}G.pth")
    kw = {}
    if D is not None:
        torch.save(D.state_dict(), tmp_path / f"{name}D.pth")
        kw["discriminator"] = str(tmp_path / f"{name}D.pth")
    out = str(tmp_path / name)
    converters.convert(str(tmp_path / f"{name}G.pth"), out, **kw)
    return out


@pytest.mark.parametrize("container", SAVE)
def test_tutorial_snapshot_with_optimiser_states(tmp_path, container):
    G, D = _nets(1)
    src = ts.tutorial(G, D, str(tmp_path / "ckpt.pth"), **SAVE[container])
    info = converters.convert(src, str(tmp_path / "out"))
    assert info["weights"] == "netG_state_dict" and info["discriminator_weights"] == "netD_state_dict"
    assert {"epoch", "loss", "optimizerG_state_dict", "optimizerD_state_dict"} <= set(info["skipped"])
    bare = _bare(tmp_path, G, D)
    _same_network(str(tmp_path / "out"), bare)
    _same_network(str(tmp_path / "out"), bare, "discriminator")
    assert "took netG_state_dict and netD_state_dict" in converters.summary(info)
    g = gb.load_pretrained(str(tmp_path / "out"))
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    with torch.no_grad():
        ref = G(torch.from_numpy(z)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(g.generate(z)), ref, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("container", SAVE)
def test_lightning_checkpoint_with_attribute_dict(tmp_path, container):
    G, D = _nets(2)
    src = ts.lightning(G, D, str(tmp_path / "last.ckpt"), **SAVE[container])
    obj = converters.load_pth(src)
    hp = obj["hyper_parameters"]
    assert isinstance(hp, InertRecord) and hp.qualified_name == "lightning_fabric.utilities.data.AttributeDict"
    assert hp.as_dict()["latent_dim"] == 8 and hp.as_dict()["b1"] == 0.5
    info = converters.convert(src, str(tmp_path / "out"))
    assert info["weights"] == "state_dict/generator"
    assert info["discriminator_weights"] == "state_dict/discriminator"
    assert {"hyper_parameters", "optimizer_states", "loops", "callbacks"} <= set(info["skipped"])
    bare = _bare(tmp_path, G, D)
    _same_network(str(tmp_path / "out"), bare)
    _same_network(str(tmp_path / "out"), bare, "discriminator")


def test_ema_pair_prefers_the_moving_average(tmp_path):
    G, D = _nets(3)
    G_ema, _ = _nets(4)
    src = ts.ema_pair(G, G_ema, D, str(tmp_path / "100000.pt"))
    info = converters.convert(src, str(tmp_path / "out"))
    assert info["weights"] == "g_ema" and info["discriminator_weights"] == "d"
    assert {"g", "g_optim", "d_optim", "args"} <= set(info["skipped"])
    _same_network(str(tmp_path / "out"), _bare(tmp_path, G_ema, name="ema"))
    converters.convert(src, str(tmp_path / "raw"), key="g")        # the raw one on request
    _same_network(str(tmp_path / "raw"), _bare(tmp_path, G, name="plain"))


def test_ddp_prefixes_nested_under_models(tmp_path):
    G, D = _nets(5)
    src = ts.ddp_models(G, D, str(tmp_path / "checkpoint_iter100.pth"))
    info = converters.convert(src, str(tmp_path / "out"))
    assert (info["weights"], info["discriminator_weights"]) == ("models/generator", "models/discriminator")
    assert "optimizers" in info["skipped"] and "running_stats" in info["skipped"]
    bare = _bare(tmp_path, G, D)
    _same_network(str(tmp_path / "out"), bare)
    _same_network(str(tmp_path / "out"), bare, "discriminator")


def test_ambiguous_dict_lists_candidates_and_converts_with_key(tmp_path):
    Ga, _ = _nets(6)
    Gb, _ = _nets(7)
    src = tmp_path / "two.pth"
    torch.save({"model_a": Ga.state_dict(), "model_b": Gb.state_dict(), "step": 9}, src)
    with pytest.raises(CheckpointError, match=r"2 generator candidates \(model_a, model_b\).*--key"):
        converters.convert(str(src), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(CheckpointError, match=r"--key 'model_c'.*candidates: model_a, model_b"):
        converters.convert(str(src), str(tmp_path / "out"), key="model_c")
    info = converters.convert(str(src), str(tmp_path / "out"), key="model_b")
    assert info["weights"] == "model_b" and info["skipped"] == ["model_a", "step"]
    _same_network(str(tmp_path / "out"), _bare(tmp_path, Gb))


def test_command_line_names_the_key(tmp_path, capsys):
    Ga, _ = _nets(8)
    Gb, D = _nets(9)
    src = tmp_path / "two.pth"
    torch.save({"first": Ga.state_dict(), "second": Gb.state_dict(), "critic": D.state_dict()}, src)
    argv = [str(src), str(tmp_path / "out")]
    assert converters.main(argv) == 2
    err = capsys.readouterr().err
    assert "first, second" in err and "--key" in err and len(err.strip().splitlines()) == 1
    assert converters.main(argv + ["--key", "second", "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out[: out.rindex("}") + 1])
    assert info["weights"] == "second" and info["discriminator_weights"] == "critic"
    assert converters.main([str(src), str(tmp_path / "out2"), "--key", "second"]) == 0
    assert "took second and critic, skipped first" in capsys.readouterr().out


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _Unknown:
    """A call of a class from a module no reader knows: refused, naming the entry."""

    def __reduce__(self):
        return (ts.AttributeDict, ([("k", 1)],))


@pytest.mark.parametrize("container", SAVE)
def test_hostile_and_called_globals_refused_when_nested(tmp_path, container):
    G, D = _nets(10)
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.pth"
    torch.save({"netG_state_dict": G.state_dict(), "hparams": {"cmd": [_Evil(str(marker))]}}, src,
               **SAVE[container])
    with pytest.raises(UnsafePickleError, match=r"(posix|nt|os)\.system"):
        converters.convert(str(src), str(tmp_path / "out"))
    assert not marker.exists() and not (tmp_path / "out").exists()
    torch.save({"netG_state_dict": G.state_dict(), "extras": {"cb": _Unknown()}}, src, **SAVE[container])
    with pytest.raises(UnsafePickleError, match=r"AttributeDict' \(called in entry 'extras/cb'\)"):
        converters.convert(str(src), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_candidates_roles_and_prefix_groups():
    a = np.zeros(2, np.float32)
    cands, skipped = snapshot.candidates({
        "state_dict": {"generator.main.0.weight": a, "discriminator.main.0.weight": a, "loss_fn.w": a},
        "G_ema": {"module.x.weight": a}, "opt": {"param_groups": []}, "epoch": 1})
    roles = {c.path: c.role for c in cands}
    assert roles == {"state_dict/generator": "generator", "state_dict/discriminator": "discriminator",
                     "G_ema": "ema"}
    assert [c.state_dict for c in cands if c.path == "G_ema"][0].keys() == {"x.weight"}
    assert sorted(skipped) == ["epoch", "opt", "state_dict/loss_fn"]
    with pytest.raises(CheckpointError, match="2 generator candidates"):
        snapshot.find_networks({"g_ema": {"w": a}, "avgG": {"w": a}})
    with pytest.raises(CheckpointError, match="only discriminator"):
        snapshot.find_networks({"netD": {"w": a}}, detect=lambda sd: "x")
    with pytest.raises(CheckpointError, match="no state dict"):
        snapshot.find_networks({"epoch": 3})
