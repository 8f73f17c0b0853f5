#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Registries for the OCI integration test (python3 stdlib + the openssl CLI).

Usage: registry_fixture.py WORKDIR

Starts, all on 127.0.0.1 ports of their own:
  * an open docker-registry (storage under WORKDIR),
  * a docker-registry with token auth, and the token server it trusts (RS256 JWTs signed
    with `openssl dgst`, the signing certificate in the token's x5c header),
  * a proxy in front of the open registry whose behaviour depends on the repository's first
    path component: drop/ cuts the first big blob transfer half-way, tamper/ flips a byte of
    every blob, busy/ answers 503 then 429 before each path works, down/ always answers 503,
    basic/ wants HTTP Basic credentials; anything else passes through. GET /_stats lists
    every request the proxy saw.
Then pushes the test images (and tools/shell:v1, busybox with sh and a user, for builds and
sandboxes, when the host has a busybox) with the distribution API (POST uploads, PUT ?digest=, PUT
manifest), prints one JSON line describing all of it, and runs until stdin closes.
"""
import base64
import ctypes
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request

USER, PASSWORD = "nexus", "s3cret-pass"
SERVICE, ISSUER = "nexus-test-registry", "nexus-test-issuer"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    # The registries must not outlive this script, even when it is killed.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Signer:
    def __init__(self, workdir):
        self.key = os.path.join(workdir, "token.key")
        self.cert = os.path.join(workdir, "token.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=nexus-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()

    def token(self, subject, access):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 600, "nbf": now - 60,
                  "iat": now, "jti": str(random.random()), "access": access}
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return signing_input + "." + b64url(sig)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.tokens = []

    def add(self, **kw):
        with self.lock:
            self.requests.append(kw)

    def seen(self, path):
        with self.lock:
            return sum(1 for r in self.requests if r["path"] == path)


def serve(handler_class, **attrs):
    handler = type("H", (handler_class,), attrs)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # clients that hang up mid-reply are expected
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class TokenHandler(Quiet):
    signer = None
    stats = None

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        auth = self.headers.get("Authorization", "")
        self.stats.tokens.append({"scope": q.get("scope", [""])[0], "basic": auth.startswith("Basic ")})
        subject, access = "anonymous", []
        if auth:
            want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if auth != want:
                return self.reply(401, b'{"details":"bad credentials"}')
            subject = USER
            for scope in q.get("scope", []):
                kind, name, actions = scope.split(":", 2)
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        token = self.signer.token(subject, access)
        self.reply(200, json.dumps({"access_token": token, "expires_in": 600}).encode(),
                   [("Content-Type", "application/json")])


class ProxyHandler(Quiet):
    upstream = None
    stats = None
    counts = {}
    dropped = set()
    lock = threading.Lock()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path == "/_stats":
            with self.stats.lock:
                body = {"requests": self.stats.requests, "tokens": self.stats.tokens}
                return self.reply(200, json.dumps(body).encode())
        parts = self.path.split("/")
        mode = parts[2] if len(parts) > 3 and parts[1] == "v2" else ""
        rng = self.headers.get("Range", "")
        record = {"path": self.path, "range": rng, "auth": bool(self.headers.get("Authorization"))}
        with self.lock:
            n = self.counts[self.path] = self.counts.get(self.path, 0) + 1
        if mode == "down" or (mode == "busy" and n == 1):
            self.stats.add(status=503, **record)
            return self.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
        if mode == "busy" and n == 2:
            self.stats.add(status=429, **record)
            return self.reply(429, b"", [("Retry-After", "0")])
        if mode == "basic":
            want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != want:
                self.stats.add(status=401, **record)
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}',
                                  [("WWW-Authenticate", 'Basic realm="nexus-test"')])
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
        conn.request(self.command, self.path, headers=headers)
        up = conn.getresponse()
        body = up.read()
        conn.close()
        is_blob = "/blobs/" in self.path and up.status in (200, 206)
        if mode == "tamper" and is_blob and body:
            body = body[:-1] + bytes([body[-1] ^ 1])
        out_headers = [(k, v) for k, v in up.getheaders()
                       if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive")]
        cut = False
        if mode == "drop" and is_blob and not rng and len(body) > (1 << 20):
            with self.lock:
                cut = self.path not in self.dropped
                self.dropped.add(self.path)
        self.stats.add(status=up.status, cut=cut, **record)
        if not cut:
            return self.reply(up.status, body, out_headers)
        self.send_response(up.status)
        for k, v in out_headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def start_registry(workdir, name, auth=""):
    port = free_port()
    storage = os.path.join(workdir, name + "-storage")
    os.makedirs(storage, exist_ok=True)
    config = os.path.join(workdir, name + ".yml")
    with open(config, "w") as f:
        f.write(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: nexus-test-secret
{auth}""")
    log = open(os.path.join(workdir, name + ".log"), "w")
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry {name} exited: " + open(log.name).read()[-2000:])
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v2/")
            c.getresponse().read()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"docker-registry {name} did not start")


class Pusher:
    def __init__(self, host):
        self.host = host
        self.token = None

    def call(self, method, url, body=None, headers=None):
        for _ in range(2):
            h = dict(headers or {})
            if self.token:
                h["Authorization"] = "Bearer " + self.token
            req = urllib.request.Request(urllib.parse.urljoin(f"http://{self.host}/", url), data=body,
                                         headers=h, method=method)
            try:
                with urllib.request.urlopen(req) as r:
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                if e.code != 401 or self.token:
                    raise RuntimeError(f"{method} {url}: {e.code} {e.read()[:300]!r}")
                self.login(e.headers["WWW-Authenticate"])
        raise RuntimeError("unreachable")

    def login(self, challenge):
        params = dict(kv.split("=", 1) for kv in challenge[len("Bearer "):].split('",'))
        params = {k.strip(): v.strip('"') for k, v in params.items()}
        q = urllib.parse.urlencode({"service": params["service"], "scope": params["scope"]})
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        req = urllib.request.Request(params["realm"] + "?" + q, headers={"Authorization": "Basic " + basic})
        with urllib.request.urlopen(req) as r:
            self.token = json.loads(r.read())["access_token"]

    def blob(self, repo, data):
        self.token = None
        _, headers, _ = self.call("POST", f"/v2/{repo}/blobs/uploads/")
        loc = headers["Location"]
        loc += ("&" if "?" in loc else "?") + "digest=" + urllib.parse.quote(sha256(data))
        self.call("PUT", loc, data, {"Content-Type": "application/octet-stream"})
        return {"mediaType": "", "digest": sha256(data), "size": len(data)}

    def manifest(self, repo, ref, body, media_type):
        self.call("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type})
        return sha256(body)


def layer(name, content):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 0
        t.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0), sha256(raw.getvalue())


def shell_layer():
    """busybox with a few applets, users root and user (1000) and their homes: an image that
    can run RUN steps and sandboxes (the host's static busybox, when there is one)."""
    busybox = shutil.which("busybox")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", uid=0):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname, info.uid, info.gid, info.mtime = kind, mode, link, uid, uid, 0
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        for d in ("bin", "etc", "root", "tmp", "home"):
            add(d, tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        add("home/user", tarfile.DIRTYPE, mode=0o755, uid=1000)
        with open(busybox, "rb") as f:
            add("bin/busybox", data=f.read(), mode=0o755)
        for applet in ("sh", "sleep", "echo", "cat", "ls", "id", "env", "pwd", "true", "false", "mkdir", "touch"):
            add("bin/" + applet, tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")
        add("etc/group", data=b"root:x:0:\nuser:x:1000:\n")
    return gzip.compress(raw.getvalue(), mtime=0), sha256(raw.getvalue())


def push_image(pusher, repo, tag, files, arch="amd64", docker=False):
    """Push an image whose layers each hold one file; returns what the test checks."""
    layers, diff_ids = [], []
    for name, content in files:
        blob, diff_id = layer(name, content)
        d = pusher.blob(repo, blob)
        d["mediaType"] = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
        layers.append(d)
        diff_ids.append(diff_id)
    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"Env": ["PATH=/usr/bin", "IMAGE=" + repo], "Cmd": ["/bin/sh"],
                                    "WorkingDir": "/work", "User": "1000"},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    c = pusher.blob(repo, config)
    c["mediaType"] = DOCKER_CONFIG if docker else OCI_CONFIG
    mtype = DOCKER_MANIFEST if docker else OCI_MANIFEST
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mtype, "config": c, "layers": layers}).encode()
    digest = pusher.manifest(repo, tag, manifest, mtype)
    return {"manifest": digest, "manifest_size": len(manifest), "config": c["digest"],
            "layers": [l["digest"] for l in layers], "sizes": [l["size"] for l in layers]}


def push_shell_image(pusher, repo, tag):
    blob, diff_id = shell_layer()
    d = pusher.blob(repo, blob)
    d["mediaType"] = OCI_LAYER_GZIP
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    c = pusher.blob(repo, config)
    c["mediaType"] = OCI_CONFIG
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": c, "layers": [d]}).encode()
    digest = pusher.manifest(repo, tag, manifest, OCI_MANIFEST)
    return {"manifest": digest, "manifest_size": len(manifest), "config": c["digest"],
            "layers": [d["digest"]], "sizes": [d["size"]]}


def push_index(pusher, repo, tag):
    out, entries = {}, []
    for arch in ("amd64", "arm64"):
        img = push_image(pusher, repo, f"{tag}-{arch}", [(f"etc/{arch}", f"built for {arch}\n".encode())], arch)
        out[arch] = img
        plat = {"os": "linux", "architecture": arch}
        if arch == "arm64":
            plat["variant"] = "v8"
        entries.append({"mediaType": OCI_MANIFEST, "digest": img["manifest"], "size": img["manifest_size"],
                        "platform": plat})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    out["index"] = pusher.manifest(repo, tag, index, OCI_INDEX)
    return out


def main():
    workdir = sys.argv[1]
    stats = Stats()
    signer = Signer(workdir)
    token_server = serve(TokenHandler, signer=signer, stats=stats)
    token_host = f"127.0.0.1:{token_server.server_address[1]}"
    open_proc, open_host = start_registry(workdir, "open")
    auth = f"""auth:
  token:
    realm: http://{token_host}/token
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {signer.cert}
"""
    auth_proc, auth_host = start_registry(workdir, "auth", auth)
    proxy = serve(ProxyHandler, upstream=open_host, stats=stats)
    proxy_host = f"127.0.0.1:{proxy.server_address[1]}"

    rnd = random.Random(5)
    big = rnd.randbytes(3 << 20)
    small = [("etc/hello", b"hello\n")]
    p = Pusher(open_host)
    images = {
        "test/multi:v1": push_image(p, "test/multi", "v1", [("a/one", b"1" * 1000), ("b/two", b"2" * 5000),
                                                              ("c/three", os.urandom(70000))]),
        "test/docker:v1": push_image(p, "test/docker", "v1", [("d/x", b"x"), ("d/y", b"y")], docker=True),
        "test/index:v1": push_index(p, "test/index", "v1"),
    }
    for repo in ("plain/big", "drop/big"):
        images[repo + ":v1"] = push_image(p, repo, "v1", [("big.bin", big)])
    for repo in ("tamper/img", "busy/img", "down/img", "basic/img"):
        images[repo + ":v1"] = push_image(p, repo, "v1", small)
    images["private/img:v1"] = push_image(Pusher(auth_host), "private/img", "v1", small)
    if shutil.which("busybox"):
        images["tools/shell:v1"] = push_shell_image(p, "tools/shell", "v1")

    print(json.dumps({"registry": open_host, "auth_registry": auth_host, "proxy": proxy_host,
                      "token_server": token_host, "username": USER, "password": PASSWORD,
                      "images": images}), flush=True)

    def stop(*_):
        for proc in (open_proc, auth_proc):
            proc.terminate()
        for proc in (open_proc, auth_proc):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    sys.stdin.read()
    stop()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints this and fails
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
