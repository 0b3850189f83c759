"""Every binary: --help and --version succeed, bad flags exit 2 with a usage hint."""
import subprocess

import pytest

BINARIES = ["raysense-agent", "raysense-controller", "raysensectl"]


def run(path, *args):
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name", BINARIES)
def test_help_and_version(bin, name):
    p = run(bin(name), "--help")
    assert p.returncode == 0, p.stderr
    assert "Usage:" in p.stdout
    p = run(bin(name), "--version")
    assert p.returncode == 0
    assert name in p.stdout and "0.1.0" in p.stdout


@pytest.mark.parametrize("name", BINARIES)
@pytest.mark.parametrize("args", [["--no-such-flag"], ["--log-level", "loud"], ["-Z"]])
def test_bad_flags_exit_2(bin, name, args):
    p = run(bin(name), *args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "--help" in p.stderr  # points the user at the usage
    assert p.stdout == ""


def test_ctl_unknown_command(bin):
    p = run(bin("raysensectl"), "frobnicate")
    assert p.returncode == 2
    assert "unknown command 'frobnicate'" in p.stderr


def test_ctl_missing_command(bin):
    p = run(bin("raysensectl"))
    assert p.returncode == 2
    assert "missing command" in p.stderr
