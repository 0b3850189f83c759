"""Golden tests of `raysensectl plan` (the public scenario format).

tests/golden/plan/<case>.json is a scenario; <case>.expected.json is either
  - the expected plan: "launch" (exact), "terminate" (exact list of
    {id, reason}, in order), "infeasible" (exact list of {shape, count}),
    optionally "desired"; other output fields are allowed, or
  - {"exit_code": N, "stderr_contains": "..."} for a refused scenario.
The expected plans were written by hand from Ray's v2 scheduler rules
(see the comments in tests/unit/test_planner.c); test_plan_vs_ray.py checks
the valid cases against Ray's own scheduler too.
"""
import glob
import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = sorted(
    os.path.basename(p)[: -len(".expected.json")]
    for p in glob.glob(os.path.join(HERE, "plan", "*.expected.json"))
)


def run_plan(ctl, *args, stdin=None):
    return subprocess.run([ctl, "plan", *args], input=stdin, capture_output=True,
                          timeout=60)


@pytest.fixture(scope="module")
def ctl(bin):
    return bin("raysensectl")


@pytest.mark.parametrize("case", CASES)
def test_golden(ctl, case):
    path = os.path.join(HERE, "plan", case + ".json")
    with open(os.path.join(HERE, "plan", case + ".expected.json")) as f:
        expected = json.load(f)
    res = run_plan(ctl, path)
    stderr = res.stderr.decode(errors="replace")
    if "exit_code" in expected:
        assert res.returncode == expected["exit_code"], stderr
        assert expected["stderr_contains"] in stderr, stderr
        assert res.stdout == b"", "nothing may be printed for a refused scenario"
        return
    assert res.returncode == 0, stderr
    plan = json.loads(res.stdout)
    assert plan["launch"] == expected["launch"]
    assert [{"id": t["id"], "reason": t["reason"]} for t in plan["terminate"]] == expected["terminate"]
    assert [{"shape": i["shape"], "count": i["count"]} for i in plan["infeasible"]] == expected["infeasible"]
    if "desired" in expected:
        assert plan["desired"] == expected["desired"]
    # Every launch or deferral is explained by the demand that caused it.
    launched = [e for e in plan["explain"] if e["action"] in ("launch", "defer")]
    assert sum(1 for e in launched if e["action"] == "launch") == sum(plan["launch"].values())
    assert len(launched) == sum(plan["desired"].values())
    for e in launched:
        assert e["because"] and e["text"]


def test_stdin_and_compact(ctl):
    with open(os.path.join(HERE, "plan", "seed_scale_out.json"), "rb") as f:
        doc = f.read()
    res = run_plan(ctl, "--compact", "-", stdin=doc)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(b"\n") == 1
    assert json.loads(res.stdout)["launch"] == {"cpu1": 2}


def test_huge_file_refused(ctl, tmp_path):
    p = tmp_path / "huge.json"
    with open(p, "wb") as f:
        f.write(b"{" + b" " * (33 << 20) + b"}")
    res = run_plan(ctl, str(p))
    assert res.returncode == 2
    assert b"larger than" in res.stderr


def test_usage(ctl, tmp_path):
    res = run_plan(ctl, "--help")
    assert res.returncode == 0 and b"Usage: raysensectl plan" in res.stdout
    res = run_plan(ctl)
    assert res.returncode == 2 and b"expected exactly one FILE" in res.stderr
    res = run_plan(ctl, "--bogus", "x")
    assert res.returncode == 2
    res = run_plan(ctl, str(tmp_path / "missing.json"))
    assert res.returncode == 1 and b"No such file" in res.stderr
