"""Find the generator (and discriminator) inside a training snapshot.

Training scripts rarely save a bare generator state dict.  The PyTorch DCGAN
tutorial saves ``{"netG_state_dict", "netD_state_dict", "optimizerG_state_dict",
"epoch", ...}``; Lightning saves ``{"state_dict": {"generator.main.0.weight",
...}, "hyper_parameters", "optimizer_states", ...}``; pytorch_GAN_zoo
``{"config", "netG", "netD", "avgG"}``; others nest them under ``models`` with
DistributedDataParallel's ``module.`` prefix.  :func:`find_networks` walks the
object and lists every *candidate*: a dict of arrays (a state dict) under a
path of dict keys, split further where its keys share a network-named first
component (``generator.``, ``netD.``); ``module.`` / ``_orig_mod.`` prefixes
shared by all keys are dropped.  Optimiser and scheduler states are never
candidates.

A candidate's role comes from its name (its last path component, with
``_state_dict`` / ``state_dict`` removed, case-folded):

* the moving-average generator: ``g_ema``, ``avgG``, ``generator_smooth``,
  ``G_ema``, ``ema``, ... -- preferred where a plain one is also present;
* a generator: ``g``, ``netG``, ``generator``, ``gen``, ...;
* a discriminator: ``d``, ``netD``, ``discriminator``, ``critic``, ...;
* anything else is a generator candidate only if no named one exists.

``key`` / ``discriminator_key`` (``--key`` / ``--discriminator-key``) choose a
candidate by its path (``state_dict/generator``) or by its last component
when that is unique.  Two candidates of the same rank without a key is an
error listing them.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .torch_pickle import CheckpointError, Record

EMA_NAMES = frozenset({"g_ema", "avgg", "generator_smooth", "g_smooth", "ema", "g_running", "netg_ema",
                       "generator_ema", "gen_ema", "g_avg", "ema_g", "avg_g", "g_ema_state", "model_ema",
                       "ema_generator", "generator_avg", "shadow"})
GENERATOR_NAMES = frozenset({"g", "netg", "generator", "gen", "g_net", "gnet", "model_g", "modelg", "generator_model",
                             "net_g", "g_model"})
DISCRIMINATOR_NAMES = frozenset({"d", "netd", "discriminator", "disc", "critic", "d_net", "dnet", "model_d", "modeld",
                                 "discriminator_model", "net_d", "d_model"})
_SKIP_HINTS = ("optim", "sched", "scaler", "opt_", "_opt")
_WRAPPERS = ("module", "_orig_mod")

RANK_EMA, RANK_NAMED, RANK_UNNAMED = 2, 1, 0


def _role(path: str) -> str:
    """``"ema"``, ``"generator"``, ``"discriminator"`` or ``"other"``."""
    name = path.rsplit("/", 1)[-1].lower()
    for suffix in ("_state_dict", "state_dict", "_sd", "_weights", "_params"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if name in EMA_NAMES:
        return "ema"
    if name in GENERATOR_NAMES:
        return "generator"
    if name in DISCRIMINATOR_NAMES:
        return "discriminator"
    return "other"


def _is_state_dict(obj) -> bool:
    return (isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj)
            and all(isinstance(v, np.ndarray) for v in obj.values()))


def _mostly_arrays(d: dict) -> bool:
    arrays = sum(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in d.items())
    return arrays >= 2 and 2 * arrays > len(d) and not any(isinstance(v, dict) for v in d.values())


def _unwrap(sd: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    while True:
        heads = {k.split(".", 1)[0] for k in sd}
        if len(heads) == 1 and heads.pop() in _WRAPPERS and all("." in k for k in sd):
            sd = {k.split(".", 1)[1]: v for k, v in sd.items()}
        else:
            return sd


def _is_optimiser(name: str, obj) -> bool:
    low = name.lower()
    return any(h in low for h in _SKIP_HINTS) or (isinstance(obj, dict) and "param_groups" in obj)


class Candidate(NamedTuple):
    path: str
    state_dict: Dict[str, np.ndarray]
    role: str


def candidates(obj) -> Tuple[List[Candidate], List[str]]:
    """``(candidates, skipped)``: every state dict in ``obj`` with its path and
    role, and the paths of entries that are not (optimiser states, counters,
    hyper-parameters, prefix groups of other modules)."""
    found: List[Candidate] = []
    skipped: List[str] = []

    def flat(sd, path):
        sd = _unwrap(sd)
        groups: Dict[str, Dict[str, np.ndarray]] = {}
        for k, v in sd.items():
            head, _, rest = k.partition(".")
            groups.setdefault(head, {})[rest or head] = v
        named = [h for h in groups if _role(h) != "other"]
        if not named:
            found.append(Candidate(path, sd, _role(path) if path else "other"))
            return
        for head, sub in groups.items():
            sub_path = f"{path}/{head}" if path else head
            if head in named:
                flat(sub, sub_path)
            else:
                skipped.append(sub_path)

    def walk(o, path, depth):
        if _is_state_dict(o):
            flat(o, path)
        elif isinstance(o, dict) and _mostly_arrays(o):
            # weights saved with a few extras at the same level ({**sd, "epoch": 5})
            flat({k: v for k, v in o.items() if isinstance(v, np.ndarray)}, path)
            skipped.extend(f"{path}/{k}" if path else str(k) for k, v in o.items() if not isinstance(v, np.ndarray))
        elif isinstance(o, dict) and depth < 6:
            for k, v in o.items():
                sub = f"{path}/{k}" if path else str(k)
                if _is_optimiser(str(k), v) or not isinstance(v, dict):
                    skipped.append(sub)
                else:
                    walk(v, sub, depth + 1)
        elif path:
            skipped.append(path)

    if isinstance(obj, Record) or not isinstance(obj, dict):
        raise CheckpointError(f"unrecognised checkpoint contents: a {type(obj).__name__}, not a dict")
    walk(obj, "", 0)
    return found, skipped


def _choose(cands: List[Candidate], key: str, what: str) -> Candidate:
    hits = [c for c in cands if c.path == key] or [c for c in cands if c.path.rsplit("/", 1)[-1] == key]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(c.path for c in cands) or "none"
    if not hits:
        raise CheckpointError(f"{what} {key!r}: no such state dict in the file (candidates: {listing})")
    raise CheckpointError(f"{what} {key!r} matches {', '.join(c.path for c in hits)}: give the full path")


class Found(NamedTuple):
    """What :func:`find_networks` took: state dicts, their paths, the sibling
    ``config`` entry (pytorch_GAN_zoo), and the paths it skipped."""
    generator: Dict[str, np.ndarray]
    discriminator: Optional[Dict[str, np.ndarray]]
    config: Any
    generator_path: str
    discriminator_path: Optional[str]
    skipped: List[str]

    def message(self) -> str:
        took = f"took {self.generator_path or '(the whole file)'} as the generator"
        if self.discriminator_path is not None:
            took += f" and {self.discriminator_path} as the discriminator"
        return took + (f"; skipped {', '.join(self.skipped)}" if self.skipped else "")


def _coarsest(path: str, taken) -> str:
    """The shortest prefix of ``path`` holding nothing that was taken (a whole
    ``loops`` entry rather than each of its leaves)."""
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        head = "/".join(parts[:i])
        if not any(t == head or t.startswith(head + "/") for t in taken):
            return head
    return path


def _ambiguous(cands: List[Candidate], what: str, flag: str) -> CheckpointError:
    return CheckpointError(f"the file holds {len(cands)} {what} candidates ({', '.join(c.path for c in cands)}): "
                           f"choose one with {flag} NAME")


def find_networks(obj, key: Optional[str] = None, discriminator_key: Optional[str] = None,
                  detect=None) -> Found:
    """The generator and discriminator state dicts of a checkpoint object.

    ``detect(state_dict) -> layout`` (raising :class:`CheckpointError` for an
    unknown one) decides whether an unnamed state dict is a network at all.
    """
    cands, skipped = candidates(obj)
    if not cands:
        top = sorted(map(str, obj))[:6]
        raise CheckpointError(f"unrecognised checkpoint contents: no state dict of arrays in {top}")

    def known(c):
        if detect is None:
            return True
        try:
            detect(c.state_dict)
            return True
        except CheckpointError:
            return False

    if key is not None:
        gen = _choose(cands, key, "--key")
    else:
        for rank in ("ema", "generator"):
            ranked = [c for c in cands if c.role == rank]
            if len(ranked) > 1:
                raise _ambiguous(ranked, "generator", "--key")
            if ranked:
                gen = ranked[0]
                break
        else:
            others = [c for c in cands if c.role == "other"]
            usable = [c for c in others if known(c)] or others
            if len(usable) > 1:
                raise _ambiguous(usable, "generator", "--key")
            if not usable:
                names = ", ".join(c.path for c in cands)
                raise CheckpointError(f"no generator in the file: only discriminator state dicts ({names}); "
                                      "choose one with --key NAME if it is a generator")
            gen = usable[0]
    rest = [c for c in cands if c is not gen]
    disc = None
    if discriminator_key is not None:
        disc = _choose(rest, discriminator_key, "--discriminator-key")
    else:
        named = [c for c in rest if c.role == "discriminator"]
        if len(named) > 1:
            raise _ambiguous(named, "discriminator", "--discriminator-key")
        disc = named[0] if named else None
    taken = {gen.path} | ({disc.path} if disc is not None else set())
    skipped = sorted({_coarsest(p, taken) for p in set(skipped) | {c.path for c in rest if c.path not in taken}})
    config = None
    parent = gen.path.rsplit("/", 1)[0] if "/" in gen.path else ""
    holder = obj
    for part in filter(None, parent.split("/")):
        holder = holder.get(part) if isinstance(holder, dict) else None
    if isinstance(holder, dict) and "config" in holder:
        config = holder["config"]
    return Found(gen.state_dict, None if disc is None else disc.state_dict, config, gen.path,
                 None if disc is None else disc.path, skipped)


__all__ = ["Candidate", "Found", "candidates", "find_networks", "EMA_NAMES", "GENERATOR_NAMES",
           "DISCRIMINATOR_NAMES"]
