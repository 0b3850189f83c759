"""http_attack.py -- bounded hostile-client workloads against a raysense HTTP
server on loopback, and a /healthz prober that times every answer while they
run. Used by tests/e2e/test_http_hostile.py (controller) and
tests/agent/test_http_hostile.py (agent), and by hand to compare binaries:

    python tests/http_attack.py HOST:PORT [PROBE_PORT]

Every attack is bounded in connections and seconds, and only ever connects
to the address it is given (127.0.0.1 in the tests)."""
import os
import resource
import select
import socket
import statistics
import sys
import threading
import time

PROBE_TIMEOUT_S = 10.0
# Attack from other loopback addresses, by hand only: "127.0.0.2" (one
# address: what the per-address limit leaves to other clients) or
# "127.0.0.2+20" (20 addresses in turn: a distributed attack).
ATTACK_SRC = os.environ.get("RS_ATTACK_SRC")


def _sources():
    if not ATTACK_SRC:
        return [None]
    first, _, count = ATTACK_SRC.partition("+")
    base = first.rsplit(".", 1)
    return [f"{base[0]}.{int(base[1]) + i}" for i in range(int(count or 1))]


def raise_fd_limit(want=8192):
    """The flood holds 2,000 sockets at once: lift RLIMIT_NOFILE's soft limit
    (never above the hard one). Children started afterwards inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def http_get(host, port, path, timeout=PROBE_TIMEOUT_S):
    """One GET on a fresh connection (what a kubelet probe does). Returns
    (status or None, seconds); None when refused, reset or timed out."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(max(0.05, timeout - (time.monotonic() - t0)))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    except (OSError, ValueError, IndexError):
        status = None
    return status, time.monotonic() - t0


class Prober:
    """GET `path` back to back (10 per second at most) from a thread and
    record (status, seconds) of each; a failed probe counts as its elapsed
    time (at most PROBE_TIMEOUT_S)."""

    def __init__(self, host, port, path="/healthz", period=0.1):
        self.host, self.port, self.path, self.period = host, port, path, period
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.samples.append(http_get(self.host, self.port, self.path))
            self._stop.wait(max(0.0, self.period - (time.monotonic() - t0)))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def summary(self):
        lat = sorted(s for _, s in self.samples)
        ok = [st for st, _ in self.samples if st == 200]
        if not lat:
            return {"n": 0, "ok": 0, "p50_ms": None, "max_ms": None}
        return {"n": len(lat), "ok": len(ok), "failed": len(lat) - len(ok),
                "p50_ms": round(statistics.median(lat) * 1000, 1),
                "max_ms": round(lat[-1] * 1000, 1)}

    def assert_healthy(self, what, limit_s=1.0):
        s = self.summary()
        bad = [(st, round(t, 3)) for st, t in self.samples if st != 200 or t > limit_s]
        assert s["n"] >= 3, f"{what}: too few probes ran: {s}"
        assert not bad, f"{what}: /healthz failed or was slower than {limit_s}s: {bad[:10]} ({s})"


def _connect_many(host, port, n, deadline):
    socks, srcs = [], _sources()
    for i in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            if srcs[i % len(srcs)]:
                s.bind((srcs[i % len(srcs)], 0))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def _close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def _still_open(s, byte=b""):
    """Send `byte` (if any), then peek for the server's FIN or RST."""
    try:
        if byte:
            s.send(byte)
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def slowloris(host, port, n=300, seconds=6.0):
    """n connections that each send a request's headers one byte per second
    and never finish them. Returns how many the server had closed by the end."""
    line = f"GET /metrics HTTP/1.1\r\nHost: {host}\r\nX-Pad: " + "a" * 200
    end = time.monotonic() + seconds
    socks = _connect_many(host, port, n, end)
    closed, pos = set(), 0
    while time.monotonic() < end:
        byte = line[pos % len(line)].encode()
        for s in socks:
            if s not in closed and not _still_open(s, byte):
                closed.add(s)
        pos += 1
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    closed.update(s for s in socks if s not in closed and not _still_open(s))
    _close_all(socks)
    return len(closed)


def flood(host, port, n=2000, seconds=5.0):
    """n connections opened as fast as possible and held, silent, for `seconds`."""
    end = time.monotonic() + seconds
    socks = _connect_many(host, port, n, end)
    time.sleep(max(0.0, end - time.monotonic()))
    _close_all(socks)
    return len(socks)


def chunked_trickle(host, port, path, seconds=15.0, every=0.5, headers="", method="POST"):
    """`method` `path` with a chunked body, one small chunk every `every`
    seconds, for at most `seconds`. Returns (seconds until the server closed
    the connection or None, whatever the server answered)."""
    t0 = time.monotonic()
    got = b""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall((f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                   f"{headers}Transfer-Encoding: chunked\r\n\r\n").encode())
        while time.monotonic() - t0 < seconds:
            try:
                s.send(b"1\r\n \r\n")
            except OSError:
                return time.monotonic() - t0, got
            r, _, _ = select.select([s], [], [], every)
            if r:
                try:
                    chunk = s.recv(4096)
                except OSError:
                    return time.monotonic() - t0, got
                if not chunk:
                    return time.monotonic() - t0, got
                got += chunk
    return None, got


def oversized_and_garbled(host, port, seconds=2.0, body_target="POST /api/v1/signals"):
    """Oversized headers and bodies (a 100 MB one declared to `body_target`,
    "METHOD /path"), and garbage, one after the other for `seconds` (each
    must end -- answer or close -- within 5 s). Returns the first line of
    every answer."""
    cases = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n",
        body_target.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
        + b"{" * 65536,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(2000),
        b"GET /" + b"A" * 100000 + b" HTTP/1.1\r\n\r\n",
        b"NOTAMETHOD / HTTP/9.9\r\n\r\n",
        b"\r\n\r\n\r\n" + os.urandom(512),
    ]
    answers = []
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end or i < len(cases):
        case = cases[i % len(cases)]
        i += 1
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                try:
                    s.sendall(case)
                except OSError:
                    pass
                first = s.recv(64)
        except OSError:
            first = b""
        answers.append(first.split(b"\r\n", 1)[0])
    return answers


def measure(host, port, probe_port, attacks):
    """Run each (name, fn) attack while probing /healthz on probe_port;
    returns {name: Prober.summary()}."""
    out = {}
    for name, fn in attacks:
        with Prober(host, probe_port) as p:
            time.sleep(0.3)
            fn()
            time.sleep(0.3)
        out[name] = p.summary()
    return out


if __name__ == "__main__":
    raise_fd_limit()
    h, p = sys.argv[1].rsplit(":", 1)
    pp = int(sys.argv[2]) if len(sys.argv) > 2 else int(p)
    res = measure(h, int(p), pp, [
        ("slowloris-300", lambda: slowloris(h, int(p))),
        ("flood-2000", lambda: flood(h, int(p))),
        ("garbled", lambda: oversized_and_garbled(h, int(p))),
    ])
    for k, v in res.items():
        print(f"{k:16s} {v}")
