"""benchmarks.common (the one timer, repeat policy and machine record), the
summaries the report and the pages print (benchmarks.summary), and the one
``python -m benchmarks STUDY`` entry."""

import importlib
import statistics

import pytest

from benchmarks import __main__ as entry
from benchmarks import common, summary

pytestmark = pytest.mark.fast


class _Clock:
    """A fake ``time.perf_counter`` whose runs take the durations given."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        monkeypatch.setattr(common.time, "perf_counter", lambda: self.now)


def test_measure_times_a_long_run_once_and_a_short_one_three_times(monkeypatch):
    clock = _Clock(monkeypatch)
    calls = {"warm": 0, "run": 0}
    durations = iter([2.0, 5.0, 5.0])

    def run():
        calls["run"] += 1
        clock.now += next(durations)
        return "out"
    t, out, n = common.measure(run, warmup=lambda: calls.__setitem__("warm", calls["warm"] + 1))
    assert (t, out, n) == (2.0, "out", 1) and calls == {"warm": 1, "run": 1}

    short = iter([0.3, 0.1, 0.2])

    def run_short():
        clock.now += next(short)
        return 7
    t, out, n = common.measure(run_short, warmup=lambda: None)
    assert n == 3 and out == 7 and t == pytest.approx(statistics.median([0.3, 0.1, 0.2]))


def _calls(clock, order, name, durations):
    it = iter(durations)

    def call():
        order.append(name)
        clock.now += next(it)
        return name
    return call


def test_settle_calls_for_warm_s_or_once_when_a_call_is_that_long(monkeypatch):
    clock, order = _Clock(monkeypatch), []
    out, once = common.settle(_calls(clock, order, "s", [0.1] * 10), min_s=0.25)
    assert (out, once, len(order)) == ("s", None, 3)        # 0.1, 0.2, 0.3 s: warm
    out, once = common.settle(_calls(clock, order, "l", [0.4, 9.0]), min_s=0.25)
    assert (out, once, order.count("l")) == ("l", 0.4, 1)   # one long call, its time kept


def test_interleaved_medians_take_turns_in_blocks_each_after_a_warm_up(monkeypatch):
    clock, order = _Clock(monkeypatch), []
    w = [0.1, 0.1, 0.1]                                     # one settle of WARM_S = 0.25
    a = _calls(clock, order, "a", [9.0] + w + [1.0, 3.0] + w + [2.0])
    b = _calls(clock, order, "b", [9.0] + w + [5.0, 4.0] + w + [6.0])
    t = common.interleaved_medians({"a": a, "b": b}, 3, block=2)
    assert order == ["a", "b"] + ["a"] * 5 + ["b"] * 5 + ["a"] * 4 + ["b"] * 4
    assert t == {"a": 2.0, "b": 5.0}                      # warm-ups and first calls not timed


def test_interleaved_medians_time_a_long_call_once_per_turn(monkeypatch):
    clock, order = _Clock(monkeypatch), []
    t = common.interleaved_medians({"a": _calls(clock, order, "a", [9.0, 1.0, 3.0, 2.0]),
                                    "b": _calls(clock, order, "b", [9.0, 5.0, 4.0, 6.0])}, 3)
    assert order == ["a", "b"] * 4 and t == {"a": 2.0, "b": 5.0}


def test_measure_warms_up_with_the_run_itself_by_default(monkeypatch):
    clock = _Clock(monkeypatch)
    seen = []

    def run():
        seen.append(clock.now)
        clock.now += 1.5
    t, _, n = common.measure(run)
    assert len(seen) == 2 and n == 1 and t == 1.5


def test_measure_settles_short_runs_before_timing_them(monkeypatch):
    clock, order = _Clock(monkeypatch), []
    t, out, n = common.measure(_calls(clock, order, "r", [0.1] * 3 + [0.05, 0.07, 0.06]), warmup=lambda: None)
    assert (n, out, len(order)) == (3, "r", 6) and t == pytest.approx(0.06)


def test_measure_can_take_times_from_the_output(monkeypatch):
    clock = _Clock(monkeypatch)
    own = iter([0.5, 0.2, 0.4])

    def run():
        clock.now += 1.0                                   # set-up the run times itself without
        return {"s": next(own)}
    t, _, n = common.measure(run, warmup=lambda: None, seconds=lambda o: o["s"])
    assert n == 3 and t == pytest.approx(0.4)


def test_timed_calls_first_warm_up_then_repeats_with_their_index(monkeypatch):
    clock = _Clock(monkeypatch)
    got = []

    def fn(r):
        got.append(r)
        clock.now += 3.0 if r == 0 else 1.0 + r
        return r
    first, times, out = common.timed(fn, 3)
    # one long warm-up call of fn(0), untimed
    assert got == [0, 0, 1, 2, 3] and first == 3.0 and times == [2.0, 3.0, 4.0] and out == 3
    got.clear()
    assert common.timed(fn, 0) == (3.0, [], 0) and got == [0]       # one call, no warm-up

    got.clear()

    def short(r):
        got.append(r)
        clock.now += 0.1
        return r
    first, times, out = common.timed(short, 2)
    assert got == [0, 0, 0, 0, 1, 2] and times == pytest.approx([0.1, 0.1]) and out == 2

    def tick(r):
        clock.now += 0.3
        return r
    assert common.median_time(tick, 1) == (pytest.approx(0.3), pytest.approx(0.3), 1)


def test_record_header_names_command_commit_and_machine():
    h = common.record_header("python -m benchmarks x")
    assert h["command"] == "python -m benchmarks x"
    assert h["git_commit"] is None or len(h["git_commit"].split("+")[0]) == 40
    m = h["machine"]
    assert m["cpus"] >= 1 and m["jax"] and m["backend"] == "cpu" and m["device_kind"]


def test_write_json_is_whole_or_nothing(tmp_path):
    p = tmp_path / "r.json"
    common.write_json(str(p), {"a": 1})
    with pytest.raises(TypeError):
        common.write_json(str(p), {"a": object()})
    assert p.read_text().replace(" ", "").replace("\n", "") == '{"a":1}'


def _rrt(model, layer, k, speed=None, acc=None, gain=None, impl="jax"):
    return dict(kind="rrt", group="layer", model=model, layer=layer, proposals=k, impl=impl,
                speedup_vs_batched_torch=speed, accepted_speedup_vs_batched_torch=acc, gain_vs_one_proposal=gain)


def _tto(model, layer, q, speed, gain, lower=False):
    return dict(kind="tto", group="targets", model=model, layer=layer, query=q, impl="jax", algorithm="library",
                speedup_vs_batched_torch=speed, speedup_vs_batched_torch_is_lower_bound=lower,
                algorithm_gain=gain, tto_s=0.1 * q, plain_steps=3000, vs_batched_torch_algorithm="library")


def test_side_by_side_takes_medians_over_queries_and_keeps_both_questions():
    recs = [_rrt("pggan64", 1, 32, 1.5, 1.4, 2.0), _rrt("pggan64", 1, 1, gain=1.0),
            _rrt("pggan64", 1, 32, impl="batched_torch"),
            _tto("dcgan-mnist", 2, 0, 2.0, 40.0), _tto("dcgan-mnist", 2, 1, 4.0, 60.0, lower=True),
            _tto("dcgan-mnist", 2, 2, 3.0, 50.0), _rrt("dcgan-mnist", 2, 32, 0.9, 0.8, 2.5)]
    rows = summary.side_by_side(recs)
    assert [(r["model"], r["layer"]) for r in rows] == [("dcgan-mnist", 2), ("pggan64", 1)]
    d, p = rows
    assert d["tto_a"] == 3.0 and d["tto_b"] == 50.0 and d["tto_a_lower"] and d["queries"] == 3
    assert d["rrt_a"] == 0.9 and d["rrt_b"] == 2.5 and d["tto_s"] == pytest.approx(0.1)
    assert p["rrt_a"] == 1.5 and p["rrt_b"] == 2.0 and p["tto_a"] is None and p["queries"] == 0
    below = summary.below_one(recs)
    assert [(r["model"], r["kind"]) for r in below] == [("dcgan-mnist", "rrt")]


def test_the_entry_lists_and_dispatches_every_study(capsys):
    assert entry.main(["list"]) == 0
    out = capsys.readouterr().out
    for name, mod in entry.STUDIES.items():
        assert name in out
        m = importlib.import_module(f"benchmarks.{mod}")
        assert callable(m.main) and callable(m.parser), mod
        if mod != "pages":
            assert callable(m.run), mod
    assert entry.main(["no-such-study"]) == 2
    assert "unknown study" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        entry.main(["convert-time", "--help"])
    assert e.value.code == 0 and "python -m benchmarks convert-time" in capsys.readouterr().out


def test_steady_malloc_sets_glibc_thresholds_once_and_records_them(monkeypatch):
    import platform
    monkeypatch.setattr(common, "_MALLOC", None)
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        assert common.steady_malloc() is None and common.machine()["malloc"] is None
        return
    got = common.steady_malloc()
    assert got == {"trim_bytes": common.MALLOC_TRIM_BYTES, "mmap_bytes": common.MALLOC_MMAP_BYTES}
    assert common.steady_malloc() == got and common.machine()["malloc"] == got
    monkeypatch.setattr(common, "_MALLOC", None)
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("musl", "1.2"))
    assert common.steady_malloc() is None and common.machine()["malloc"] is None


def test_call_times_times_each_call_with_no_warm_up(monkeypatch):
    clock, order = _Clock(monkeypatch), []
    assert common.call_times(_calls(clock, order, "c", [0.5, 0.2, 0.1]), 3) == pytest.approx([0.5, 0.2, 0.1])
    assert order == ["c"] * 3
