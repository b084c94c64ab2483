"""``gbas-jax sample-many`` and ``gbas-jax merge``: many queries, optionally over
several hosts (:mod:`gbas_jax.parallel.multihost`); each process writes its share
as a part file, ``merge`` joins the parts.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import time
from typing import Optional, Union

import jax
import numpy as np

from ..io.atomic import atomic_file
from ..io.checkpoint import Model, ModelFolder, load_model
from ..io.outputs import OutputError, stamp
from ..models import views
from ..parallel.batch import egbas_batch_keys
from ..parallel.multihost import connect, host_share
from . import settings


def part_paths(out: str, process: int):
    stem = os.path.join(out, f"part-{process:05d}")
    return stem + ".npz", stem + ".json"


def run_share(model: Union[str, ModelFolder, Model], layer: int, cfg, queries: int, seed: int, out: str,
              coordinator: Optional[str] = None, num_processes: Optional[int] = None,
              process_id: Optional[int] = None, overwrite: bool = False, progress: bool = True, *,
              space: Optional[str] = None, label: Optional[int] = None) -> dict:
    """This process's share of a multi-host run; writes ``out/part-PPPPP.npz`` and
    ``.json``.  Refuses (``OutputError``) to replace this process's existing part
    files unless ``overwrite``; other files in ``out`` are never touched.

    ``model``: a :class:`~gbas_jax.io.checkpoint.ModelFolder` (or name), whose weights
    are read after the processes connect (``jax.distributed.initialize`` must come
    before JAX starts a backend), or an already loaded model for a one-process run.
    ``cfg``: as :func:`~gbas_jax.apps.settings.for_job`."""
    from tqdm.auto import tqdm

    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(out, "exists and is not a folder")
    if process_id is not None:           # known before start-up: check before connecting
        _check_part(out, process_id, overwrite)
    p, n = connect(coordinator, num_processes, process_id)
    _check_part(out, p, overwrite)
    with tqdm(total=3, desc=f"sample-many (process {p} of {n})", disable=not progress) as bar:
        model = load_model(model, discriminator=False)
        st = settings.for_job(model.folder, cfg, space)
        cfg, gen = st.config, views.view(model.generator, space=space, label=label)
        z0s = views.seeded_queries(gen, seed, queries)
        keys = jax.random.split(jax.random.key(seed + 1), queries)
        share = host_share(queries, p, n)
        rows = list(range(queries))[share]
        bar.update(1)
        bar.set_postfix_str(f"E-GBAS on {len(rows)} queries (incl. compile)")
        t0 = time.perf_counter()
        part = {"indices": np.asarray(rows, np.int64)}
        counts = {}
        if rows:
            res = jax.block_until_ready(egbas_batch_keys(gen, z0s[share], layer, cfg, keys[share]))
            part.update(samples=np.asarray(res.tree.samples), num_samples=np.asarray(res.tree.num_samples),
                        indicator=np.asarray(res.indicator, np.int8), theta=np.asarray(res.theta, np.float32),
                        num_kept=np.asarray(res.num_kept),
                        parents=np.asarray(res.tree.parents), num_rejected=np.asarray(res.tree.num_rejected))
            counts = {"no_kept_boundaries": int(np.sum(part["num_kept"] == 0)),
                      "too_few_samples": int(np.sum(part["num_samples"] < 2)),
                      "max_iterations": int(np.sum(np.asarray(res.tree.stop_reason) != 0))}
        seconds = time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix_str("write")
        npz, meta = part_paths(out, p)
        with atomic_file(npz) as tmp:
            np.savez(tmp, **part)
        rec = {**stamp("sample-many"), "process": p, "processes": n, "queries": queries,
               "share": [share.start, share.stop], "model": model.name, **views.record(gen), "layer": layer, "seed": seed,
               "config": dataclasses.asdict(cfg), "settings": st.as_record(),
               "local_devices": [str(d) for d in jax.local_devices()], "seconds": seconds,
               "samples": int(np.sum(part.get("num_samples", 0))),
               "problems": _share_problems(counts, len(rows)), "files": [npz, meta]}
        _write_json(meta, rec)
        bar.update(1)
    return rec


def _check_part(out, process, overwrite):
    for path in part_paths(out, process):
        if os.path.exists(path) and not overwrite:
            raise OutputError(path, "exists (an earlier sample-many run)", hint="overwrite")


def _share_problems(counts, n):
    words = {"no_kept_boundaries": "kept no boundary", "too_few_samples": "have fewer than 2 samples",
             "max_iterations": "stopped at max_iterations before the tree was full"}
    out = []
    for code, k in counts.items():
        if k:
            fatal = code != "max_iterations" and k == n     # unusable only if every query is
            out.append({"code": code, "message": f"{k} of {n} queries {words[code]}", "fatal": fatal})
    return out


def share_summary(rec: dict) -> str:
    return (f"process {rec['process']} of {rec['processes']}: queries {rec['share'][0]}..{rec['share'][1] - 1} "
            f"of {rec['queries']}, {rec['samples']} samples in {rec['seconds']:.2f} s (layer {rec['layer']}, "
            f"model {rec['model']})")


def merge_summary(rec: dict) -> str:
    return (f"merged {rec['processes']} part(s): {rec['queries']} queries, {rec['samples']} samples "
            f"(parts kept)")


def _write_json(path, obj):
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=1)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def merge(out: str) -> dict:
    """Join the parts of ``out`` into ``out/merged.npz`` (rows in query order)."""
    if not os.path.isdir(out):
        raise ValueError(f"{out}: no such folder")
    metas = [_read_json(f) for f in sorted(glob.glob(os.path.join(out, "part-*.json")))]
    if not metas:
        raise ValueError(f"{out}: no part files (part-*.json) to merge")
    n, q = metas[0]["processes"], metas[0]["queries"]
    found = sorted(m["process"] for m in metas)
    if found != list(range(n)):
        raise ValueError(f"{out!r}: expected parts 0..{n - 1}, found {found}")
    parts = []
    for p in range(n):
        with np.load(os.path.join(out, f"part-{p:05d}.npz")) as x:
            if len(x["indices"]):
                parts.append(dict(x))
    merged = {k: np.concatenate([x[k] for x in parts]) for k in parts[0]}
    if not np.array_equal(merged["indices"], np.arange(q)):
        raise ValueError(f"{out!r}: parts do not cover queries 0..{q - 1} once each")
    with atomic_file(os.path.join(out, "merged.npz")) as tmp:
        np.savez(tmp, **merged)
    rec = {**stamp("merge"), "queries": q, "processes": n, "samples": int(merged["num_samples"].sum()),
           "seconds_per_process": [m["seconds"] for m in sorted(metas, key=lambda m: m["process"])]}
    _write_json(os.path.join(out, "merged.json"), rec)
    return rec
