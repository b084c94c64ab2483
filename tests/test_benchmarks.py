"""``python -m benchmarks --quick``: the smoke test CI runs (it asserts nothing about
speed, only that every measurement runs and is recorded)."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="torch is a test dependency: pip install -e '.[test]'")

from benchmarks import compare as bench_main  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_benchmarks_run_and_record(tmp_path):
    out = tmp_path / "bench"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    # The targets only (the sweeps repeat the same jobs at other sizes); the sweep
    # plots are drawn below from these records, relabelled as two sweep points.
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--skip-sweeps", "--no-progress",
                        "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    recs = res["records"]
    impls = {(r["kind"], r.get("impl")) for r in recs}
    assert {("rrt", "jax"), ("rrt", "batched_torch"), ("rrt", "reference_torch"),
            ("beropt", "jax"), ("beropt", "reference_torch"), ("batch", "jax")} <= impls
    for rec in recs:
        if rec["kind"] == "rrt":
            assert rec["accepted"] >= 0 and rec["candidates"] > 0 and rec["rrt_s"] > 0
            assert rec["accepted"] + 1 <= rec["capacity"]
        if rec["kind"] == "rrt" and rec["impl"] == "jax":
            assert rec["bound_s"] > 0 and rec["compile_s"] >= 0
    targets = [r for r in recs if r["group"] == "targets" and r["kind"] == "rrt" and r["impl"] == "jax"]
    assert targets and all("speedup_vs_reference_torch" in r for r in targets)
    report = (out / "report.md").read_text()
    assert "## Targets: GB-RRT" in report and "## Kept-boundary path" in report
    assert res["machine"]["backend"] == "cpu"
    assert res["command"].startswith("python -m benchmarks") and res["git_commit"]
    # the two questions: (a) the same algorithm in both implementations, (b) the
    # algorithm's gain in gbas-jax
    tto = {(r["impl"], r["algorithm"]) for r in recs if r["kind"] == "tto"}
    assert {("jax", "library"), ("jax", "paper"), ("batched_torch", "library"), ("reference_torch", "paper")} <= tto
    lib = [r for r in recs if r["kind"] == "tto" and r["impl"] == "jax" and r["algorithm"] == "library"]
    assert all(r["vs_batched_torch_algorithm"] == "library" for r in lib)
    e2e = [r for r in recs if r["kind"] == "batch" and r["impl"] == "batched_torch"]
    assert e2e and all(r["algorithm"] == "library" for r in e2e)
    assert "algorithm_gain" in report
    sweep = []
    for rec in recs:
        if rec["kind"] == "rrt" and rec["group"] == "targets":
            sweep.append({**rec, "group": "capacity", "capacity": rec["capacity"] * rec["layer"]})
    files = bench_main.plots(sweep, str(out))
    assert files == ["sweep_capacity.png"] and (out / files[0]).stat().st_size > 1000
    assert res["machine"]["backend"] == "cpu"


def test_gpu_script_stages_record_and_summarise(tmp_path):
    """``benchmarks/pggan_gpu.py`` (the GPU script's stages) on a tiny PGGAN on the
    CPU: the precision comparison and a memory run write their records, and the
    summary reads them back (no peak bytes on a CPU)."""
    from benchmarks import pggan_gpu
    tiny = ["--resolution", "8", "--max-width", "8", "--layers", "2", "--ber-steps", "30", "--repeats", "1"]
    run = lambda argv: pggan_gpu.run(pggan_gpu.parser().parse_args(argv))  # noqa: E731
    prec = run(["precision", "--precisions", "float32", "tf32", "--default-precisions",
                "--out", str(tmp_path / "precision.json"), *tiny])
    f32, tf32 = prec["runs"]
    assert (f32["ber_precision"], tf32["ber_precision"]) == ("float32", "tf32") and f32["ber_steps"] == 30
    assert 0.0 <= f32["noise_jaccard"] <= 1.0 and "jaccard_vs_float32" in tf32
    # On a CPU tf32 is float32: the same program, the same answer.
    assert tf32["objective_rel_vs_float32"] == 0.0 and tf32["jaccard_vs_float32"] == 1.0
    mem = run(["memory", "--queries", "2", "--out", str(tmp_path / "memory_2.json"), *tiny])["runs"][0]
    assert mem["peak_bytes"] is None and mem["predicted_bytes"] > 2 * mem["memory_per_query"]
    text = pggan_gpu.summarise(str(tmp_path))
    assert "L2 egbas            tf32" in text and "memory 2 q" in text


def test_speedups_pair_each_question():
    """(a) gbas-jax's library BerOpt against batched PyTorch's library BerOpt, the
    sequential reference's plain one named as such; (b) gbas-jax's plain BerOpt time
    over its library one; GB-RRT's gain over one proposal per iteration."""
    base = dict(kind="tto", group="targets", model="m", layer=2, query=0)
    recs = [dict(base, impl="jax", algorithm="library", tto_s=1.0, reached=True),
            dict(base, impl="jax", algorithm="paper", tto_s=6.0, reached=False),
            dict(base, impl="batched_torch", algorithm="library", tto_s=20.0, reached=True),
            dict(base, impl="reference_torch", algorithm="paper", tto_s=90.0, reached=True)]
    bench_main._speedups(recs)
    j = recs[0]
    assert j["speedup_vs_batched_torch"] == 20.0 and j["vs_batched_torch_algorithm"] == "library"
    assert j["speedup_vs_reference_torch"] == 90.0 and j["vs_reference_torch_algorithm"] == "paper"
    assert j["algorithm_gain"] == 6.0 and j["algorithm_gain_is_lower_bound"] is True
    rrt = [dict(kind="rrt", group="proposals", model="m", layer=2, impl="jax", proposals=k, accepted_per_s=a)
           for k, a in ((1, 50.0), (32, 400.0))]
    bench_main._rrt_algorithm_gains(rrt)
    assert rrt[1]["gain_vs_one_proposal"] == 8.0 and rrt[0]["gain_vs_one_proposal"] == 1.0

