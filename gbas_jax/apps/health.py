"""The health of a run, as data: what a job checks in its result before it calls
the run a success.

A :class:`Problem` is either *fatal* (the result is unusable: no boundary was kept,
or the tree holds fewer than two samples) or a warning (the result is usable but
incomplete or approximate).  Jobs store the list in their record, print one line
per problem on stderr, and the command line exits with status 3 on a fatal one
unless ``--allow-incomplete`` (docs/cli.md).
"""

from __future__ import annotations

from typing import List, NamedTuple

from ..core.results import EGBASResult, StopReason


class Problem(NamedTuple):
    code: str        # stable identifier, e.g. "max_iterations"
    message: str     # one line for people
    fatal: bool      # True: the result is unusable

    def as_dict(self) -> dict:
        return self._asdict()


def egbas_problems(res: EGBASResult, calibration=None) -> List[Problem]:
    """Problems of one query's E-GBAS result (and of its baseline calibration, a
    :class:`~gbas_jax.core.baselines.CalibrationInfo`, when given)."""
    out = []
    units, kept = int(res.indicator.shape[-1]), int(res.num_kept)
    tree = res.tree
    n, cap = int(tree.num_samples), int(tree.samples.shape[0])
    if kept == 0:
        out.append(Problem("no_kept_boundaries",
                           f"BerOpt kept 0 of {units} boundaries, so the region is the whole latent space "
                           "(lower --ber-lambda)", True))
    if n < 2:
        out.append(Problem("too_few_samples",
                           f"GB-RRT found {n} sample(s) in {int(tree.num_proposals)} proposals: the region is "
                           "too small for the step (lower --step-size or --interval)", True))
    if not bool(res.ber_converged):
        out.append(Problem("ber_not_converged",
                           f"BerOpt stopped at its cap of {int(res.ber_steps)} steps before it converged "
                           "(raise --ber-steps; the kept boundaries may still change)", False))
    if tree.stop() == StopReason.MAX_ITERATIONS and n >= 2:
        out.append(Problem("max_iterations",
                           f"GB-RRT stopped at max_iterations with {n} of {cap} samples "
                           "(raise --max-iterations or lower --step-size)", False))
    if bool(tree.rejected_overflow):
        m = int(tree.rejected.shape[0])
        out.append(Problem("rejected_overflow",
                           f"{int(tree.num_rejected)} candidates were rejected and the first {m} are stored (the "
                           "calibration of the baselines used all of them; raise --reject-capacity to store all)",
                           False))
    if calibration is not None and calibration.fallback:
        out.append(Problem("calibration_fallback",
                           "nothing was rejected, so eps_L2 is the largest distance from the sample mean to a "
                           "sample (the paper's calibration needs rejections)", False))
    return out


def as_records(problems: List[Problem]) -> List[dict]:
    return [p.as_dict() for p in problems]


def is_fatal(problems) -> bool:
    """True if any problem (objects or their dict records) is fatal."""
    return any((p.fatal if isinstance(p, Problem) else p["fatal"]) for p in problems)
