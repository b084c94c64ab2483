"""Fuzzing the readers of user files: random bytes, truncations and wrong-type
values must give one clear error naming the file, write nothing, and never a
traceback (a capped number of hypothesis examples each)."""

import io
import json
import pathlib
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbas_jax as gb
from gbas_jax.cli import main
from gbas_jax.io.checkpoint import resolve
from gbas_jax.io.query_input import read_query_file

pytestmark = pytest.mark.fast

FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def valid_checkpoints(tmp_path_factory):
    """A small PyTorch-examples DCGAN saved in the three containers."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from torch_mirror import layouts
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    sd = layouts.ExamplesG(nz=4, ngf=2, nc=1).state_dict()
    torch.save(sd, d / "zip.pth")
    torch.save(sd, d / "legacy.pth", _use_new_zipfile_serialization=False)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(d / "g.safetensors"))
    return {name: (d / name).read_bytes() for name in ("zip.pth", "legacy.pth", "g.safetensors")}


def convert_fails_cleanly(tmp_path, capsys, data: bytes, name: str):
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / "out"
    rc = main(["convert", str(src), str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("gbas-jax convert: error: ") and str(src) in err, err
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))


@FUZZ
@given(data=st.binary(max_size=400), name=st.sampled_from(["g.pth", "g.safetensors", "g.bin"]))
def test_converter_on_random_bytes(tmp_path, capsys, data, name):
    convert_fails_cleanly(tmp_path, capsys, data, name)


@FUZZ
@given(which=st.sampled_from(["zip.pth", "legacy.pth", "g.safetensors"]), cut=st.floats(0.0, 0.98),
       flip=st.integers(0, 2 ** 16))
def test_converter_on_truncated_or_damaged_checkpoints(tmp_path, capsys, valid_checkpoints, which, cut, flip):
    good = valid_checkpoints[which]
    data = bytearray(good[: int(cut * len(good))])
    if data and flip % 2:                       # and sometimes one damaged byte as well
        data[flip % len(data)] ^= 0xFF
    convert_fails_cleanly(tmp_path, capsys, bytes(data), which)


def fresh_copy(tmp_path) -> pathlib.Path:
    """A new copy of the small shipped model for each hypothesis example."""
    dst = pathlib.Path(tempfile.mkdtemp(dir=tmp_path)) / "model"
    shutil.copytree(resolve("dcgan-mnist-2d"), dst)
    return dst


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=3), max_leaves=8)


@FUZZ
@given(content=st.one_of(st.binary(max_size=200).map(lambda b: ("bytes", b)),
                         json_values.map(lambda v: ("json", v)),
                         st.sampled_from(["generator", "format"]).map(lambda k: ("drop", k)),
                         st.sampled_from(["latent_dim", "widths", "image_size", "type"]).map(lambda k: ("bad", k))))
def test_broken_architecture_json(tmp_path, content):
    model_copy = fresh_copy(tmp_path)
    arch = model_copy / "architecture.json"
    good = json.loads(arch.read_text())
    kind, value = content
    if kind == "bytes":
        arch.write_bytes(value)
    elif kind == "json":
        arch.write_text(json.dumps(value))
    elif kind == "drop":
        good.pop(value)
        arch.write_text(json.dumps(good))
    else:
        good["generator"][value] = "seven"
        arch.write_text(json.dumps(good))
    with pytest.raises(ValueError) as e:
        gb.load_pretrained(str(model_copy))
    assert str(model_copy) in str(e.value)


@FUZZ
@given(pick=st.integers(0, 10 ** 6), cut=st.floats(0.0, 0.99), delete=st.booleans())
def test_missing_or_truncated_checkpoint_files(tmp_path, pick, cut, delete):
    model_copy = fresh_copy(tmp_path)
    files = sorted(p for p in (model_copy / "generator").rglob("*") if p.is_file())
    victim = files[pick % len(files)]
    data = victim.read_bytes()
    if delete:
        victim.unlink()
    else:
        victim.write_bytes(data[: int(cut * len(data))])
    try:
        gen = gb.load_pretrained(str(model_copy))
    except ValueError as e:
        assert str(model_copy) in str(e)
        return
    # Some files (metadata orbax can do without) may be cut without harm: then the
    # model must still be the right one.
    ref = gb.load_pretrained("dcgan-mnist-2d")
    z = np.zeros((1, 2), np.float32)
    np.testing.assert_array_equal(np.asarray(gen.generate(z)), np.asarray(ref.generate(z)))


def _npy(value) -> bytes:
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=True)
    return buf.getvalue()


@FUZZ
@given(data=st.one_of(
    st.binary(max_size=300),
    st.sampled_from([_npy(np.array(["a", "b"])), _npy(np.array([1 + 2j] * 100)), _npy(np.array([object()])),
                     _npy(np.zeros((3, 100))), _npy(np.zeros(99)), _npy(np.full(100, np.inf))]),
    st.binary(max_size=200).map(lambda b: _npy(np.zeros(100, np.float32))[: 60] + b)))
def test_query_reader(tmp_path, data):
    path = tmp_path / "q.npy"
    path.write_bytes(data)
    with pytest.raises(ValueError) as e:
        read_query_file(str(path), 100)
    assert str(path) in str(e.value)


def test_query_reader_accepts_the_real_thing(tmp_path):
    z = np.arange(100, dtype=np.float64) / 100
    np.save(tmp_path / "q.npy", z[None])
    np.testing.assert_array_equal(read_query_file(str(tmp_path / "q.npy"), 100), z.astype(np.float32))
    assert pathlib.Path(tmp_path / "q.npy").exists()
