"""Seed scenario (tests/e2e/seed_scenario.py) on the pinned Ray with the real
controller and the local provider: two num_cpus=1 tasks -> two workers, the
tasks run on them, both are scaled in after the idle timeout, nothing else
is launched. Prints submission -> launch decision and -> worker ALIVE.
The same scenario runs on every release of tools/ray-versions in the matrix
tier (tests/matrix/)."""
from seed_scenario import run_seed


def test_seed_two_tasks_two_workers_then_scale_in(fresh_ray_cluster, bin):
    run_seed(fresh_ray_cluster, bin("raysense-controller"))
