"""Differential tests: raysense's planner against Ray's own autoscaler v2
scheduler (the pinned ray 2.60.0, ResourceDemandScheduler), driven through
bench/ray_plan.py on the same scenarios.

Compared: nodes to launch per type (before the upscaling limit, which Ray
applies later in its reconciler), terminations (id and reason), and the
amount of infeasible demand.  Scenarios come from the golden cases that use
no raysense-only input, and from a seeded random generator (plan_fuzz.py)
that stays inside the states Ray can report.

The launches after the upscaling limit are compared with what Ray's own
reconciler steps do with the scheduler's reply (bench/ray_plan.py,
limit=True: _scale_cluster, _terminate_instances, _handle_instances_launch,
_compute_to_launch), on one scenario per case of the rule (no terminations;
terminations of the same type; of another type; pending nodes), on the
golden cases and on random scenarios that vary upscaling_speed,
max_concurrent_launches and idle nodes smaller than their type.  Pending
nodes are REQUESTED instances there (raysense counts them as in flight, D6).
Ray scales nothing before its head is RAY_RUNNING; raysense does not wait
for it, so scenarios without a running head are not compared after the limit.
"""
import glob
import json
import os
import random
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench"))
sys.path.insert(0, HERE)

import ray_plan as ray_plan_mod  # noqa: E402  (needs the pinned Ray: run with .venv/bin/python)
from plan_fuzz import FRACTIONAL_SHAPES, gen_scenario  # noqa: E402


def mine(ctl, scn, tmp_path):
    p = tmp_path / "scn.json"
    p.write_text(json.dumps(scn))
    res = subprocess.run([ctl, "plan", "--compact", str(p)], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def compare(plan, ray):
    got = {
        "desired": plan["desired"],
        "terminate": sorted((t["id"], t["reason"]) for t in plan["terminate"]),
        "tasks": sum(i["count"] for i in plan["infeasible"] if i["kind"] in ("task", "actor")),
        "pgs": sum(i["count"] for i in plan["infeasible"] if i["kind"] == "placement_group"),
        "rr": any(i["kind"] == "request_resources" for i in plan["infeasible"]),
    }
    want = {
        "desired": ray["desired"],
        "terminate": sorted((t["id"], t["reason"]) for t in ray["terminate"]),
        "tasks": ray["infeasible"]["tasks"],
        "pgs": ray["infeasible"]["placement_groups"],
        "rr": ray["infeasible"]["request_resources"],
    }
    return got, want


def raysense_only(scn):
    """Inputs Ray has no equivalent for (agent hints, missing data)."""
    for n in scn.get("nodes", []):
        if "busy_workers" in n or "busy_age_s" in n:
            return True
        if n.get("status", "running") == "running" and ("total" not in n or "idle_s" not in n):
            return True
        if "total" in n and n.get("idle_s", 0) > 0 and n["total"] != n["available"]:
            return True
    return False


def golden_cases():
    """Valid golden scenarios without raysense-only inputs (Ray has no
    equivalent for agent hints or missing data; those rules are covered by
    test_plan_golden.py and test_planner.c)."""
    out = []
    for p in sorted(glob.glob(os.path.join(HERE, "plan", "*.json"))):
        if p.endswith(".expected.json") or os.path.basename(p).startswith("bad_"):
            continue
        with open(p) as f:
            if not raysense_only(json.load(f)):
                out.append(p)
    return out


GOLDEN = golden_cases()


@pytest.mark.parametrize("path", GOLDEN, ids=[os.path.basename(p) for p in GOLDEN])
def test_golden_case_matches_ray(bin, tmp_path, path):
    with open(path) as f:
        scn = json.load(f)
    got, want = compare(mine(bin("raysensectl"), scn, tmp_path), ray_plan_mod.ray_plan(scn))
    assert got == want


@pytest.mark.parametrize("seed", range(8))
def test_random_scenarios_match_ray(bin, tmp_path, seed):
    rng = random.Random(1000 + seed)
    ctl = bin("raysensectl")
    for i in range(50):
        scn = gen_scenario(rng)
        got, want = compare(mine(ctl, scn, tmp_path), ray_plan_mod.ray_plan(scn))
        assert got == want, json.dumps(scn)


@pytest.mark.parametrize("seed", range(4))
def test_random_fractional_scenarios_match_ray(bin, tmp_path, seed):
    rng = random.Random(2000 + seed)
    ctl = bin("raysensectl")
    for i in range(50):
        scn = gen_scenario(rng, n_types=rng.randint(1, 8), n_nodes=rng.randint(0, 40),
                           n_entries=rng.randint(0, 30), shapes=FRACTIONAL_SHAPES)
        got, want = compare(mine(ctl, scn, tmp_path), ray_plan_mod.ray_plan(scn))
        assert got == want, json.dumps(scn)


def compare_limit(plan, ray):
    """raysense's launches after the limit against Ray's reconciler, or None
    when Ray would not reach _compute_to_launch for this scenario."""
    if not ray["head_running"] or ray["reconcile_error"]:
        return None
    return plan["launch"], ray["launch"]


def _cpu2_case(nodes, count, **extra):
    head = {"id": "head", "type": "head", "total": {"CPU": 0}, "available": {"CPU": 0},
            "idle_s": 1000}
    scn = {"node_types": {"head": {"resources": {"CPU": 0}},
                          "cpu1": {"resources": {"CPU": 1}, "max_workers": 4},
                          "cpu2": {"resources": {"CPU": 2}, "max_workers": 20}},
           "head_node_type": "head", "upscaling_speed": 1.0, "nodes": [head] + nodes,
           "demand": {"tasks": [{"shape": {"CPU": 2}, "count": count}]}}
    scn.update(extra)
    return scn


def _busy(i):
    return {"id": i, "type": "cpu2", "total": {"CPU": 2}, "available": {"CPU": 0}, "idle_s": 0}


# An idle cpu2 node reporting 1 CPU: 2-CPU demand cannot use it.
_SMALL = {"id": "s", "type": "cpu2", "total": {"CPU": 1}, "available": {"CPU": 1}, "idle_s": 100}
_IDLE_CPU1 = {"id": "i", "type": "cpu1", "total": {"CPU": 1}, "available": {"CPU": 1},
              "idle_s": 100}
_PENDING = [{"id": "p%d" % k, "type": "cpu2", "status": "pending"} for k in (1, 2)]

# One scenario per case of the rule (the same as the "limit" rows of
# tests/unit/test_planner.c), with the launches both must agree on.
LIMIT_CASES = {
    "no_terminations": (_cpu2_case([_busy("b1"), _busy("b2")], 5), {"cpu2": 2}),
    "same_type_terminating": (_cpu2_case([_busy("b1"), _busy("b2"), _SMALL], 5), {"cpu2": 2}),
    "other_type_terminating": (_cpu2_case([_busy("b1"), _busy("b2"), _IDLE_CPU1], 5),
                               {"cpu2": 2}),
    "pending_nodes": (_cpu2_case([_busy("b1"), _busy("b2"), _PENDING[0]], 6), {"cpu2": 2}),
    "pending_nodes_in_flight": (_cpu2_case([_busy("b1"), _busy("b2"), _SMALL] + _PENDING, 6,
                                           max_concurrent_launches=3), {"cpu2": 1}),
}


@pytest.mark.parametrize("case", sorted(LIMIT_CASES))
def test_limit_case_matches_ray_reconciler(bin, tmp_path, case):
    scn, want = LIMIT_CASES[case]
    got = compare_limit(mine(bin("raysensectl"), scn, tmp_path),
                        ray_plan_mod.ray_plan(scn, limit=True))
    assert got == (want, want)


@pytest.mark.parametrize("path", GOLDEN, ids=[os.path.basename(p) for p in GOLDEN])
def test_golden_case_launch_matches_ray_reconciler(bin, tmp_path, path):
    with open(path) as f:
        scn = json.load(f)
    got = compare_limit(mine(bin("raysensectl"), scn, tmp_path),
                        ray_plan_mod.ray_plan(scn, limit=True))
    if got is not None:
        assert got[0] == got[1]


@pytest.mark.parametrize("seed", range(8))
def test_random_scenarios_launch_matches_ray_reconciler(bin, tmp_path, seed):
    rng = random.Random(3000 + seed)
    ctl = bin("raysensectl")
    compared = 0
    for i in range(50):
        scn = gen_scenario(rng, limit=True)
        plan, ray = mine(ctl, scn, tmp_path), ray_plan_mod.ray_plan(scn, limit=True)
        assert compare(plan, ray)[0] == compare(plan, ray)[1], json.dumps(scn)
        got = compare_limit(plan, ray)
        if got is not None:
            compared += 1
            assert got[0] == got[1], json.dumps(scn)
    assert compared == 50  # the generator always reports a running head
