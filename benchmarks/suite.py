"""Measurements behind ``python -m benchmarks``: gbas-jax against the two PyTorch
references on the same weights, the same configuration and the same region, with
compile time reported apart and each implementation's compute bound.

Definitions (every record carries them):

* GB-RRT ``accepted_per_s`` = (``num_samples`` - 1) / wall time of the tree, after
  warm-up; ``candidates_per_s`` = candidates tested / wall time (JAX and
  ``batched_torch``: iterations x K; ``reference_torch``: one per iteration).
* ``bound_s``: the generator + membership work that the run performed, with the
  same kernels at the loop's own batch size, back to back: JAX runs the membership
  function the tree used (full layer or kept units) over 64 batches of ``K``
  candidates in one compiled ``lax.map``; PyTorch calls the mirror's
  ``boundary`` on 64 batches of its own size (``K``, or 1 for the reference),
  times the batches the run tested.  ``efficiency`` = bound / actual.  What
  remains is the loop: nearest neighbour (``nn_s``, timed the same way at half
  the final tree size), the spacing test and bookkeeping (``other_s``).
* BerOpt: ``ber_steps_per_s`` with ``ber_tol = 0`` (fixed step count);
  ``ber_bound_s`` = value-and-gradient of the loss over ``S`` masks timed on one
  large batch of ``16 S`` masks, per step, times the steps.
* End to end (``egbas_batch``): ``bound_s`` = the BerOpt step bound times every
  query's steps plus the membership bound per iteration times every query's GB-RRT
  iterations.
* Regions: the real BerOpt indicator on trained models; on randomly initialised
  models (whose images vary too little for the default lambda) a fixed random
  ``kept_fraction`` of the query's signs, the same for every implementation.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import time
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

import gbas_jax as gb
from gbas_jax.core import kept
from gbas_jax.runtime import compiler

from .common import first_call, measure, median_time

BOUND_REPEATS = 64

#: Model name -> (builder(latent_dim) -> Generator, default latent size, torch mirror available,
#: EGBASConfig changes).  Random models use step_size 0.2: at the default 0.5 the
#: trees at layers 2-3 of the random 64x64 DCGAN stall (296 of 500 samples after
#: 2,000 iterations); 0.2 fills them in 75-560 iterations.
MODELS: Dict[str, tuple] = {
    # the shipped, trained 28x28 DCGAN (WGAN layout)
    "dcgan-mnist": (lambda dz: gb.load_pretrained("dcgan-mnist"), 100, True, {}),
    # a random DCGAN-MNIST-sized model for the latent-size sweep
    "dcgan-mnist-random": (lambda dz: gb.models.dcgan(key=jax.random.key(0), latent_dim=dz, image_size=28,
                                                      widths=(128, 64, 32, 32)), 100, True, {"step_size": 0.2}),
    # PyTorch-examples DCGAN layout, 64x64, ngf = 64, 3 channels
    "dcgan64": (lambda dz: gb.models.dcgan(key=jax.random.key(0), latent_dim=dz, image_size=64, channels=3,
                                           widths=(512, 256, 128, 64)), 100, True, {"step_size": 0.2}),
    # PGGAN 64x64 with reduced widths (CPU); full widths are for a GPU
    "pggan64": (lambda dz: gb.models.pggan(key=jax.random.key(0), latent_dim=dz, resolution=64, max_width=128,
                                           bias_scale=0.1), 128, True, {"step_size": 0.2}),
    "pggan256": (lambda dz: gb.models.pggan(key=jax.random.key(0), latent_dim=dz, resolution=256,
                                            bias_scale=0.1), 512, False, {"step_size": 0.2}),
    # StyleGAN2 64x64 (skip), the PyTorch mirror's random weights converted as NVlabs' files
    # are; widths reduced for a CPU (channels min(4096 / r, 128): 128 up to 32x32, 64 at 64x64).
    # A random 2 % of a random StyleGAN2's signs leaves a region the trees barely enter: the
    # runs are capped at 300 iterations of K candidates (the rate is per candidate tested).
    "stylegan2-64": (lambda dz: stylegan2_mirror_model(64, dz), 128, True, {"step_size": 0.2, "max_iterations": 300}),
}


def stylegan2_mirror_model(resolution: int, latent: int, channel_base: int = 4096, channel_max: int = 128,
                           seed: int = 0):
    """A gbas-jax StyleGAN2 converted from the mirror's random weights (torch seed ``seed``)."""
    import torch

    from converters.stylegan2 import generator
    from torch_mirror.stylegan2 import TorchStyleGAN2

    torch.manual_seed(seed)
    net = TorchStyleGAN2(z_dim=latent, w_dim=latent, img_resolution=resolution, mapping_layers=8,
                         channel_base=channel_base, channel_max=channel_max).randomise(seed + 1)
    return generator(net.state_dict_numpy())[1]


@functools.lru_cache(maxsize=16)
def model(name: str, latent_dim: Optional[int] = None):
    build, dz, _, _ = MODELS[name]
    return build(latent_dim or dz)


def config_changes(name: str) -> dict:
    return dict(MODELS[name][3])


def has_torch_mirror(name: str) -> bool:
    return MODELS[name][2]


def region_for(name: str, gen, z0, layer: int, cfg, kept_fraction: float, seed: int = 0):
    """The indicator every implementation uses for (model, query, layer)."""
    if name == "dcgan-mnist":
        res = gb.egbas(gen, z0, layer, cfg, key=jax.random.key(seed))
        return np.asarray(res.indicator), "beropt"
    a0 = gen.boundary(jnp.asarray(z0)[None], layer)[0]
    keep = jax.random.uniform(jax.random.key(seed + 7), a0.shape) < kept_fraction
    return np.asarray(jnp.where(keep, jnp.sign(a0), 0).astype(jnp.int8)), f"random {kept_fraction:g}"


def _membership_fn(gen, layer, V, sizes):
    if sizes is None:
        return lambda z: gb.region_margin(gen, z, layer, jnp.asarray(V))
    region = kept.build(gen, layer, jnp.asarray(V), sizes)
    return lambda z: kept.kept_margin(gen, z, layer, region)


def _per_batch(fn, batch, dz, repeats=3):
    """Seconds per call of ``fn`` on ``(batch, dz)``, run back to back in one program."""
    z = jax.random.normal(jax.random.key(11), (BOUND_REPEATS, batch, dz))
    run = compiler.jit(lambda zz: jax.lax.map(fn, zz))
    _, t, _ = median_time(lambda r: run(z + 1e-3 * r), repeats)
    return t / BOUND_REPEATS


@functools.partial(compiler.jit, static_argnames=("k",))
def _nn(samples, count, u, k):
    """The nearest valid node of each proposal, as GB-RRT's steering finds it (one
    matrix product, :func:`gbas_jax.core.rrt._expanded_sq_dist`)."""
    from gbas_jax.core.rrt import _expanded_sq_dist
    valid = jnp.arange(samples.shape[0]) < count
    d = _expanded_sq_dist(u, samples, jnp.sum(u * u, -1), jnp.sum(samples * samples, -1))
    return jnp.argmin(jnp.where(valid, d, jnp.inf), axis=1)


#: GB-RRT runs per implementation and point: the rates are medians over these seeds
#: (the trees differ, and with them the candidates tested).
SEEDS = (0, 1, 2)

#: A GB-RRT run shorter than this (seconds) is timed ``SHORT_RUN_REPEATS`` times per
#: seed, in every implementation, and its median taken: at N = 100 a run is 4
#: iterations and ~10 ms, and one descheduling on this shared 2-core machine moved
#: single measurements by 1.5x.
SHORT_RUN_S = 0.05
SHORT_RUN_REPEATS = 9


def _over_seeds(runs):
    """Median rates over per-seed runs; sizes and times of the median-rate seed."""
    runs = sorted(runs, key=lambda r: r["candidates_per_s"])
    mid = dict(runs[len(runs) // 2])
    mid["candidates_per_s"] = statistics.median(r["candidates_per_s"] for r in runs)
    mid["accepted_per_s"] = statistics.median(r["accepted_per_s"] for r in runs)
    mid["seeds"] = len(runs)
    mid["candidates_per_s_by_seed"] = [r["candidates_per_s"] for r in runs]
    return mid


def jax_rrt(gen, z0, layer, V, cfg, seeds=SEEDS) -> dict:
    """GB-RRT of gbas-jax on a fixed region, with compile time, bound and shares
    (rates: medians over ``seeds``)."""
    return _over_seeds([_jax_rrt(gen, z0, layer, V, cfg, seed) for seed in seeds])


def _rrt_time(run, warmup, seconds=None):
    """``(seconds, output)`` of a GB-RRT run, the same policy in every
    implementation: :func:`benchmarks.common.measure` (a run under a second: the
    median of 3), then, for a run under :data:`SHORT_RUN_S`, the median of
    :data:`SHORT_RUN_REPEATS` more."""
    t, out, _ = measure(run, warmup, seconds=seconds)
    if t < SHORT_RUN_S:
        t, out, _ = measure(run, lambda: None, repeats=SHORT_RUN_REPEATS, seconds=seconds)
    return t, out


def _jax_rrt(gen, z0, layer, V, cfg, seed) -> dict:
    V = jnp.asarray(V, jnp.int8)
    key = jax.random.key(seed)   # made outside the timing, as the PyTorch runs seed theirs
    run = lambda: gb.gb_rrt(gen, z0, layer, V, cfg, key=key)  # noqa: E731
    first, _ = first_call(run)
    t, tree = _rrt_time(run, lambda: None)
    n, it = int(tree.num_samples), int(tree.iterations)
    cand = it * cfg.proposals
    sizes = kept.plan(gen, layer, V, cfg.region_path)
    bound = _per_batch(_membership_fn(gen, layer, V, sizes), cfg.proposals, gen.latent_dim) * it
    # nearest neighbour at the mean tree size, one iteration's K proposals
    u = jax.random.normal(jax.random.key(3), (cfg.proposals, gen.latent_dim))
    _, t_nn, _ = median_time(lambda r: _nn(tree.samples, max(1, n // 2), u + r, cfg.proposals), 5)
    nn_s = t_nn * it
    return dict(impl="jax", rrt_s=t, compile_s=max(first - t, 0.0), accepted=n - 1, iterations=it,
                candidates=cand, accepted_per_s=(n - 1) / t, candidates_per_s=cand / t, bound_s=bound,
                efficiency=bound / t, nn_s=nn_s, other_s=max(t - bound - nn_s, 0.0),
                path="full" if sizes is None else "kept " + "x".join(map(str, sizes[1:])),
                num_rejected=int(tree.num_rejected))


def _net(impl, gen, device):
    """The mirror each reference runs on: ``batched_torch`` with its fast defaults
    (BatchNorm folded, channels-last), ``reference_torch`` as written."""
    import torch_mirror
    fast = impl == "batched_torch"
    net = torch_mirror.from_jax(gen, fold=fast, channels_last=fast)
    return net.to(device)


def torch_rrt(impl: str, gen, z0, layer, V, cfg, device="cpu", net=None, seeds=SEEDS) -> dict:
    """A PyTorch reference's GB-RRT on the same region (rates: medians over ``seeds``)."""
    from torch_mirror import batched_torch, reference_torch
    mod = reference_torch if impl == "reference_torch" else batched_torch
    net = _net(impl, gen, device) if net is None else net
    # warm-up (allocator, kernels) on a short run
    mod.run(gen, np.asarray(z0), layer, dataclasses.replace(cfg, capacity=min(cfg.capacity, 16)), 1, V=V,
            device=device, net=net)
    return _over_seeds([_torch_rrt(mod, impl, gen, z0, layer, V, cfg, device, net, seed) for seed in seeds])


def _torch_rrt(mod, impl, gen, z0, layer, V, cfg, device, net, seed) -> dict:
    import torch

    # the same seed grows the same tree: every run times the same work
    t, out = _rrt_time(lambda: mod.run(gen, np.asarray(z0), layer, cfg, seed, V=V, device=device, net=net),
                       lambda: None, seconds=lambda o: o["rrt_s"])
    acc, cand = out["accepted"], out["candidates"]
    batch = 1 if impl == "reference_torch" else cfg.proposals
    with torch.inference_mode():
        z = torch.randn(BOUND_REPEATS, batch, gen.latent_dim, device=device)
        net.boundary(z[0], layer)
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for r in range(BOUND_REPEATS):
            net.boundary(z[r], layer)
        if device != "cpu":
            torch.cuda.synchronize()
        per = (time.perf_counter() - t0) / BOUND_REPEATS
    bound = per * out["iterations"]
    return dict(impl=impl, rrt_s=t, accepted=acc, iterations=out["iterations"], candidates=cand,
                accepted_per_s=acc / t, candidates_per_s=cand / t, bound_s=bound, efficiency=bound / t,
                num_rejected=out["num_rejected"], path="full")


def _ber_step_bound(gen, z0, layer, cfg) -> float:
    """Seconds of one BerOpt step's work (value and gradient over S masks), timed
    as 16 steps' masks in one vmapped batch."""
    from gbas_jax.core.beropt import loss_and_grad
    h0 = jax.tree_util.tree_map(lambda a: a[0], gen.features(jnp.asarray(z0)[None], layer))
    x0 = gen.generate(jnp.asarray(z0)[None])[0]
    logits = jnp.zeros(gen.layer_shape(layer))
    grad = compiler.jit(jax.vmap(lambda lg, k: loss_and_grad(lg, gen, h0, x0, layer, k, cfg), in_axes=(None, 0)))
    keys = jax.random.split(jax.random.key(5), 16)
    _, t16, _ = median_time(lambda r: grad(logits + r, keys), 3)
    return t16 / 16


def jax_beropt(gen, z0, layer, cfg, steps: int) -> dict:
    cfg = dataclasses.replace(cfg, ber_steps=steps, ber_tol=0.0)
    key = jax.random.key(0)
    run = lambda: gb.ber_opt(gen, z0, layer, cfg, key=key)  # noqa: E731
    first, _ = first_call(run)
    t, _, _ = measure(run, lambda: None)
    bound = _ber_step_bound(gen, z0, layer, cfg) * steps
    return dict(impl="jax", ber_s=t, ber_compile_s=max(first - t, 0.0), ber_steps=steps,
                ber_steps_per_s=steps / t, ber_bound_s=bound, ber_efficiency=bound / t)


def torch_beropt(impl: str, gen, z0, layer, cfg, steps: int, device="cpu", net=None) -> dict:
    from torch_mirror import batched_torch, reference_torch
    mod = reference_torch if impl == "reference_torch" else batched_torch
    net = _net(impl, gen, device) if net is None else net
    c = dataclasses.replace(cfg, ber_steps=steps, ber_tol=0.0, capacity=2, max_iterations=1)
    t, _, _ = measure(lambda: mod.run(gen, np.asarray(z0), layer, c, 0, device=device, net=net),
                      lambda: mod.run(gen, np.asarray(z0), layer, dataclasses.replace(c, ber_steps=3), 1,
                                      device=device, net=net), seconds=lambda o: o["ber_s"])
    return dict(impl=impl, ber_s=t, ber_steps=steps, ber_steps_per_s=steps / t)


def jax_batch(gen, z0s, layer, cfg) -> dict:
    key = jax.random.key(0)
    run = lambda: gb.egbas_batch(gen, z0s, layer, cfg, key=key)  # noqa: E731
    first, _ = first_call(run)
    t, res, _ = measure(run, lambda: None)
    stats = {}
    if jax.default_backend() != "cpu":
        try:
            stats = jax.devices()[0].memory_stats() or {}
        except Exception:  # noqa: BLE001 - not every backend reports
            stats = {}
    # Compute bound of the whole batch: every query's BerOpt steps and GB-RRT
    # iterations, each at its measured per-step / per-iteration work.
    steps, iters = np.asarray(res.ber_steps), np.asarray(res.tree.iterations)
    sizes = kept.plan(gen, layer, res.indicator, cfg.region_path)
    per_iter = _per_batch(_membership_fn(gen, layer, res.indicator[0], sizes), cfg.proposals, gen.latent_dim)
    bound = _ber_step_bound(gen, z0s[0], layer, cfg) * steps.sum() + per_iter * iters.sum()
    return dict(impl="jax", queries=int(z0s.shape[0]), batch_s=t, batch_compile_s=max(first - t, 0.0),
                queries_per_s=z0s.shape[0] / t, mean_samples=float(np.mean(np.asarray(res.tree.num_samples))),
                mean_ber_steps=float(steps.mean()), mean_iterations=float(iters.mean()), bound_s=bound,
                efficiency=bound / t, peak_device_bytes=stats.get("peak_bytes_in_use"))


def torch_batch(impl: str, gen, z0s, layer, cfg, device="cpu", beropt: str = "paper") -> dict:
    """The PyTorch way to run many queries: one after another.  ``beropt``:
    ``batched_torch``'s BerOpt variant (``"library"``: gbas-jax's algorithm)."""
    from torch_mirror import batched_torch, reference_torch
    mod = reference_torch if impl == "reference_torch" else batched_torch
    kw = {"beropt": beropt} if impl == "batched_torch" else {}
    net = _net(impl, gen, device)
    warm = lambda: mod.run(gen, np.asarray(z0s[0]), layer,  # noqa: E731
                           dataclasses.replace(cfg, ber_steps=3, ber_tol=0.0, capacity=8), 1,
                           device=device, net=net, **kw)
    run = lambda: [mod.run(gen, np.asarray(z0s[i]), layer, cfg, i, device=device, net=net,  # noqa: E731
                           **kw)["ber_steps"] for i in range(z0s.shape[0])]
    t, steps, _ = measure(run, warm)
    return dict(impl=impl, algorithm=beropt if impl == "batched_torch" else "paper", queries=int(z0s.shape[0]),
                batch_s=t, queries_per_s=z0s.shape[0] / t, mean_ber_steps=float(np.mean(steps)))


def kept_savings(gen, layer, V) -> dict:
    """Work of one candidate's region test: full layer vs kept units (MACs of layer
    ``l``'s linear map; time per candidate in batches of 32, including ``f_{l-1:1}``,
    whose share is ``prefix_us``)."""
    n = int(np.count_nonzero(V))
    out = dict(layer_units=gen.layer_size(layer), num_kept=n)
    if n == 0 or getattr(gen.model, "linear_map", None) is None:
        return out
    lm = gen.linear_map(layer)
    if lm is None:
        return out
    sizes = kept.plan(gen, layer, V, "kept")
    if lm.geometry is None:
        full_macs, kept_macs = lm.kernel.size, sizes[1] * lm.kernel.shape[0]
    else:
        pos, _ = kept.tap_table(lm.geometry)
        cin = lm.kernel.shape[2]
        full_macs = gen.layer_size(layer) * lm.geometry.computed_taps(jax.default_backend()) * cin
        kept_macs = sizes[1] * pos.shape[1] * cin * sizes[2]
    k = 32
    t_full = _per_batch(_membership_fn(gen, layer, V, None), k, gen.latent_dim) / k
    t_kept = _per_batch(_membership_fn(gen, layer, V, sizes), k, gen.latent_dim) / k
    t_prev = _per_batch(lambda z: gen.features(z, layer - 1), k, gen.latent_dim) / k if layer > 1 else 0.0
    return dict(out, sizes="x".join(map(str, sizes[1:])), full_macs=int(full_macs), kept_macs=int(kept_macs),
                mac_ratio=full_macs / kept_macs, full_us=t_full * 1e6, kept_us=t_kept * 1e6,
                prefix_us=t_prev * 1e6, time_ratio=t_full / t_kept)


# -- BerOpt: time to objective ---------------------------------------------------------

#: The plain BerOpt of Algorithm 1 as a user would write it (and as the library ran it
#: before it converged): Adam 0.1 with its usual betas, concrete masks at temperature
#: 0.1, 8 masks per step, theta from 0.9.  The PyTorch references always run this.
PLAIN = gb.EGBASConfig(ber_steps=300, ber_tol=0.0, ber_check=25, ber_window=25, ber_lr=0.1, ber_lr_decay=0.0,
                       ber_b1=0.9, ber_b2=0.999, ber_samples=8, temperature=0.1, ber_init=0.9)
TTO_CHECK = 10
TTO_KEY = jax.random.key(3)


def _objective_trace(gen, z0, layer, cfg, blocks):
    """``(j0, trace)``: ``J`` of the starting mask, and the lowest ``J`` found at a
    check after each block of ``cfg.ber_check`` steps (one compiled scan over the
    library's own ``init`` / ``step``, no early stop).  The starting mask is left
    out of the running minimum on purpose: both algorithms start from
    ``theta > p`` (every unit kept, ``J = lambda``), so counting it would let a
    target above ``lambda`` be "reached" before any step (the PGGAN 64x64 rows of
    the Dec 5 run).  A PyTorch reference stops at the first check with
    ``J <= target``, which is the same rule."""
    from gbas_jax.core import beropt

    @compiler.jit
    def trace(z0):
        h0 = gen.features(z0[None], layer)[0]
        x0 = gen.decode(h0[None], layer)[0]

        def body(s, _):
            s = beropt.step(s, gen, h0, x0, layer, TTO_KEY, cfg)
            return s, s.objective
        start = beropt.init(h0, x0, gen, layer, cfg)
        return start.objective, jax.lax.scan(body, start, None, length=blocks)[1]
    j0, checks = trace(jnp.asarray(z0))
    return float(j0), np.minimum.accumulate(np.asarray(checks))


def plain_target(gen, z0, layer, cap: int, changes=None) -> tuple:
    """``(target, trace)``: 1.03 x the lowest J that gbas-jax's plain BerOpt
    (:data:`PLAIN`, key :data:`TTO_KEY`) finds at a check in ``cap`` steps, and its
    trajectory (:func:`_objective_trace`, every :data:`TTO_CHECK` steps), for
    models the committed J* table does not cover."""
    cfg = PLAIN.replace(ber_tol=0.0, ber_check=TTO_CHECK, ber_window=TTO_CHECK, ber_steps=cap, **(changes or {}))
    trace = _objective_trace(gen, z0, layer, cfg, cap // TTO_CHECK)[1]
    return 1.03 * float(trace[-1]), trace


def jax_time_to_objective(gen, z0, layer, target, cap=3000, algorithm: str = "library", changes=None,
                          trace=None) -> dict:
    """Seconds for gbas-jax's BerOpt to reach ``J <= target``, checking J every 10
    steps (checks counted): the first step count that gets there is found on the
    trajectory (``trace``, if the caller has it), then a run of exactly that many
    steps is timed (:func:`benchmarks.common.measure`: the repeat policy of every
    implementation).  ``algorithm``: ``"library"`` (the defaults) or ``"paper"``
    (:data:`PLAIN`'s optimiser and masks, in gbas-jax: the algorithm's gain measured
    in one implementation); ``changes``: config fields set in both (``ber_lambda``)."""
    base = gb.EGBASConfig() if algorithm == "library" else PLAIN
    cfg = base.replace(ber_tol=0.0, ber_check=TTO_CHECK, ber_window=TTO_CHECK, **(changes or {}))
    if trace is None:
        trace = _objective_trace(gen, z0, layer, cfg.replace(ber_steps=cap), cap // TTO_CHECK)[1]
    hit = np.nonzero(np.asarray(trace) <= target)[0]
    steps = int((hit[0] + 1) * TTO_CHECK) if len(hit) else cap
    run = cfg.replace(ber_steps=steps)
    call = lambda: gb.ber_opt(gen, z0, layer, run, key=TTO_KEY, full_output=True)  # noqa: E731
    first, _ = first_call(call)
    t, res, n = measure(call, warmup=lambda: None)
    return dict(impl="jax", algorithm=algorithm, tto_s=t, tto_steps=steps, reached=bool(len(hit)),
                final_objective=float(res.objective), tto_compile_s=max(first - t, 0.0), timed_runs=n)


def _sync(device):
    if device != "cpu":
        import torch
        torch.cuda.synchronize()


def torch_time_to_objective(impl, gen, z0, layer, target, cap=3000, device="cpu", algorithm: str = "paper",
                            changes=None) -> dict:
    """The same for a PyTorch reference, under the same repeat policy (a short
    warm-up run, then :func:`benchmarks.common.measure`): ``algorithm="paper"`` runs
    the plain algorithm (:data:`PLAIN`); ``"library"`` (``batched_torch`` only)
    gbas-jax's own BerOpt (``batched_torch.ber_opt_library``, J checked every 10
    steps as above): the same algorithm in both implementations."""
    import torch

    from torch_mirror import batched_torch, reference_torch
    if algorithm == "library" and impl != "batched_torch":
        raise ValueError("the library's BerOpt is in batched_torch only")
    mod = reference_torch if impl == "reference_torch" else batched_torch
    net = _net(impl, gen, device)
    z0t = torch.tensor(np.asarray(z0, np.float32), device=device)

    def gen_(seed=3):
        g = torch.Generator(device=device)
        g.manual_seed(seed)
        return g
    if algorithm == "library":
        cfg = gb.EGBASConfig(ber_tol=0.0, ber_check=TTO_CHECK, ber_window=TTO_CHECK, ber_steps=cap,
                             **(changes or {}))
        fn = lambda c, **kw: batched_torch.ber_opt_library(net, z0t, layer, c, gen_(), **kw)  # noqa: E731
        warm = cfg.replace(ber_steps=TTO_CHECK)
        kw = {"target": target}
    else:
        cfg = PLAIN.replace(ber_steps=cap, **(changes or {}))
        fn = lambda c, **kw: mod.ber_opt(net, z0t, layer, c, gen_(), **kw)  # noqa: E731
        warm = cfg.replace(ber_steps=3)
        kw = {"target": target, "check_every": TTO_CHECK}

    def run():
        out = fn(cfg, **kw)
        _sync(device)
        return out
    t, out, n = measure(run, warmup=lambda: fn(warm))
    return dict(impl=impl, algorithm=algorithm, tto_s=t, tto_steps=out["steps"], reached=out["reached"],
                final_objective=out["objective"], timed_runs=n)
