"""apiproxy.py - a TLS man-in-the-middle between the controller under test and
the real kube-apiserver, used to make races and lost answers deterministic.

Everything is forwarded to the real API server (as cluster admin, so the
proxy is not an RBAC test); hooks run around PATCH requests only:
  - before_patch: list of callables run (one per PATCH, in order) BEFORE the
    PATCH is forwarded -- "another writer got there first";
  - drop_after_forward: number of PATCHes to forward and then answer with a
    closed connection -- "the patch landed but the answer was lost";
  - fail_without_forward: number of PATCHes answered 503 without forwarding
    -- "the API server was briefly unavailable".
Every PATCH is recorded (body, upstream status or the injected fault).
"""

import http.client
import http.server
import json
import ssl
import subprocess
import threading
from pathlib import Path


def make_server_cert(pki: Path, out_dir: Path):
    """A serving cert for 127.0.0.1 signed by the test CA (so the client under
    test verifies TLS exactly as it does against the real server)."""
    key, csr, crt, ext = (out_dir / n for n in ("proxy.key", "proxy.csr", "proxy.crt", "proxy.ext"))
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-subj", "/CN=raysense-test-proxy", "-out", str(csr)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"),
                    "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "1",
                    "-extfile", str(ext), "-out", str(crt)], check=True, capture_output=True)
    return crt, key


class ApiProxy:
    def __init__(self, k8s, workdir: Path):
        self.k8s = k8s
        host_port = k8s.server.split("://", 1)[1]
        self.upstream_host, self.upstream_port = host_port.rsplit(":", 1)
        self.upstream_ctx = ssl.create_default_context(cafile=k8s.ca)
        self.upstream_ctx.load_cert_chain(k8s.client_cert, k8s.client_key)
        crt, key = make_server_cert(k8s.state_dir / "pki", workdir)
        self.before_patch = []
        self.drop_after_forward = 0
        self.fail_without_forward = 0
        self.patches = []          # dicts: body, status, fault
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self, body):
                conn = http.client.HTTPSConnection(proxy.upstream_host, int(proxy.upstream_port),
                                                   context=proxy.upstream_ctx, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "accept")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                return resp.status, resp.getheader("Content-Type", "application/json"), data

            def _reply(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command != "PATCH":
                    self._reply(*self._forward(body))
                    return
                with proxy.lock:
                    hook = proxy.before_patch.pop(0) if proxy.before_patch else None
                    fail = proxy.fail_without_forward > 0
                    if fail:
                        proxy.fail_without_forward -= 1
                    drop = not fail and proxy.drop_after_forward > 0
                    if drop:
                        proxy.drop_after_forward -= 1
                record = {"body": json.loads(body or b"null"), "status": None, "fault": None}
                proxy.patches.append(record)
                if hook:
                    hook()
                if fail:
                    record["fault"] = "503-not-forwarded"
                    self._reply(503, "application/json",
                                b'{"kind":"Status","status":"Failure","code":503}')
                    return
                status, ctype, data = self._forward(body)
                record["status"] = status
                if drop:
                    record["fault"] = "answer-dropped"
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._reply(status, ctype, data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(crt), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, path: Path):
        """A JSON kubeconfig pointing at the proxy (no client credentials: the
        proxy talks to the API server as admin)."""
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "proxy",
            "clusters": [{"name": "proxy", "cluster": {
                "server": self.url, "certificate-authority": self.k8s.ca}}],
            "users": [{"name": "none", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "none"}}],
        }))
        return path

    def close(self):
        self.server.shutdown()
        self.server.server_close()
