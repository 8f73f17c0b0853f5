#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The two ends of bench-network. Standard library only, the same code on every path, so
# paths differ only in what lies between them.
#   net_probe.py serve ADDR PORT...         a sink (reads and drops) and a 1-byte echo per port
#   net_probe.py measure HOST PORT MB N     prints JSON: MB/s for MB megabytes, and the median
#                                           and p99 of N connect+request+answer round trips
import json, socket, statistics, sys, threading, time


def serve(addr, ports):
    def handle(c):
        with c:
            first = c.recv(1)
            if first == b"s":  # sink: read to the end, then say how much arrived
                n = 0
                while True:
                    b = c.recv(1 << 20)
                    if not b:
                        break
                    n += len(b)
            elif first == b"p":
                c.sendall(b"P")
            elif first in (b"G", b"P"):  # HTTP (through the gateway): GET, or POST into the sink
                head = first
                while b"\r\n\r\n" not in head:
                    b = c.recv(65536)
                    if not b:
                        return
                    head += b
                head, _, body = head.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                n = len(body)
                while n < length:
                    b = c.recv(1 << 20)
                    if not b:
                        return
                    n += len(b)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nP")

    def listen(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(256)
        while True:
            c, _ = s.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    for p in ports:
        threading.Thread(target=listen, args=(int(p),), daemon=True).start()
    while True:
        time.sleep(3600)


def measure(host, port, mb, n, http):
    port, mb, n = int(port), int(mb), int(n)
    out = {}
    if mb > 0:
        chunk = b"x" * (1 << 20)
        s = socket.create_connection((host, port), timeout=30)
        t0 = time.perf_counter()
        if http:
            s.sendall(b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (host.encode(), mb << 20))
        else:
            s.sendall(b"s")
        for _ in range(mb):
            s.sendall(chunk)
        if not http:
            s.shutdown(socket.SHUT_WR)
        while s.recv(65536):  # the sink answers (HTTP) or closes when it has read everything
            pass
        out["mb_per_s"] = mb / (time.perf_counter() - t0)
        s.close()
    rtts = []
    req = (b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host.encode()) if http else b"p"
    for _ in range(n):
        t0 = time.perf_counter()
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(req)
        data = b""
        while not data.endswith(b"P"):
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        rtts.append((time.perf_counter() - t0) * 1e6)
    rtts.sort()
    out["rtt_median_us"] = statistics.median(rtts)
    out["rtt_p99_us"] = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    else:
        measure(*sys.argv[2:6], http=len(sys.argv) > 6 and sys.argv[6] == "http")
