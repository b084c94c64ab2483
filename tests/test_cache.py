"""The persistent compilation cache of the command line: used on a second run,
off when asked."""

import os
import subprocess
import sys

import pytest

from gbas_jax.io import cache

pytestmark = pytest.mark.fast

TINY = ["sample", "--layer", "2", "--capacity", "16", "--proposals", "8", "--ber-steps", "25", "--ber-window", "25", "--no-progress",
        "--allow-incomplete"]


def run(tmp_path, out, env_extra, *extra):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **env_extra}
    r = subprocess.run([sys.executable, "-m", "gbas_jax.cli", *TINY, "--out", str(tmp_path / out), *extra],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def entries(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.slow
def test_second_run_reuses_the_cache_and_off_means_off(tmp_path):
    folder = tmp_path / "cache"
    run(tmp_path, "a", {cache.ENV_DIR: str(folder)})
    first = entries(folder)
    assert len(first) >= 3                         # the stages and the small programs around them
    run(tmp_path, "b", {cache.ENV_DIR: str(folder)})
    assert entries(folder) == first                # nothing compiled anew: every program came from the cache
    assert len(list((folder / "programs").glob("*.jaxexport"))) == 2   # and both traced E-GBAS stages
    # Off by flag (the environment switch is read by the same test in the command
    # line, and its parsing is checked below).
    off = tmp_path / "off"
    run(tmp_path, "d", {cache.ENV_DIR: str(off)}, "--no-compile-cache")
    assert entries(off) == []


def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_cache_dir() == os.path.join(str(tmp_path), "gbas-jax", "xla")
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "x"))
    assert cache.default_cache_dir() == str(tmp_path / "x")
    for value, off in (("0", True), ("off", True), ("1", False)):
        monkeypatch.setenv(cache.ENV_SWITCH, value)
        assert cache.cache_disabled_by_environment() is off


@pytest.mark.parametrize("bad", ["file"])
def test_unwritable_cache_folder_is_an_error(tmp_path, bad):
    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises((OSError, ValueError)):
        cache.enable_compile_cache(str(f))
