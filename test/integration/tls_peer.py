#!/usr/bin/env python3
"""A TLS peer that misbehaves after the handshake, for the integration tests.

The TLS layer runs over memory BIOs, so after a completed handshake and one
exchange of application data the script can write raw bytes on the TCP
socket, as a broken or hostile peer would.

  tls_peer.py client HOST:PORT CERT KEY CA ALPN PAYLOAD [SOURCE_IP]
      connects, handshakes (mTLS, ALPN), sends "hello\\n" and waits for it to
      come back (an echo upstream), or with ALPN istio-http/1.1 sends
      "GET /ok" and waits for the response head (printing its first line),
      then writes PAYLOAD raw; from SOURCE_IP when given.
  tls_peer.py server PORT CERT KEY CA PAYLOAD
      listens on 127.0.0.1:PORT, accepts one connection, handshakes
      (requiring a client certificate), waits for one application record,
      then writes PAYLOAD raw.

PAYLOAD: "garbage" (bytes that are no TLS record), "plaintext-handshake"
(a handshake record outside the encryption, which TLS 1.3 forbids after the
handshake) or "none" (a well-behaved peer: nothing, then close).  Prints "handshake ok", "app ok" and "sent" as it goes, then
waits (10 s at most) for the other side to close.
"""
import select
import socket
import ssl
import sys
import time

PAYLOADS = {
    "garbage": b"GARBAGE-NOT-A-TLS-RECORD\r\n" * 4,
    # content type 22 (handshake), TLS 1.2 version, 4 bytes: a KeyUpdate
    # message in the clear
    "plaintext-handshake": bytes([22, 3, 3, 0, 5, 24, 0, 0, 1, 0]),
    "none": b"",
}
DEADLINE = time.monotonic() + 20


def pump(sock, obj, incoming, outgoing, step):
    """Runs step() until it stops wanting to read, moving bytes both ways."""
    while True:
        try:
            result = step()
            flush(sock, outgoing)
            return result
        except ssl.SSLWantReadError:
            flush(sock, outgoing)
            if time.monotonic() > DEADLINE:
                sys.exit("timed out")
            r, _, _ = select.select([sock], [], [], 1)
            if r:
                data = sock.recv(65536)
                if not data:
                    sys.exit("peer closed during the exchange")
                incoming.write(data)


def flush(sock, outgoing):
    data = outgoing.read()
    if data:
        sock.sendall(data)


def wait_closed(sock):
    end = time.monotonic() + 10
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.5)
        if r:
            try:
                if not sock.recv(65536):
                    break
            except OSError:
                break
    print("closed", flush=True)


def main():
    role = sys.argv[1]
    if role == "client":
        addr, cert, key, ca, alpn, payload = sys.argv[2:8]
        source = (sys.argv[8], 0) if len(sys.argv) > 8 else None
        host, port = addr.rsplit(":", 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.set_alpn_protocols([alpn])
        sock = socket.create_connection((host, int(port)), timeout=10, source_address=source)
    else:
        port, cert, key, ca, payload = sys.argv[2:7]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.set_alpn_protocols(["istio", "istio-peer-exchange", "istio-http/1.1"])
        ctx.num_tickets = 0
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", int(port)))
        lsock.listen(1)
        print("listening", flush=True)
        lsock.settimeout(20)
        sock, _ = lsock.accept()
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    sock.setblocking(True)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=(role == "server"))
    pump(sock, obj, incoming, outgoing, obj.do_handshake)
    print("handshake ok", obj.version(), flush=True)
    if role == "client":
        # HTTP at L7 (ALPN istio-http/1.1): one request and its response
        # head; otherwise a line an echo upstream sends back.
        http = alpn.startswith("istio-http")
        obj.write(b"GET /ok HTTP/1.1\r\nHost: app\r\n\r\n" if http else b"hello\n")
        flush(sock, outgoing)
        got = b""
        while not (b"\r\n\r\n" in got if http else got.endswith(b"hello\n")):
            got += pump(sock, obj, incoming, outgoing, lambda: obj.read(65536))
        print(got.split(b"\r\n", 1)[0].decode(errors="replace").strip(), flush=True)
    else:
        pump(sock, obj, incoming, outgoing, lambda: obj.read(65536))
    print("app ok", flush=True)
    if payload == "none":
        sock.close()
        print("closed", flush=True)
        return
    sock.sendall(PAYLOADS[payload])
    print("sent", flush=True)
    wait_closed(sock)


if __name__ == "__main__":
    main()
