#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for nexus-vmm that boots nothing: it lets the daemon's microVM backend be
tested end to end on hosts where guest kernels cannot run (docs/vmm.md is the interface).

  fake_vmm.py --probe --json   a verdict saying microVMs run at hardware speed (exit 0)
  fake_vmm.py --config FILE    serves the control socket and the hybrid vsock socket named in
                               FILE; behind CONNECT 49983 a tiny HTTP "agent" answers /health
                               and /init. Every control request is appended to
                               <root>/fake-ops.log as "<id> <op>" ({"op":"stop"} exits 0),
                               where <root> holds the sandboxes/ directory of FILE.
                               <root>/fake-mode, when present, changes the behaviour:
                                 silent  the agent never answers (CONNECT is closed)
                                 crash   exit 1 at once with an error line
"""
import json
import os
import socket
import sys
import threading

state = {"state": "running"}
stop = threading.Event()
lock = threading.Lock()


def serve(path, handler):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(16)

    def loop():
        while not stop.is_set():
            conn, _ = srv.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def read_line(f):
    line = f.readline()
    return line.decode(errors="replace").rstrip("\n") if line else None


def control(ops_log, vm_id):
    def handle(conn):
        f = conn.makefile("rb")
        while True:
            line = read_line(f)
            if line is None:
                break
            req = json.loads(line)
            op = req.get("op")
            with lock, open(ops_log, "a") as log:
                log.write(f"{vm_id} {op}\n")
            if op == "status":
                reply = {"ok": True, "state": state["state"]}
            elif op in ("pause", "resume"):
                state["state"] = "paused" if op == "pause" else "running"
                reply = {"ok": True}
            elif op == "stop":
                conn.sendall(b'{"ok":true}\n')
                conn.close()
                stop.set()
                return
            else:
                reply = {"ok": False, "error": "unknown op"}
            conn.sendall((json.dumps(reply) + "\n").encode())
        conn.close()
    return handle


def vsock(conn):
    f = conn.makefile("rb")
    if read_line(f) != "CONNECT 49983" or state["state"] != "running" or state.get("mode") == "silent":
        conn.close()  # as a VMM does when nothing listens on the port
        return
    conn.sendall(b"OK 1073741824\n")
    head = []
    while True:
        line = read_line(f)
        if line is None:
            return conn.close()
        line = line.rstrip("\r")
        if not line:
            break
        head.append(line)
    method, target = head[0].split(" ")[:2]
    length = 0
    for h in head[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    if length:
        f.read(length)
    if target == "/health":
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nfake agent\n"
    elif target == "/init" and method == "POST":
        resp = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    else:
        resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    conn.sendall(resp)
    conn.close()


def main():
    args = sys.argv[1:]
    if args[:1] == ["--probe"]:
        print(json.dumps({"usable": True, "kvm": True, "ns_per_iteration": 0.55, "native_ns_estimate": 0.5,
                          "slowdown": 1.1, "reason": "fake nexus-vmm: hardware speed"}))
        return 0
    if len(args) != 2 or args[0] != "--config":
        print("usage: fake_vmm.py --config FILE | --probe --json", file=sys.stderr)
        return 2
    cfg = json.load(open(args[1]))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(args[1]))))
    try:
        state["mode"] = open(os.path.join(root, "fake-mode")).read().strip()
    except FileNotFoundError:
        pass
    print(f"fake-vmm: {cfg['id']}: {cfg['cpus']} vCPUs, {cfg['memory_mib']} MiB, {len(cfg['disks'])} disks",
          flush=True)
    if state.get("mode") == "crash":
        print(f"fake-vmm: opening disk '{cfg['disks'][0]['path']}': Input/output error", file=sys.stderr)
        return 1
    serve(cfg["control"], control(os.path.join(root, "fake-ops.log"), cfg["id"]))
    serve(cfg["vsock"]["uds"], vsock)
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
