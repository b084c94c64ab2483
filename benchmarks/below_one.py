"""Where the time goes at the points where gbas-jax is behind batched PyTorch in
question (a) of ``python -m benchmarks`` (the same algorithm in both): each cost
those runs pay, timed alone in both implementations on the same model, layer and
batch.

    python -m benchmarks below-one [--out benchmarks/results/cpu/below_one.json]

* ``ber_step``: one BerOpt step of the plain algorithm (``S`` = 8 concrete masks),
  split into the decoder's forward alone at batch ``S`` (no masks), the masked
  loss's forward, and its forward and backward; gbas-jax runs ``R`` steps in one
  compiled loop, PyTorch a Python loop (as ``batched_torch.ber_opt``).
* ``ber_call``: the library's BerOpt run for 10, 20, 40 and 80 steps (one check every
  10), whole calls as the time-to-objective rows time them; a least-squares line
  through them splits a call into a fixed cost and a cost per step.
* ``rrt_order``: the benchmark's GB-RRT job at ``dcgan-mnist`` layer 2, twice per
  implementation in alternation, first thing in the process.
* ``membership``: one GB-RRT membership test of K candidates (the prefix
  ``f_{l:1}`` and the sign check, on the path gbas-jax plans), the work a tree
  iteration is bound by.
* ``first_calls`` and ``after_torch`` (``dcgan-mnist`` layer 2): the two timing
  effects behind the benchmark's warm-up and block-wise turns
  (:mod:`benchmarks.common`): an XLA:CPU program's first calls after a pause, and
  gbas-jax's calls right after PyTorch's.

Every time is the median of ``--repeats`` timed runs, the two implementations
taking turns in blocks of calls, each block after its own warm-up
(:func:`benchmarks.common.interleaved_medians`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .common import call_times, interleaved_medians, record_header, settle, write_json

PROG = "python -m benchmarks below-one"
#: (model, layer) of the BerOpt-per-step points below 1.0x
BER_STEP = [("dcgan64", 2), ("stylegan2-64", 4)]
#: (model, layer) of the time-to-objective point below 1.0x (10 steps)
BER_CALL = [("dcgan64", 1)]
BER_CALL_STEPS = (10, 20, 40, 80)
#: (model, layer, K, latent size or None for the model's own) of the GB-RRT points
#: below (or at) 1.0x, and one above for contrast
MEMBERSHIP = [("dcgan-mnist", 2, 32, None), ("dcgan-mnist", 2, 128, None), ("dcgan-mnist", 3, 32, None),
              ("dcgan-mnist", 4, 32, None), ("dcgan-mnist-random", 2, 32, 256), ("dcgan64", 3, 32, None),
              ("dcgan64", 4, 32, None), ("dcgan64", 1, 32, None)]
LOOP_STEPS = 20
#: ``first_calls``: seconds idle before the calls, and calls timed (three windows)
IDLE_S = 3.0
FIRST_CALLS = 60
#: ``after_torch``: calls timed per case
SPIN_CALLS = 60


def _setting(name, layer, latent_dim=None):
    import jax

    from . import suite
    gen = suite.model(name, latent_dim)
    cfg = suite.PLAIN.replace(**suite.config_changes(name))
    z0 = jax.random.normal(jax.random.key(1), (gen.latent_dim,))   # the suite's query
    return gen, cfg, z0


def ber_step(name, layer, repeats) -> dict:
    import jax
    import jax.numpy as jnp
    import torch

    from gbas_jax.core import beropt
    from gbas_jax.runtime import compiler
    from torch_mirror import batched_torch

    from . import suite
    gen, cfg, z0 = _setting(name, layer)
    S = cfg.ber_samples
    h0 = jax.tree_util.tree_map(lambda a: a[0], gen.features(z0[None], layer))
    x0 = gen.decode(jax.tree_util.tree_map(lambda a: a[None], h0), layer)[0]
    logits = jnp.full((beropt.num_logits(gen.units(h0).shape, cfg),), 2.0)
    hs = jax.tree_util.tree_map(lambda a: jnp.repeat(a[None], S, 0), h0)

    def loop(f):
        @compiler.jit
        def run(c):
            return jax.lax.fori_loop(0, LOOP_STEPS, lambda i, c: c + 1e-9 * f(c, i), c)
        return lambda: jax.block_until_ready(run(logits))
    key = jax.random.key(0)
    decode = loop(lambda c, i: jnp.mean(gen.decode(jax.tree_util.tree_map(lambda a: a * (1 + c[0]), hs), layer)))
    fwd = loop(lambda c, i: beropt.loss_fn(c, gen, h0, x0, layer, jax.random.fold_in(key, i), cfg))
    both = loop(lambda c, i: beropt.loss_and_grad(c, gen, h0, x0, layer, jax.random.fold_in(key, i), cfg)[1])
    out = dict(kind="ber_step", model=name, layer=layer, masks=S, steps_per_run=LOOP_STEPS)
    fns = {"jax_decode": decode, "jax_loss": fwd, "jax_loss_and_grad": both}

    net = suite._net("batched_torch", gen, "cpu")
    zt = torch.tensor(np.asarray(z0))
    with torch.no_grad():
        H0 = net.features(zt[None], layer)
        X0 = net.decode_nchw(H0, layer)
        HS = net.with_units(H0, net.units(H0).expand((S,) + tuple(net.units(H0).shape[1:])).contiguous())
    u0 = net.units(H0)
    lg = torch.full(u0.shape[1:], 2.0, requires_grad=True)
    u = torch.empty((S,) + tuple(u0.shape[1:]))
    gen_t = torch.Generator().manual_seed(0)

    def step(backward):
        loss = batched_torch.relaxed_loss(net, H0, X0, lg, u, layer, cfg, gen_t)
        if backward:
            lg.grad = None
            loss.backward()

    def t_loop(f, grad):
        def run():
            with torch.set_grad_enabled(grad):
                for _ in range(LOOP_STEPS):
                    f()
        return run

    def t_decode():
        with torch.no_grad():
            net.decode_nchw(HS, layer)
    fns.update({"torch_decode": t_loop(t_decode, False), "torch_loss": t_loop(lambda: step(False), False),
                "torch_loss_and_grad": t_loop(lambda: step(True), True)})
    for k, t in interleaved_medians(fns, repeats).items():
        out[f"{k}_ms"] = 1e3 * t / LOOP_STEPS
    for part in ("decode", "loss", "loss_and_grad"):
        out[f"{part}_ratio"] = out[f"torch_{part}_ms"] / out[f"jax_{part}_ms"]
    return out


def _line(xs, ys):
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(intercept), float(slope)


def ber_call(name, layer, repeats) -> dict:
    import jax
    import torch

    import gbas_jax as gb
    from torch_mirror import batched_torch

    from . import suite
    from .compare import TTO
    gen, _, z0 = _setting(name, layer)
    cfg = gb.EGBASConfig(ber_tol=0.0, ber_check=suite.TTO_CHECK, ber_window=suite.TTO_CHECK, **TTO[name]["changes"])
    net = suite._net("batched_torch", gen, "cpu")
    z0t = torch.tensor(np.asarray(z0, np.float32))
    out = dict(kind="ber_call", model=name, layer=layer, steps=list(BER_CALL_STEPS))
    fns = {}
    for n in BER_CALL_STEPS:
        c = cfg.replace(ber_steps=n)
        fns[("jax", n)] = lambda c=c: jax.block_until_ready(
            gb.ber_opt(gen, z0, layer, c, key=suite.TTO_KEY, full_output=True))
        fns[("torch", n)] = lambda c=c: batched_torch.ber_opt_library(net, z0t, layer, c,
                                                                      torch.Generator().manual_seed(3))
    t = interleaved_medians(fns, repeats)
    jt, tt = [t[("jax", n)] for n in BER_CALL_STEPS], [t[("torch", n)] for n in BER_CALL_STEPS]
    out["jax_s"], out["torch_s"] = jt, tt
    out["jax_fixed_s"], out["jax_per_step_s"] = _line(BER_CALL_STEPS, jt)
    out["torch_fixed_s"], out["torch_per_step_s"] = _line(BER_CALL_STEPS, tt)
    return out


def _membership_pair(name, layer, proposals, latent_dim):
    """``(gbas-jax test, PyTorch test, record fields)``: one membership test of
    ``proposals`` candidates in each implementation, both waiting for their result."""
    import jax
    import jax.numpy as jnp
    import torch

    import gbas_jax as gb
    from gbas_jax.core import kept
    from gbas_jax.runtime import compiler

    from . import suite
    gen, _, z0 = _setting(name, layer, latent_dim)
    V, _ = suite.region_for(name, gen, z0, layer, gb.EGBASConfig(), 0.02)
    V = jnp.asarray(V)
    sizes = kept.plan(gen, layer, V, gb.EGBASConfig().region_path)
    fn = compiler.jit(suite._membership_fn(gen, layer, V, sizes))
    z = jax.random.normal(jax.random.key(11), (proposals, gen.latent_dim))
    fields = dict(model=name, layer=layer, proposals=proposals, latent_dim=gen.latent_dim,
                  path="full" if sizes is None else "kept " + "x".join(map(str, sizes[1:])))
    net = suite._net("batched_torch", gen, "cpu")
    zt = torch.tensor(np.asarray(z))

    def torch_test():
        with torch.inference_mode():
            return net.boundary(zt, layer)
    return (lambda: jax.block_until_ready(fn(z))), torch_test, fields


def membership(name, layer, proposals, latent_dim, repeats) -> dict:
    jax_test, torch_test, fields = _membership_pair(name, layer, proposals, latent_dim)
    out = dict(kind="membership", **fields)
    t = interleaved_medians({"jax": jax_test, "torch": torch_test}, repeats)
    out["jax_ms"], out["torch_ms"] = 1e3 * t["jax"], 1e3 * t["torch"]
    out["ratio"] = out["torch_ms"] / out["jax_ms"]
    return out


def _each_ms(f, n):
    return [1e3 * t for t in call_times(f, n)]


def first_calls(name, layer, idle_s=IDLE_S, trials=3) -> dict:
    """Why every timing starts with :data:`benchmarks.common.WARM_S` of warm-up:
    after ``idle_s`` seconds idle, one implementation's membership test called
    :data:`FIRST_CALLS` times in a row (medians over ``trials`` of the per-window
    medians of calls 1-20, 21-40, 41-60), against the same after ``settle``.  Both
    tests compiled (and called once) first."""
    jax_test, torch_test, fields = _membership_pair(name, layer, 32, None)
    out = dict(kind="first_calls", idle_s=idle_s, trials=trials, window=FIRST_CALLS // 3, **fields)
    for impl, f in (("jax", jax_test), ("torch", torch_test)):
        f()
        cold, warm = [], []
        for _ in range(trials):
            time.sleep(idle_s)
            cold.append(_each_ms(f, FIRST_CALLS))
            time.sleep(idle_s)
            settle(f)
            warm.append(_each_ms(f, FIRST_CALLS // 3))
        w = FIRST_CALLS // 3
        out[f"{impl}_first_ms"] = float(np.median([c[0] for c in cold]))
        out[f"{impl}_windows_ms"] = [float(np.median([np.median(c[i * w:(i + 1) * w]) for c in cold]))
                                     for i in range(3)]
        out[f"{impl}_after_warm_up_ms"] = float(np.median([np.median(c) for c in warm]))
    return out


def after_torch(name, layer, calls=SPIN_CALLS) -> dict:
    """Why implementations take turns in blocks: gbas-jax's membership test timed
    alone (after a warm-up) and right after each call of PyTorch's (whose OpenMP
    workers spin for a while after a call), medians of ``calls``."""
    jax_test, torch_test, fields = _membership_pair(name, layer, 32, None)
    out = dict(kind="after_torch", calls=calls, **fields)
    jax_test(), torch_test()
    settle(jax_test)
    out["jax_alone_ms"] = float(np.median(_each_ms(jax_test, calls)))
    settle(torch_test)
    after = []
    for _ in range(calls):
        torch_test()
        after += _each_ms(jax_test, 1)
    out["jax_after_torch_ms"] = float(np.median(after))
    settle(torch_test)
    out["torch_alone_ms"] = float(np.median(_each_ms(torch_test, calls)))
    return out


def rrt_order(name, layer) -> dict:
    """The benchmark's own GB-RRT job (``compare.run_job``, the targets group) run
    twice per implementation in a fresh process, alternating gbas-jax and batched
    PyTorch: whether a point's ratio depends on what the process ran before."""
    from .compare import run_job
    cache, rates = {}, []
    for impl in ("jax", "batched_torch", "jax", "batched_torch"):
        job = dict(kind="rrt", group="targets", model=name, layer=layer, capacity=500, proposals=32, impl=impl)
        rates.append(run_job(job, "cpu", 0.02, cache)["candidates_per_s"])
    return dict(kind="rrt_order", model=name, layer=layer, order=["jax", "batched_torch", "jax", "batched_torch"],
                candidates_per_s=rates, first_ratio=rates[0] / rates[1], second_ratio=rates[2] / rates[3])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results/cpu/below_one.json")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per measurement (median)")
    return p


def run(args) -> dict:
    rows = [rrt_order("dcgan-mnist", 2)]            # first: it asks what a fresh process does
    rows += [ber_step(m, layer, args.repeats) for m, layer in BER_STEP]
    rows += [ber_call(m, layer, max(3, args.repeats // 2)) for m, layer in BER_CALL]
    rows += [membership(m, layer, k, dz, args.repeats) for m, layer, k, dz in MEMBERSHIP]
    rows += [first_calls("dcgan-mnist", 2), after_torch("dcgan-mnist", 2)]
    return dict(record_header(), rows=rows)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    rec = run(args)
    write_json(args.out, rec)
    for r in rec["rows"]:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
