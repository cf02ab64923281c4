#!/usr/bin/env python3
"""TCP client for the tcpeek end-to-end test (runs inside the client namespace).

  e2e_client.py plan JSON
      Runs every scenario of the plan against every target address at once
      (one thread per target and scenario) and prints one JSON document on
      stdout: {target: {scenario: [{"sport": N, "result": "ok"|ERRNO,
      "elapsed": seconds, "started": unix time of the connect}, ...]}}.  The plan:
        {"targets": ["198.51.100.2", "2001:db8::2"],
         "nft": "/usr/sbin/nft", "table": "tcpk_e2e",
         "success": {"port": 8080, "count": 3},
         "reject":  {"port": 8081, "count": 2},
         "timeout": {"port": 8082},
         "unreach": {"port": 8083},
         "synack":  {"port": 8084, "release": 2.0, "hold": 4.5}}
      For "synack" the script first adds an nftables table (in this, the
      client's, namespace) whose output chain drops the client's pure ACKs to
      that port, connects, deletes the table `release` seconds after the
      connects returned, and closes the connections after `hold` seconds
      without sending any data.

  e2e_client.py pending ADDR PORT
      Keeps one attempt open until killed (one that must still be open when
      the capture is stopped): reserves a local port, prints it on stdout,
      then sends the same SYN (same ports, same ISN) every 0.5 s through a
      raw socket, IPv4 only. A kernel connect() could not do this: its SYNs
      back off (1 s, 2 s, 4 s...) and stop, so a slow test run (under a
      sanitizer) would see the attempt time out before it stops tcpeek.
"""
import errno
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from syn_flood import syn  # the same SYN the flood test sends


def family_of(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def attempt(addr: str, port: int, hold: float = 0.0, on_connect=None) -> dict:
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    s.bind(("", 0))
    sport = s.getsockname()[1]
    wall_start = time.time()
    start = time.monotonic()
    try:
        s.connect((addr, port))
        result = "ok"
        if on_connect is not None:
            on_connect()
        if hold > 0:
            time.sleep(hold)
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
    finally:
        elapsed = time.monotonic() - start
        s.close()
    return {"sport": sport, "result": result, "elapsed": round(elapsed, 3), "started": wall_start}


def hold_pending(addr: str, port: int) -> None:
    # The kernel sees no connect(), so it sends nothing of its own; the
    # bound socket keeps the port from being handed to anyone else.
    reserved = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reserved.bind(("", 0))
    sport = reserved.getsockname()[1]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((addr, port))
    source = probe.getsockname()[0]
    probe.close()
    isn = struct.unpack("!I", os.urandom(4))[0]
    segment = syn(socket.inet_aton(source), socket.inet_aton(addr), sport, port, isn)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.sendto(segment, (addr, 0))
    print(sport, flush=True)
    while True:
        time.sleep(0.5)
        raw.sendto(segment, (addr, 0))


def run_plan(plan: dict) -> dict:
    nft = plan["nft"]
    table = plan["table"]
    synack = plan["synack"]
    ruleset = (
        f"table inet {table} {{\n"
        f"  chain out {{\n"
        f"    type filter hook output priority 0; policy accept;\n"
        f"    tcp dport {synack['port']} tcp flags & (fin|syn|rst|psh|ack|urg) == ack drop\n"
        f"  }}\n"
        f"}}\n"
    )
    subprocess.run([nft, "-f", "-"], input=ruleset.encode(), check=True)

    results: dict = {t: {} for t in plan["targets"]}
    lock = threading.Lock()
    connected = threading.Event()
    connected_count = [0]
    n_targets = len(plan["targets"])

    def record(target: str, scenario: str, outcome: dict) -> None:
        with lock:
            results[target].setdefault(scenario, []).append(outcome)

    def note_connected() -> None:
        with lock:
            connected_count[0] += 1
            if connected_count[0] == n_targets:
                connected.set()

    def repeat(target: str, scenario: str) -> None:
        spec = plan[scenario]
        for i in range(spec.get("count", 1)):
            if i:
                time.sleep(0.05)
            record(target, scenario, attempt(target, spec["port"]))

    def synack_run(target: str) -> None:
        record(target, "synack",
               attempt(target, synack["port"], hold=synack["hold"], on_connect=note_connected))

    threads = []
    for target in plan["targets"]:
        threads.append(threading.Thread(target=synack_run, args=(target,)))
        for scenario in ("success", "reject", "timeout", "unreach"):
            threads.append(threading.Thread(target=repeat, args=(target, scenario)))
    for t in threads:
        t.start()

    # Let the ACKs through again `release` seconds after the handshakes
    # completed on the client side (the server then retransmitted its
    # SYN/ACK once, at ~1 s; its next retransmission at ~3 s gets ACKed).
    if not connected.wait(timeout=5.0):
        print("synack: not every connect succeeded; releasing the ACKs anyway", file=sys.stderr)
    time.sleep(synack["release"])
    subprocess.run([nft, "delete", "table", "inet", table], check=True)
    for t in threads:
        t.join()
    return results


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "plan":
        print(json.dumps(run_plan(json.loads(sys.argv[2]))), flush=True)
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "pending":
        hold_pending(sys.argv[2], int(sys.argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
