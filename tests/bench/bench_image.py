#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The image for bench-image-pull (python3 stdlib only).

Usage:
  bench_image.py build CACHE_DIR       build the image once (cached), print its directory
  bench_image.py push HOST REPO TAG DIR push it with the distribution API, print the digest
  bench_image.py summary DIR           print "layers=N compressed_bytes=... unpacked_bytes=..."
  bench_image.py free-port             print a free TCP port on 127.0.0.1

The image: ~100 MB of gzip layers over 5 layers of realistic content — shared libraries,
the Python standard library (many small files), documentation (text and already-gzipped man
pages), generated application data (compressible JSON logs and incompressible random bytes)
and a small update layer with whiteouts and a replaced file. Layers are deterministic for a
given host (gzip mtime 0, owners root, sorted walk); they are cached under
CACHE_DIR/<hash>, the hash covering this script and the size and mtime of every source file.
"""
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import socket
import stat
import sys
import tarfile
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MIB = 1 << 20

# (name, [(source dir, uncompressed byte budget)], generated extras)
LAYERS = [
    ("libs", [("/usr/lib/x86_64-linux-gnu", 80 * MIB)]),
    ("python", [("/usr/lib/python3.11", 60 * MIB)]),
    ("docs", [("/usr/share/doc", 16 * MIB), ("/usr/share/man", 16 * MIB)]),
    ("app", []),  # generated: logs and random data
    ("update", []),  # generated: whiteouts, a replaced file, a little random data
]


class HashingWriter:
    """A file object that hashes what tarfile writes (the diff_id) and passes it on."""

    def __init__(self, out):
        self.out, self.h, self.n = out, hashlib.sha256(), 0

    def write(self, data):
        self.h.update(data)
        self.n += len(data)
        return self.out.write(data)

    def flush(self):
        pass


def walk_budget(root, budget):
    """Sorted walk of root: (path, lstat) of every entry until budget bytes of files."""
    used = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        st = os.lstat(dirpath)
        yield dirpath, st
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            if stat.S_ISREG(st.st_mode):
                if st.st_size > 8 * MIB or used + st.st_size > budget:
                    continue  # no single huge file (libLLVM); fill the budget with the rest
                used += st.st_size
            yield p, st
        if used >= budget - 64 * 1024:
            return


def fingerprint():
    h = hashlib.sha256(open(__file__, "rb").read())
    for _, sources in LAYERS:
        for root, budget in sources:
            for p, st in walk_budget(root, budget):
                h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return h.hexdigest()[:16]


def add_bytes(tar, name, data, mode=0o644, mtime=1700000000):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime, ti.uname, ti.gname = len(data), mode, mtime, "root", "root"
    tar.addfile(ti, io.BytesIO(data))


def add_dir(tar, name, mtime=1700000000):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.uname, ti.gname = tarfile.DIRTYPE, 0o755, mtime, "root", "root"
    tar.addfile(ti)


def add_parents(tar, path, seen):
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in seen:
            seen.add(d)
            add_dir(tar, d)


def fill_layer(tar, name, sources, rng, members):
    seen = set()
    for root, budget in sources:
        add_parents(tar, root.lstrip("/") + "/x", seen)
        for p, st in walk_budget(root, budget):
            arc = p.lstrip("/")
            ti = tar.gettarinfo(p, arcname=arc)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if ti.isdir():
                seen.add(arc)
                tar.addfile(ti)
            elif ti.isreg():
                with open(p, "rb") as f:
                    tar.addfile(ti, f)
                members.append(arc)
            else:
                tar.addfile(ti)
                members.append(arc)
    if name == "app":
        for d in ("srv", "srv/app", "srv/app/logs", "srv/app/data", "srv/app/assets"):
            add_dir(tar, d)
        words = ("request", "user", "session", "cache", "miss", "hit", "GET", "POST", "/api/v1/items",
                 "latency", "ok", "error", "retry", "upstream", "tenant", "shard")
        for i in range(40):  # ~40 MiB of JSON lines: compresses ~10x
            buf = io.StringIO()
            while buf.tell() < MIB:
                buf.write(json.dumps({"ts": 1700000000 + rng.randrange(10**6), "level": rng.choice(("info", "warn", "debug")),
                                      "msg": " ".join(rng.choice(words) for _ in range(8)),
                                      "id": rng.getrandbits(64), "ms": rng.random() * 100}) + "\n")
            add_bytes(tar, f"srv/app/logs/app-{i:03}.log", buf.getvalue().encode())
        for i in range(8):  # 24 MiB of random data: incompressible (media, model weights, archives)
            add_bytes(tar, f"srv/app/data/blob-{i:02}.bin", rng.randbytes(3 * MIB))
        for i in range(3000):  # many small files (a node_modules-like tree)
            add_bytes(tar, f"srv/app/assets/m{i // 100:02}/f{i:04}.js",
                      (f"module.exports = {{ id: {i}, name: 'm{i}' }};\n" * rng.randrange(1, 40)).encode())
    if name == "update":
        # Delete some files of the earlier layers (whiteouts), replace one, add a little.
        victims = sorted(rng.sample(members, min(200, len(members))))
        done_dirs = set()
        for v in victims:
            d, base = os.path.split(v)
            add_parents(tar, v, done_dirs)
            add_bytes(tar, f"{d}/.wh.{base}", b"")
        add_dir(tar, "srv")
        add_dir(tar, "srv/app")
        add_bytes(tar, "srv/app/VERSION", b"2\n")
        add_bytes(tar, "srv/app/patch.bin", rng.randbytes(4 * MIB))


def build(cache_dir):
    key = fingerprint()
    out = os.path.join(cache_dir, key)
    if os.path.exists(os.path.join(out, "manifest.json")):
        return out
    os.makedirs(cache_dir, exist_ok=True)
    tmp = out + f".tmp-{os.getpid()}"
    os.makedirs(tmp)
    rng = random.Random(20240601)
    members, layers, diff_ids, unpacked = [], [], [], 0
    for i, (name, sources) in enumerate(LAYERS):
        path = os.path.join(tmp, f"layer-{i}.tar.gz")
        with open(path, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
                hw = HashingWriter(gz)
                with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    fill_layer(tar, name, sources, rng, members)
        with open(path, "rb") as f:
            h = hashlib.sha256()
            for chunk in iter(lambda: f.read(MIB), b""):
                h.update(chunk)
        digest = "sha256:" + h.hexdigest()
        final = os.path.join(tmp, digest.split(":")[1])
        os.rename(path, final)
        layers.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": os.path.getsize(final)})
        diff_ids.append("sha256:" + hw.h.hexdigest())
        unpacked += hw.n
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"],
                                    "WorkingDir": "/srv/app"},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"bench layer {n}"} for n, _ in LAYERS]},
                        sort_keys=True).encode()
    cdigest = "sha256:" + hashlib.sha256(config).hexdigest()
    with open(os.path.join(tmp, cdigest.split(":")[1]), "wb") as f:
        f.write(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": cdigest, "size": len(config)},
                "layers": layers}
    with open(os.path.join(tmp, "summary.json"), "w") as f:
        json.dump({"layers": len(layers), "compressed_bytes": sum(l["size"] for l in layers),
                   "unpacked_bytes": unpacked}, f)
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f, sort_keys=True)
    os.rename(tmp, out)
    return out


def request(host, method, url, body=None, headers=None, length=None):
    c = http.client.HTTPConnection(host, timeout=300)
    h = dict(headers or {})
    if length is not None:
        h["Content-Length"] = str(length)
    c.request(method, url, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {url}: {r.status} {data[:300]!r}")
    return r, data


def push(host, repo, tag, d):
    manifest = json.load(open(os.path.join(d, "manifest.json")))
    for blob in [manifest["config"]] + manifest["layers"]:
        digest = blob["digest"]
        try:
            request(host, "HEAD", f"/v2/{repo}/blobs/{digest}")
            continue  # already there
        except RuntimeError:
            pass
        r, _ = request(host, "POST", f"/v2/{repo}/blobs/uploads/", length=0)
        loc = r.getheader("Location")
        u = urllib.parse.urlsplit(loc)
        q = (u.query + "&" if u.query else "") + "digest=" + urllib.parse.quote(digest)
        path = os.path.join(d, digest.split(":")[1])
        with open(path, "rb") as f:
            request(host, "PUT", f"{u.path}?{q}", body=f, length=os.path.getsize(path),
                    headers={"Content-Type": "application/octet-stream"})
    body = json.dumps(manifest, sort_keys=True).encode()
    r, _ = request(host, "PUT", f"/v2/{repo}/manifests/{tag}", body=body, length=len(body),
                   headers={"Content-Type": OCI_MANIFEST})
    return r.getheader("Docker-Content-Digest") or ("sha256:" + hashlib.sha256(body).hexdigest())


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "build" and len(sys.argv) == 3:
        print(build(sys.argv[2]))
    elif cmd == "push" and len(sys.argv) == 6:
        print(push(*sys.argv[2:6]))
    elif cmd == "summary" and len(sys.argv) == 3:
        s = json.load(open(os.path.join(sys.argv[2], "summary.json")))
        print(" ".join(f"{k}={v}" for k, v in s.items()))
    elif cmd == "free-port":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            print(s.getsockname()[1])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
