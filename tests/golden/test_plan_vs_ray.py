"""Differential tests: raysense's planner against Ray's own autoscaler v2
scheduler (the pinned ray 2.60.0, ResourceDemandScheduler), driven through
bench/ray_plan.py on the same scenarios.

Compared: nodes to launch per type (before the upscaling limit, which Ray
applies later in its reconciler), terminations (id and reason), and the
amount of infeasible demand.  Scenarios come from the golden cases that use
no raysense-only input, and from a seeded random generator (plan_fuzz.py)
that stays inside the states Ray can report.
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
