"""raysense-controller's command line: bad flags and bad config files give a
clear one-line error and exit code 2 before anything starts; --help and
--version exit 0.  No Ray needed."""
import subprocess

import pytest

BAD_ARGS = [
    (["--worker-group", "nocolon"], "expected NAME:KEY=VALUE"),
    (["--worker-group", "a:CPU=abc"], "is not a number"),
    (["--worker-group", "a:min=-1"], "is not an integer"),
    (["--worker-group", "a/b:CPU=1"], "bad name"),
    (["--worker-group", "a:CPU=1,min=3,max=2"], "min 3 > max 2"),
    (["--worker-group", "head:CPU=1"], "reserved"),
    (["--worker-group", "a:CPU=1", "--worker-group", "a:CPU=2"], "defined twice"),
    ([], "no worker group"),
    (["--worker-group", "a:CPU=1", "--interval", "-1"], "bad --interval"),
    (["--worker-group", "a:CPU=1", "--provider", "kubernetes"], "unknown --provider"),
    (["--worker-group", "a:CPU=1", "--log-level", "loud"], "bad --log-level"),
    (["--worker-group", "a:CPU=1", "--dashboard-timeout-ms", "5"], "dashboard-timeout-ms"),
    (["--worker-group", "a:CPU=1", "--token-file", "/nonexistent/token"], "cannot read token file"),
    (["--config", "/nonexistent/config.json"], "cannot read config"),
    (["--worker-group", "a:CPU=1", "extra"], "unexpected argument"),
    (["--worker-group", "a:CPU=1", "--provider", "kuberay"], "needs --raycluster"),
    (["--worker-group", "a:CPU=1", "--leader-elect"], "--leader-elect needs --provider kuberay"),
    (["--worker-group", "a:CPU=1", "--signal-max-age", "soon"], "bad --signal-max-age"),
    (["--worker-group", "a:CPU=1", "--agent-capacity", "0"], "bad --agent-capacity"),
    (["--worker-group", "a:CPU=1", "--agent-capacity", "many"], "bad --agent-capacity"),
]


@pytest.mark.parametrize("args,msg", BAD_ARGS)
def test_bad_flags(bin, args, msg):
    p = subprocess.run([bin("raysense-controller")] + args, capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert msg in p.stderr, p.stderr


BAD_CONFIGS = [
    ('{"worker_groups": [', "malformed JSON"),
    ('{"worker_groups": [{"name": "a", "resources": {"CPU": -1}}]}',
     "$.worker_groups[0].resources.CPU"),
    ('{"worker_groups": [{"name": "a", "resources": {"CPU": 1}, "max_workers": 1.5}]}',
     "$.worker_groups[0].max_workers"),
    ('{"worker_groups": [{"resources": {"CPU": 1}}]}', "$.worker_groups[0].name"),
    ('{"worker_groups": {}}', "$.worker_groups"),
    ('{"worker_groups": [], "upscaling_speed": "fast"}', "$.upscaling_speed"),
]


@pytest.mark.parametrize("doc,msg", BAD_CONFIGS)
def test_bad_config_file(bin, tmp_path, doc, msg):
    f = tmp_path / "c.json"
    f.write_text(doc)
    p = subprocess.run([bin("raysense-controller"), "--config", str(f)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 2 and msg in p.stderr, (p.returncode, p.stderr)


def test_corrupt_state_file_refuses_to_start(bin, tmp_path):
    (tmp_path / "local-provider.json").write_text('{"version":1,"nodes":[{"id":')
    p = subprocess.run([bin("raysense-controller"), "--worker-group", "a:CPU=1",
                        "--state-dir", str(tmp_path), "--node-temp-root", str(tmp_path / "n"),
                        "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "corrupt" in p.stderr, p.stderr
    assert (tmp_path / "local-provider.json").read_text().endswith('"id":')


def test_help_and_version(bin):
    h = subprocess.run([bin("raysense-controller"), "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "--worker-group" in h.stdout and "--dry-run" in h.stdout
    assert "--agent-capacity" in h.stdout
    v = subprocess.run([bin("raysense-controller"), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.strip()
