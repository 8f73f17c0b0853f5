#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Push a busybox image (the host's static /bin/busybox) for test_template_build.sh.

Usage: push_busybox.py REGISTRY_HOST REPO:TAG
Uses the Pusher of tests/oci/registry_fixture.py. The image: /bin/busybox with its applets
as symlinks, /etc/passwd with root and app (1000), config Env/WorkingDir/Cmd. Prints the
manifest digest.
"""
import gzip
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oci"))
import registry_fixture as f  # noqa: E402

APPLETS = ["sh", "cat", "echo", "id", "ls", "mkdir", "sleep", "pwd", "env", "chown", "rm", "touch", "true",
           "false", "ps", "grep", "test", "stat", "mv", "cp", "wc", "head", "adduser"]


def main():
    host, ref = sys.argv[1], sys.argv[2]
    repo, tag = ref.split(":")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        def add_dir(name, mode=0o755, uid=0):
            i = tarfile.TarInfo(name)
            i.type, i.mode, i.uid, i.gid = tarfile.DIRTYPE, mode, uid, uid
            t.addfile(i)

        def add_file(name, data, mode=0o644, uid=0):
            i = tarfile.TarInfo(name)
            i.size, i.mode, i.uid, i.gid = len(data), mode, uid, uid
            t.addfile(i, io.BytesIO(data))

        for d in ("bin", "etc", "tmp", "root", "home", "home/app", "old", "old/sub"):
            add_dir(d, 0o1777 if d == "tmp" else 0o755, 1000 if d == "home/app" else 0)
        with open("/bin/busybox", "rb") as b:
            add_file("bin/busybox", b.read(), 0o755)
        for a in APPLETS:
            i = tarfile.TarInfo("bin/" + a)
            i.type, i.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(i)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
        add_file("etc/group", b"root:x:0:\napp:x:1000:\n")
        add_file("old/gone.txt", b"deleted by a RUN\n")
        add_file("old/sub/x", b"x\n")
    data = raw.getvalue()
    blob, diff_id = gzip.compress(data, mtime=0), f.sha256(data)
    p = f.Pusher(host)
    layer = p.blob(repo, blob)
    layer["mediaType"] = f.OCI_LAYER_GZIP
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/bin", "FROM_IMAGE=yes"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    c = p.blob(repo, config)
    c["mediaType"] = f.OCI_CONFIG
    manifest = json.dumps({"schemaVersion": 2, "mediaType": f.OCI_MANIFEST, "config": c, "layers": [layer]}).encode()
    print(p.manifest(repo, tag, manifest, f.OCI_MANIFEST))


if __name__ == "__main__":
    main()
