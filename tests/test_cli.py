"""The command line under a careless user: files survive, failures are not called
success, every bad input is one line naming the path, Ctrl-C is clean.

In-process (``main([...])``) wherever the exit code, a signal or the working
directory do not need a real process."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gbas_jax.cli import main

pytestmark = pytest.mark.fast

ROOT = pathlib.Path(__file__).resolve().parents[1]
from conftest import CLI_FAST as FAST


def one_error_line(capsys, *keywords):
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for k in keywords:
        assert k in lines[0], (k, lines[0])
    return lines[0]


def tree(path: pathlib.Path) -> dict:
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None) for p in sorted(path.rglob("*"))}


# -- a normal run -------------------------------------------------------------------

def test_sample_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sample", "--out", str(out), "--layer", "2", *FAST]) == 0
    files = set(os.listdir(out))
    assert {"samples.png", "record.json", "query.npy", "egbas_samples.npy", "eps_l2_samples.npy",
            "eps_linf_samples.npy", "egbas_parents.npy", "egbas_rejected.npy"} <= files
    rec = json.loads((out / "record.json").read_text())
    n = rec["counts"]["samples"]
    assert np.load(out / "egbas_samples.npy").shape == (n, 100)
    assert rec["config"]["capacity"] == 48 and rec["layer"] == 2
    assert rec["config_sources"] == {"capacity": "command line", "proposals": "command line",
                                     "ber_steps": "command line", "ber_window": "command line"}
    assert rec["written_by"] == {"program": "gbas-jax", "job": "sample"}
    for method in ("E-GBAS", "eps-L2", "eps-Linf"):
        m = rec["metrics"][method]
        assert m["count"] == n and m["image_variation"] >= 0 and len(m["discriminator_similarity"]) == 3
    assert rec["metrics"]["E-GBAS"]["nrs_relaxed"] > 0.99
    assert set(rec["timings"]) >= {"egbas_s", "total_s"}
    printed = capsys.readouterr()
    assert "kept boundaries" in printed.out and "wrote" in printed.out.splitlines()[-1]
    assert "capacity=48 (command line)" in printed.out
    assert (out.stat().st_mode & 0o777) == (0o777 & ~_umask())      # an ordinary folder, not 0700
    # Rerunning the same command replaces its own output.
    assert main(["sample", "--out", str(out), "--layer", "2", "--seed", "1", *FAST]) == 0
    assert json.loads((out / "record.json").read_text())["seed"] == 1


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_query_as_file_or_numbers(tmp_path):
    z = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    np.save(tmp_path / "q.npy", z)
    assert main(["sample", "--query", str(tmp_path / "q.npy"), "--out", str(tmp_path / "a"), *FAST]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "egbas_samples.npy")[0], z)
    numbers = [repr(float(v)) for v in z]
    assert main(["sample", "--query", *numbers, "--out", str(tmp_path / "b"), *FAST]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "query.npy"), z)


# -- the user's files survive every --out misuse ------------------------------------------

def test_out_never_replaces_a_users_folder(tmp_path, capsys):
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "thesis.txt").write_text("years of work")
    before = tree(precious)
    for extra in ([], ["--overwrite"]):
        assert main(["sample", "--out", str(precious), *FAST, *extra]) == 2
        one_error_line(capsys, str(precious), "not written by gbas-jax")
    assert tree(precious) == before


def test_out_never_the_current_directory_or_a_parent(tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.md").write_text("keep")
    monkeypatch.chdir(work)
    for out in (".", "..", str(work), str(tmp_path)):
        for extra in ([], ["--overwrite"]):
            assert main(["sample", "--out", out, *FAST, *extra]) == 2
            one_error_line(capsys, "current directory")
    assert (work / "notes.md").read_text() == "keep"


def test_out_naming_a_file_fails_before_the_run(tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("mine")
    t = time.perf_counter()
    assert main(["boundaries", "--out", str(f), "--no-progress"]) == 2
    assert time.perf_counter() - t < 5        # refused before anything ran
    one_error_line(capsys, str(f), "not a folder")
    assert f.read_text() == "mine"


def test_another_commands_output_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "b"
    out.mkdir()
    (out / "record.json").write_text(json.dumps({"written_by": {"program": "gbas-jax", "job": "boundaries"}}))
    assert main(["sample", "--out", str(out), *FAST]) == 2
    one_error_line(capsys, str(out), "gbas-jax boundaries", "--overwrite")
    assert main(["sample", "--out", str(out), "--overwrite", *FAST]) == 0
    assert json.loads((out / "record.json").read_text())["written_by"]["job"] == "sample"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["sample", "--out", str(empty), *FAST]) == 0


# -- failed runs are not called a success ---------------------------------------------

@pytest.mark.slow
def test_unusable_result_exits_3(tmp_path, capsys):
    out = tmp_path / "none"
    argv = ["sample", "--out", str(out), "--layer", "1", "--ber-lambda", "50", "--ber-lr", "0.5",
            "--ber-steps", "100", "--capacity", "16", "--no-progress"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "error: BerOpt kept 0 of 3136 boundaries" in err and "exit 3" in err
    assert json.loads((out / "record.json").read_text())["problems"][0]["code"] == "no_kept_boundaries"
    assert main([*argv, "--allow-incomplete"]) == 0


def test_incomplete_tree_is_a_warning(tmp_path, capsys):
    out = tmp_path / "short"
    assert main(["sample", "--out", str(out), "--layer", "2", "--max-iterations", "2", "--step-size", "2",
                 "--reject-capacity", "1",
                 *FAST]) == 0
    err = capsys.readouterr().err.splitlines()
    codes = [p["code"] for p in json.loads((out / "record.json").read_text())["problems"]]
    assert "max_iterations" in codes and "rejected_overflow" in codes
    assert sum("warning: GB-RRT stopped at max_iterations" in line for line in err) == 1
    assert sum("warning:" in line and "rejected" in line for line in err) == 1


@pytest.mark.slow
@pytest.mark.parametrize("model, step", [("dcgan-mnist-2d", 0.02), ("pggan-mnist", 1.0)])
def test_shipped_models_run_with_their_recommended_settings(tmp_path, capsys, model, step):
    """The default layer, the model's recommendation (a full tree) and a flag above it."""
    out = tmp_path / model
    assert main(["sample", "--model", model, "--out", str(out), "--no-progress", "--seed", "3",
                 "--threshold", "0.5"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert rec["config_sources"]["step_size"] == "model" and rec["config"]["step_size"] == step
    assert "threshold" not in rec["config_sources"]          # a flag equal to the library default
    assert rec["counts"]["stop_reason"] == "capacity" and rec["counts"]["samples"] >= 400
    assert f"step_size={step} (model)" in capsys.readouterr().out


# -- every bad input: one line naming the path, exit 2 --------------------------------

@pytest.mark.parametrize("argv, keywords", [
    (["sample", "--layer", "9"], ["--layer 9", "1..4"]),
    (["sample", "--capacity", "0"], ["capacity", ">= 1"]),
    (["sample", "--seed", "99999999999999999999"], ["--seed", "outside"]),
    (["sample", "--model", "nowhere"], ["nowhere", "neither a shipped model"]),
    (["sample", "--query", "1", "2"], ["--query", "needs (100,)"]),
    (["sample", "--query", "x.npy"], ["x.npy", "no such file"]),
    (["boundaries", "--model", "dcgan-mnist"], ["2-D latent"]),
    (["reproduce", "--layers", "1", "7"], ["--layer 7"]),
    (["merge", "no-such-run"], ["no-such-run", "no such folder"]),
    (["convert", "missing.pth", "OUT"], ["missing.pth", "no such file"]),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, monkeypatch, argv, keywords):
    monkeypatch.chdir(tmp_path)
    extra = [] if argv[0] in ("merge", "convert") else ["--out", str(tmp_path / "x")]
    assert main([*argv, *extra]) == 2
    one_error_line(capsys, f"gbas-jax {argv[0]}: error:", *keywords)
    assert not (tmp_path / "x").exists() and not (tmp_path / "OUT").exists()


def test_bad_query_files(tmp_path, capsys):
    (tmp_path / "q.txt").write_text("0.1 0.2")
    np.save(tmp_path / "obj.npy", np.array([object()]), allow_pickle=True)
    np.save(tmp_path / "short.npy", np.zeros(7))
    np.save(tmp_path / "nan.npy", np.full(100, np.nan))
    for name, word in (("q.txt", "not a .npy file"), ("obj.npy", "not a readable"), ("short.npy", "(7,)"),
                       ("nan.npy", "not finite")):
        assert main(["sample", "--query", str(tmp_path / name), "--out", str(tmp_path / "x"), *FAST]) == 2
        one_error_line(capsys, str(tmp_path / name), word)


def test_broken_model_folder(tmp_path, capsys):
    import shutil
    from gbas_jax.io.checkpoint import resolve
    model = tmp_path / "m"
    shutil.copytree(resolve("dcgan-mnist"), model)
    arch = model / "architecture.json"
    good = arch.read_text()
    arch.write_text("{'format': 1}")
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x"), *FAST]) == 2
    one_error_line(capsys, str(arch), "not valid JSON")
    arch.write_text(good.replace('"widths"', '"widthz"', 1))
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x"), *FAST]) == 2
    one_error_line(capsys, str(arch), "generator")
    arch.write_text(good)
    for f in (model / "generator").rglob("*"):
        if f.is_file() and f.stat().st_size > 1000:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    assert main(["sample", "--model", str(model), "--out", str(tmp_path / "x"), *FAST]) == 2
    one_error_line(capsys, str(model / "generator"), "checkpoint")
    assert not (tmp_path / "x").exists()


# -- help ---------------------------------------------------------------------------

def test_every_option_has_help_and_the_docs_agree():
    from gbas_jax.cli import build_parser, help_markdown
    ap = build_parser()
    subparsers = next(a for a in ap._actions if a.dest == "command").choices
    for name, p in subparsers.items():
        for action in p._actions:
            assert action.help, f"gbas-jax {name} {action.option_strings or action.dest} has no help"
    assert subparsers["convert"].prog == "gbas-jax convert"
    docs = (ROOT / "docs" / "cli.md").read_text()
    begin, end = "<!-- help: begin -->", "<!-- help: end -->"
    assert docs[docs.index(begin) + len(begin):docs.index(end)].strip() == help_markdown().strip(), \
        "docs/cli.md is stale: regenerate it with `python -m gbas_jax.cli --help-markdown`"


# -- Ctrl-C ---------------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_during_compilation(tmp_path):
    """SIGINT right after the E-GBAS stage begins (the progress bar's marker on
    stderr), i.e. while XLA compiles: exit 130 within a second or so, one line, no
    traceback, no temporary folder left."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
    # The child handles SIGINT as Python does by default even when the suite runs in a
    # background job (which starts with SIGINT ignored, and Python keeps that).  Set
    # in the child itself: a preexec_fn would fork this multithreaded process.
    start = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "runpy.run_module('gbas_jax.cli', run_name='__main__')")
    p = subprocess.Popen([sys.executable, "-c", start, "sample", "--out", str(tmp_path / "o")],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = b""
    while b"E-GBAS" not in seen:
        chunk = p.stderr.read1(4096)
        assert chunk, seen.decode()
        seen += chunk
    t = time.perf_counter()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    elapsed = time.perf_counter() - t
    assert p.returncode == 130
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert lines == ["gbas-jax sample: interrupted"], err.decode()
    assert elapsed < 3, elapsed
    assert os.listdir(tmp_path) == []
