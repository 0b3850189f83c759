"""Golden test of `raysensectl replay` (trace format: docs/replay.md).

tests/golden/replay/small.jsonl is one task submitted at t=2 onto a group
whose nodes start in 30 s (hand-computed as in tests/unit/test_replay.c):
Ray's 5 s loop launches at t=5 (the task waits 33 s, the node lives 105 s),
raysense's 1 s loop at t=2 (30 s, 101 s).  A malformed trace exits 2 and the
message names its line.
"""
import json
import os
import subprocess

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "replay")
ARM_FIELDS = {"loop_s", "signals", "node_seconds", "ttc_p50_s", "ttc_p99_s", "ttc_mean_s",
              "ttc_max_s", "launches", "gave_up", "idle_stops", "fallbacks", "peak_nodes",
              "served", "unserved"}


@pytest.fixture(scope="module")
def ctl(bin):
    return bin("raysensectl")


def replay(ctl, *args):
    return subprocess.run([ctl, "replay", *args], capture_output=True, timeout=60)


def test_small_trace_json(ctl):
    res = replay(ctl, "--json", os.path.join(HERE, "small.jsonl"))
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert set(out) == {"trace", "tasks", "end_s", "ray", "raysense", "ratio"}
    assert out["tasks"] == 1 and out["end_s"] == 132
    ray, rs = out["ray"], out["raysense"]
    assert ARM_FIELDS <= set(ray) and ARM_FIELDS <= set(rs)
    assert (ray["loop_s"], ray["signals"], rs["loop_s"], rs["signals"]) == (5, False, 1, True)
    assert (ray["node_seconds"], ray["ttc_p50_s"], ray["ttc_p99_s"]) == (105, 33, 33)
    assert (rs["node_seconds"], rs["ttc_p50_s"], rs["ttc_p99_s"]) == (101, 30, 30)
    for arm in (ray, rs):
        assert (arm["launches"], arm["served"], arm["unserved"], arm["peak_nodes"]) == (1, 1, 0, 1)
    assert out["ratio"]["node_seconds"] == pytest.approx(101 / 105)
    assert out["ratio"]["ttc_p99_s"] == pytest.approx(30 / 33)


def test_small_trace_text(ctl):
    res = replay(ctl, os.path.join(HERE, "small.jsonl"))
    assert res.returncode == 0, res.stderr.decode()
    text = res.stdout.decode()
    assert "node-seconds" in text and "tasks never served" in text and "rs/ray" in text


def test_malformed_trace(ctl):
    res = replay(ctl, "--json", os.path.join(HERE, "bad_count.jsonl"))
    assert res.returncode == 2
    assert res.stdout == b""
    assert "line 3: $.submit[0].count" in res.stderr.decode()


def test_missing_file_and_usage(ctl):
    assert replay(ctl, os.path.join(HERE, "no-such.jsonl")).returncode == 1
    assert replay(ctl).returncode == 2
