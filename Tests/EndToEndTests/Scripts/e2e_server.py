#!/usr/bin/env python3
"""TCP server for the tcpeek end-to-end test (runs inside the server namespace).

Listens on every port given on the command line, on one dual-stack socket per
port ("::" with IPV6_V6ONLY off, so IPv4 and IPv6 clients both land here).
Each accepted connection is read until the client closes it, then closed.
Prints "ready <ports>" on stdout once every socket listens, then serves until
it is terminated.
"""
import selectors
import socket
import sys
import threading


def drain(conn: socket.socket) -> None:
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def main() -> int:
    ports = [int(p) for p in sys.argv[1:]]
    if not ports:
        print("usage: e2e_server.py PORT...", file=sys.stderr)
        return 2
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ)
    print("ready " + " ".join(str(p) for p in ports), flush=True)
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept()
            threading.Thread(target=drain, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
