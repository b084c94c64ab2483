"""Quick start: the library API on the shipped DCGAN-MNIST (``gbas-jax sample``
does the same and more from the command line).  Usage::

    python examples/quickstart.py [--layer 2] [--out out/quickstart]
"""

import argparse
import json
import os
import time

import jax
import numpy as np

import gbas_jax as gb


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/quickstart")
    args = ap.parse_args()

    key = jax.random.key(args.seed)
    k_query, k_run, k_l2, k_linf = jax.random.split(key, 4)
    gen = gb.load_pretrained("dcgan-mnist")
    z0 = jax.random.normal(k_query, (gen.latent_dim,))
    cfg = gb.EGBASConfig()
    layer = args.layer
    t0 = time.perf_counter()
    try:
        res = jax.block_until_ready(gb.egbas(gen, z0, layer, cfg, key=k_run))
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = jax.block_until_ready(gb.egbas(gen, z0, layer, cfg, key=k_run))
    t_run = time.perf_counter() - t0

    samples = res.tree.accepted()
    n = len(samples)
    eps_l2, eps_linf = gb.baselines.calibrate(res)
    z_l2 = gb.baselines.sample_l2_ball(z0, eps_l2, n, key=k_l2)
    z_linf = gb.baselines.sample_linf_ball(z0, eps_linf, n, key=k_linf)
    imgs = {name: np.asarray(gen.generate(z)) for name, z in
            (("query", z0[None]), ("E-GBAS", samples), ("eps-L2", z_l2), ("eps-Linf", z_linf))}
    summary = {
        "model": "dcgan-mnist", "layer": layer, "units": gen.layer_size(layer),
        "kept_boundaries": int(res.num_kept), "ber_steps": int(res.ber_steps),
        "ber_converged": bool(res.ber_converged), "ber_objective": float(res.objective),
        "kept_error": float(res.kept_error), "samples": n, "proposals": int(res.tree.num_proposals),
        "acceptance_rate": (n - 1) / max(1, int(res.tree.num_proposals)),
        "rejected": int(res.tree.num_rejected), "stop_reason": res.tree.stop().name.lower(),
        "eps_l2": eps_l2, "eps_linf": eps_linf,
        "image_variation": {k: float(gb.metrics.image_variation(v)) for k, v in imgs.items() if k != "query"},
        "seconds_first_call_with_compile": round(t_first, 3), "seconds_second_call": round(t_run, 3),
    }
    os.makedirs(args.out, exist_ok=True)
    pic = gb.viz.labelled_rows([imgs["query"], imgs["eps-L2"], imgs["eps-Linf"], imgs["E-GBAS"]],
                               ["query", "eps-L2", "eps-Linf", "E-GBAS"], ncol=10)
    gb.viz.save_png(pic, os.path.join(args.out, "samples.png"))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"settings": {"seed": args.seed, **cfg.__dict__}, **summary}, f, indent=2)
    width = max(len(k) for k in summary)
    for k, v in summary.items():
        print(f"{k:<{width}}  {v}")
    print(f"wrote {args.out}/samples.png and {args.out}/summary.json")


if __name__ == "__main__":
    main()
