"""Pure functions over the records of ``python -m benchmarks`` (``results.json``):
the rows the report and the generated pages (:mod:`benchmarks.pages`) print, so
that both say the same thing."""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional


def _median(xs) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def side_by_side(records: List[dict]) -> List[dict]:
    """One row per (model, layer) with both questions (issue 24):

    * ``rrt_a``: GB-RRT candidates tested per second, gbas-jax over batched PyTorch,
      K = 32, N = 500 (the layer sweep; the same algorithm);
    * ``tto_a``: BerOpt time to objective, batched PyTorch over gbas-jax, both
      running the library's BerOpt (median over the queries; ``tto_a_lower``: some
      query's PyTorch run never reached the target, so the ratio is a lower bound;
      ``tto_a_at_cap``: neither reached it, and the ratio is of the same steps);
    * ``tto_b``: gbas-jax's plain BerOpt time over its library BerOpt time to the
      same target (median over queries; ``tto_b_lower`` / ``tto_b_upper``: the plain /
      the library run of some query never reached it);
    * ``rrt_b``: gbas-jax's accepted samples per second with K = 32 over K = 1 (the
      paper's one proposal per iteration).
    """
    rows: Dict[tuple, dict] = {}

    def row(r):
        return rows.setdefault((r["model"], r["layer"]), {"model": r["model"], "layer": r["layer"]})
    for r in records:
        if r.get("impl") != "jax":
            continue
        if r["kind"] == "rrt" and r.get("group") == "layer":
            if r["proposals"] != 1:
                row(r)["rrt_a"] = r.get("speedup_vs_batched_torch")
                row(r)["rrt_a_accepted"] = r.get("accepted_speedup_vs_batched_torch")
                row(r)["rrt_b"] = r.get("gain_vs_one_proposal")
                row(r)["proposals"] = r["proposals"]
        elif r["kind"] == "tto" and r.get("algorithm") == "library":
            row(r).setdefault("_tto", []).append(r)
    for v in rows.values():
        tto = v.pop("_tto", [])
        v["queries"] = len(tto)
        v["tto_a"] = _median(r.get("speedup_vs_batched_torch") for r in tto)
        v["tto_a_lower"] = any(r.get("speedup_vs_batched_torch_is_lower_bound") for r in tto)
        v["tto_a_at_cap"] = any(r.get("speedup_vs_batched_torch_at_cap") for r in tto)
        v["tto_b"] = _median(r.get("algorithm_gain") for r in tto)
        v["tto_b_lower"] = any(r.get("algorithm_gain_is_lower_bound") for r in tto)
        v["tto_b_upper"] = any(r.get("algorithm_gain_is_upper_bound") for r in tto)
        v["tto_s"] = _median(r.get("tto_s") for r in tto)
        v["plain_steps"] = tto[0].get("plain_steps") if tto else None
    order = {"dcgan-mnist": 0, "dcgan64": 1, "pggan64": 2}
    return sorted(rows.values(), key=lambda v: (order.get(v["model"], 9), v["model"], v["layer"]))


def below_one(records: List[dict]) -> List[dict]:
    """gbas-jax records whose same-algorithm ratio against batched PyTorch is below 1
    (the points the performance page must explain)."""
    out = []
    for r in records:
        if r.get("impl") != "jax" or r.get("speedup_vs_batched_torch") is None:
            continue
        same = r["kind"] in ("rrt", "beropt") or r.get("vs_batched_torch_algorithm") == r.get("algorithm")
        if same and r["speedup_vs_batched_torch"] < 1.0:
            out.append(r)
    return out
