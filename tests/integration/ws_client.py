# SPDX-License-Identifier: Apache-2.0
# A WebSocket client for test_network.sh: connects to HOST:PORT with the Host header given
# (PORT-ID.localhost: nexusd's route to a sandbox port), upgrades, reads the greeting, sends a
# small and a large masked message and checks their echoes, then closes. Prints what it saw,
# a line each. Usage: ws_client.py HOST PORT HOST_HEADER [TRAFFIC_TOKEN]
import base64, hashlib, os, socket, struct, sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
host, port, host_header = sys.argv[1], int(sys.argv[2]), sys.argv[3]
token = sys.argv[4] if len(sys.argv) > 4 else ""


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        part = c.recv(n - len(out))
        if not part:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += part
    return out


def xor(data, mask):
    m = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(len(data), "big")


def send_frame(c, op, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | op, 0x80 | n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | op, 0x80 | 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | op, 0x80 | 127, n)
    mask = os.urandom(4)
    c.sendall(head + mask + xor(payload, mask))


def read_frame(c, buf):
    b1, b2 = recv_exact(c, 2)
    n = b2 & 127
    if n == 126:
        n = struct.unpack(">H", recv_exact(c, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(c, 8))[0]
    return b1 & 15, recv_exact(c, n)


c = socket.create_connection((host, port), timeout=10)
key = base64.b64encode(os.urandom(16))
req = (b"GET /ws HTTP/1.1\r\nHost: " + host_header.encode() + b"\r\nUpgrade: websocket\r\n"
       b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n")
if token:
    req += b"e2b-traffic-access-token: " + token.encode() + b"\r\n"
c.sendall(req + b"\r\n")
head = b""
while b"\r\n\r\n" not in head:
    part = c.recv(1)
    if not part:
        break
    head += part
lines = head.split(b"\r\n")
print("status", lines[0].split(b" ")[1].decode() if len(lines[0].split(b" ")) > 1 else "none")
if not lines[0].startswith(b"HTTP/1.1 101"):
    sys.exit(0)
want = base64.b64encode(hashlib.sha1(key + GUID).digest())
got = [l.split(b":", 1)[1].strip() for l in lines if l.lower().startswith(b"sec-websocket-accept:")]
print("accept", "ok" if got == [want] else "wrong %r" % got)
op, data = read_frame(c, b"")
print("greeting", data.decode())
for size in (5, 300000):
    payload = os.urandom(size)
    send_frame(c, 2, payload)
    op, back = read_frame(c, b"")
    print("echo", "ok" if (op, back) == (2, payload) else "wrong", size)
send_frame(c, 8, struct.pack(">H", 1000))
op, data = read_frame(c, b"")
print("close", "ok" if op == 8 else "wrong")
c.shutdown(socket.SHUT_WR)
print("end", "ok" if c.recv(1) == b"" else "more bytes")
