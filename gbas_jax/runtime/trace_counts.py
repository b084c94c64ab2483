"""Trace counters: each program bumps its counter when (and only when) it is
traced, so tests can check that a repeated call does not recompile."""

from __future__ import annotations

import collections

TRACE_COUNTS: "collections.Counter[str]" = collections.Counter()


def traced(name: str) -> None:
    TRACE_COUNTS[name] += 1
