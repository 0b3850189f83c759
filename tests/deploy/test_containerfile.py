"""deploy/images/Containerfile, tested without a container engine (none runs
here): its builder stage's RUN commands run on this machine, in a copy of the
build context (the repository filtered by .dockerignore), and the binaries
they produce must run. The runtime stage must install a package for every
shared library those binaries link, and must not run as root by default.

The apt RUN is skipped when every package it installs is already present
(this machine is Debian bookworm too, set up by tools/setup.sh); otherwise
it runs, as the builder would.
"""
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "deploy" / "images" / "Containerfile"
BINARIES = ["raysense-agent", "raysense-controller", "raysensectl"]
# Provided by debian:bookworm-slim itself (Essential/required packages).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "zlib1g"}


def instructions(text):
    """Containerfile -> [(INSTRUCTION, argument)], continuations joined."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):      # comment inside a continuation
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, arg = cur.strip().partition(" ")
        out.append((word.upper(), arg.strip()))
        cur = ""
    assert not cur, "Containerfile ends inside a continuation"
    return out


def stages(text):
    """[(name or None, [(INSTRUCTION, arg)])] per FROM."""
    result = []
    for ins, arg in instructions(text):
        if ins == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", arg, re.I)
            assert m, f"cannot parse FROM {arg}"
            result.append((m.group(2), [(ins, arg)]))
        else:
            assert result, f"{ins} before FROM"
            result[-1][1].append((ins, arg))
    return result


def apt_packages(cmd):
    """Packages named by `apt-get install` in a RUN command."""
    m = re.search(r"apt-get install (.*?)(?:&&|$)", cmd)
    if not m:
        return []
    return [w for w in shlex.split(m.group(1)) if not w.startswith("-")]


def installed(pkg):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return proc.returncode == 0 and "install ok installed" in proc.stdout


def ignore_patterns():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(rel, patterns):
    """Docker's rule for the patterns we use: a plain pattern matches the
    path from the context root; "**/x" matches x at any depth."""
    for p in patterns:
        if p.startswith("**/"):
            if fnmatch.fnmatch(os.path.basename(rel), p[3:]):
                return True
        elif fnmatch.fnmatch(rel, p):
            return True
    return False


def copy_context(dst):
    """COPY . . -- the repository minus .dockerignore's patterns."""
    patterns = ignore_patterns()
    for root, dirs, files in os.walk(REPO):
        rel_root = os.path.relpath(root, REPO)
        dirs[:] = [d for d in dirs
                   if not ignored(os.path.normpath(os.path.join(rel_root, d)), patterns)]
        for f in files:
            rel = os.path.normpath(os.path.join(rel_root, f))
            if ignored(rel, patterns):
                continue
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(root, f), target, follow_symlinks=False)


@pytest.fixture(scope="module")
def parsed():
    st = stages(CONTAINERFILE.read_text())
    names = [n for n, _ in st]
    assert names[0] == "builder" and len(st) == 2, f"expected builder + runtime stage, got {names}"
    return {"builder": st[0][1], "runtime": st[1][1]}


@pytest.fixture(scope="module")
def built(parsed, tmp_path_factory):
    """Run the builder stage's RUN commands; returns the OUT_DIR."""
    tmp = tmp_path_factory.mktemp("containerfile")
    src, build, out = tmp / "src", tmp / "build", tmp / "out"
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": str(tmp)}
    # Stage ARG defaults, then the container paths mapped into the temp dir.
    for ins, arg in parsed["builder"]:
        if ins == "ARG" and "=" in arg:
            k, _, v = arg.partition("=")
            env[k] = v
    assert env.get("BUILD_DIR") == "/build" and env.get("OUT_DIR") == "/out"
    env["BUILD_DIR"], env["OUT_DIR"] = str(build), str(out)

    cwd, ran, skipped = None, [], []
    for ins, arg in parsed["builder"]:
        if ins == "WORKDIR":
            assert arg == "/src", "the test maps WORKDIR /src to its context copy"
            src.mkdir()
            cwd = src
        elif ins == "COPY":
            assert arg == ". .", f"unexpected COPY {arg} in the builder"
            copy_context(src)
        elif ins == "RUN":
            pkgs = apt_packages(arg)
            if pkgs and all(installed(p) for p in pkgs):
                skipped.append(arg)
                continue
            if pkgs and os.geteuid() != 0:
                pytest.fail(f"apt packages missing and not root: {[p for p in pkgs if not installed(p)]}")
            proc = subprocess.run(["sh", "-ec", arg], cwd=cwd or tmp, env=env,
                                  capture_output=True, text=True, timeout=1800)
            assert proc.returncode == 0, f"RUN {arg}\nfailed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            ran.append(arg)
    assert len(ran) >= 2, f"expected the build and install RUNs to run, ran {ran}"
    print(f"\nran {len(ran)} RUN commands, skipped {len(skipped)} (apt packages present)")
    return out


def test_builder_produces_working_binaries(built):
    for name in BINARIES:
        path = built / "usr" / "local" / "bin" / name
        assert os.access(path, os.X_OK), f"{path} not produced"
        proc = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert re.fullmatch(rf"{name} \d+\.\d+\.\d+\n", proc.stdout), proc.stdout
        # install -s stripped them.
        file_out = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout
        if file_out:
            assert "not stripped" not in file_out, file_out


def needed_packages(binary):
    """Debian packages owning the shared libraries the binary links directly."""
    dyn = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True,
                         check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dyn)
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    pkgs = {}
    for lib in needed:
        assert lib in paths, f"{binary}: {lib} not resolved by ldd"
        real = os.path.realpath(paths[lib])
        owner = None
        for candidate in (paths[lib], real, real.replace("/usr/lib/", "/lib/"),
                          real.replace("/lib/", "/usr/lib/", 1)):
            proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if proc.returncode == 0:
                owner = proc.stdout.split(":")[0]
                break
        assert owner, f"no package owns {paths[lib]}"
        pkgs[lib] = owner
    return pkgs


def test_runtime_stage_has_every_linked_library(parsed, built):
    runtime_pkgs = set()
    for ins, arg in parsed["runtime"]:
        if ins == "RUN":
            runtime_pkgs.update(apt_packages(arg))
    assert runtime_pkgs, "runtime stage installs no packages"
    assert not {p for p in runtime_pkgs if p.endswith("-dev")}, "runtime stage installs -dev packages"
    missing = {}
    for name in BINARIES:
        for lib, pkg in needed_packages(built / "usr" / "local" / "bin" / name).items():
            if pkg not in runtime_pkgs | BASE_IMAGE_PACKAGES:
                missing[lib] = pkg
    assert not missing, f"runtime stage lacks packages for {missing}"


def test_runtime_stage_is_non_root_and_copies_only_the_binaries(parsed):
    runtime = parsed["runtime"]
    assert runtime[0][1].startswith("debian:bookworm-slim")
    copies = [a for i, a in runtime if i == "COPY"]
    assert copies == ["--from=builder /out/ /"], copies
    users = [a for i, a in runtime if i == "USER"]
    assert users and not users[-1].split(":")[0] in ("0", "root"), users
