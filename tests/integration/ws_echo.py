# SPDX-License-Identifier: Apache-2.0
# A WebSocket echo server (RFC 6455, just enough for the tests), run inside a sandbox by
# test_network.sh: it greets with a text frame sent together with its 101, then echoes each
# data frame and answers a close. Usage: ws_echo.py PORT
import base64, hashlib, socket, struct, sys, threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(c, n):
    out = b""
    while len(out) < n:
        part = c.recv(n - len(out))
        if not part:
            raise EOFError
        out += part
    return out


def xor(data, mask):
    m = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(len(data), "big")


def frame(op, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | op, n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | op, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | op, 127, n)
    return head + payload


def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + frame(1, b"hello from the sandbox"))
    while True:
        b1, b2 = recv_exact(c, 2)
        op, n = b1 & 15, b2 & 127
        if n == 126:
            n = struct.unpack(">H", recv_exact(c, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(c, 8))[0]
        mask = recv_exact(c, 4) if b2 & 128 else b"\0\0\0\0"
        data = xor(recv_exact(c, n), mask) if n else b""
        c.sendall(frame(op, data))
        if op == 8:
            break
    c.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
