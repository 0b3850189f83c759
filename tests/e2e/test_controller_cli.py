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
    (["--worker-group", "a:CPU=1", "--startup-min-samples", "0"], "bad --startup-min-samples"),
    (["--worker-group", "a:CPU=1", "--startup-min-samples", "65"], "bad --startup-min-samples"),
    (["--worker-group", "a:CPU=1", "--idle-beta", "0"], "bad --idle-beta '0' (0.1..100)"),
    (["--worker-group", "a:CPU=1", "--idle-beta", "many"], "bad --idle-beta"),
    (["--worker-group", "a:CPU=1", "--idle-return-window", "-5"], "bad --idle-return-window"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--gcs-address", ""],
     "bad --gcs-address '' (want host:port or off)"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--gcs-address", "http://h:1"],
     "bad --gcs-address"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--gcs-address", "nohostport"],
     "bad --gcs-address"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--ray-address", "headonly"],
     "bad --ray-address 'headonly' (want host:port)"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--dashboard", "::bad url::"],
     "cannot take the GCS host from --dashboard"),
    # who may push signals must be said (issue 16)
    (["--worker-group", "a:CPU=1"], "--agent-auth tokenreview, token-file or none"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "open"],
     "unknown --agent-auth 'open' (want tokenreview, token-file or none)"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "token-file"], "needs --token-file"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--token-file", "/etc/hostname"],
     "--token-file is the shared token of --agent-auth token-file"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "none", "--agent-token-audience", "x"],
     "need --agent-auth tokenreview"),
    (["--worker-group", "a:CPU=1", "--agent-auth", "tokenreview",
      "--token-review-timeout-ms", "5"], "bad --token-review-timeout-ms"),
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
                        "--listen", "127.0.0.1:0", "--agent-auth", "none"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "corrupt" in p.stderr, p.stderr
    assert (tmp_path / "local-provider.json").read_text().endswith('"id":')


def run_briefly(argv, seconds=2):
    """Start the controller, stop it after `seconds`; (exit code, log).  An
    exit code of None means it was still running."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        p.wait(timeout=seconds)
        code = p.returncode
    except subprocess.TimeoutExpired:
        code = None
        p.terminate()
    out = p.communicate(timeout=20)[0]
    return code, out


def test_agent_auth_modes_at_start(bin, tmp_path):
    """--token-file alone still means token-file; none runs but says so
    loudly, once; tokenreview without API credentials refuses to start."""
    base = [bin("raysense-controller"), "--worker-group", "a:CPU=1", "--dry-run",
            "--dashboard", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "s"),
            "--listen", "127.0.0.1:0"]
    tok = tmp_path / "token"
    tok.write_text("t0k\n")
    code, out = run_briefly(base + ["--token-file", str(tok)])
    assert code is None and "agent auth: token-file" in out, out
    assert "SECURITY WARNING" not in out
    code, out = run_briefly(base + ["--agent-auth", "none"])
    assert code is None, out
    assert out.count("SECURITY WARNING: --agent-auth none") == 1, out
    env_less = dict(__import__("os").environ)
    env_less.pop("KUBERNETES_SERVICE_HOST", None)
    p = subprocess.run(base + ["--agent-auth", "tokenreview"], capture_output=True, text=True,
                       timeout=20, env=env_less)
    assert p.returncode == 1 and "needs Kubernetes API credentials" in p.stderr, p.stderr


def test_help_and_version(bin):
    h = subprocess.run([bin("raysense-controller"), "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "--worker-group" in h.stdout and "--dry-run" in h.stdout
    assert "--agent-capacity" in h.stdout
    v = subprocess.run([bin("raysense-controller"), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.strip()
