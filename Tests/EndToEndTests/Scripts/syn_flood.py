#!/usr/bin/env python3
"""Raw-socket SYN flood for the tcpeek end-to-end tests (runs inside the lab's
client namespace, as root).

  syn_flood.py --target 198.51.100.2 --count 200000 --seconds 20 \\
      [--rate 15000] [--ports 9000-9099] [--sources 198.51.100.10-198.51.100.250] [--seed N]

Sends at most --count SYNs, for at most --seconds, each with a distinct
4-tuple (source address from --sources, random source port, destination port
from --ports) and a random ISN, at about --rate packets per second (0: as
fast as it can). IPv4 only, through an IPPROTO_RAW socket (IP_HDRINCL): the
kernel fills in the IP checksum and packet ID, the script the TCP checksum.

Only documentation addresses are accepted (198.51.100.0/24 here, the lab's
network): the script refuses any other target or source, so nothing can
leave the lab even if it were started outside its namespace.

Prints one JSON line on stdout when done:
  {"sent": N, "seconds": S, "distinct": N, "errors": N, "first_error": "..."}
"""
import argparse
import ipaddress
import json
import random
import socket
import struct
import sys
import time

DOCUMENTATION = ipaddress.ip_network("198.51.100.0/24")


def address_range(text: str) -> list:
    first, _, last = text.partition("-")
    low = ipaddress.IPv4Address(first)
    high = ipaddress.IPv4Address(last or first)
    if high < low:
        raise ValueError(f"empty address range {text}")
    return [ipaddress.IPv4Address(v) for v in range(int(low), int(high) + 1)]


def port_range(text: str) -> list:
    first, _, last = text.partition("-")
    low, high = int(first), int(last or first)
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"bad port range {text}")
    return list(range(low, high + 1))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn(source: bytes, target: bytes, sport: int, dport: int, isn: int) -> bytes:
    # IPv4 header: version/IHL, TOS, total length, ID (0: the kernel picks),
    # DF, TTL 64, TCP, checksum (the kernel fills it in), addresses.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, socket.IPPROTO_TCP, 0, source, target)
    # TCP header: ports, ISN, no ACK, data offset 5, SYN, window 64240.
    tcp = struct.pack("!HHIIBBHHH", sport, dport, isn, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = struct.pack("!4s4sBBH", source, target, 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    return ip + tcp


def main() -> int:
    parser = argparse.ArgumentParser(description="bounded raw-socket SYN flood inside the tcpeek test lab")
    parser.add_argument("--target", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--ports", default="9000-9099")
    parser.add_argument("--sources", default="198.51.100.10-198.51.100.250")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    target = ipaddress.IPv4Address(args.target)
    sources = address_range(args.sources)
    ports = port_range(args.ports)
    for address in [target] + sources:
        if address not in DOCUMENTATION:
            print(f"syn_flood.py: {address} is outside {DOCUMENTATION}; refusing", file=sys.stderr)
            return 2
    if target in sources:
        print("syn_flood.py: the target is among the sources", file=sys.stderr)
        return 2
    if not (0 < args.count <= 10_000_000) or not (0 < args.seconds <= 300):
        print("syn_flood.py: --count must be 1..10000000 and --seconds 0..300", file=sys.stderr)
        return 2
    space = len(sources) * len(ports) * (65536 - 1024)
    if args.count > space // 2:
        print(f"syn_flood.py: --count {args.count} is too many for {space} distinct 4-tuples", file=sys.stderr)
        return 2

    rng = random.Random(args.seed)
    sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    destination = (str(target), 0)
    target_bytes = target.packed
    source_bytes = [s.packed for s in sources]

    used = set()
    sent = errors = 0
    first_error = None
    start = time.monotonic()
    deadline = start + args.seconds
    burst = 64
    while sent < args.count:
        now = time.monotonic()
        if now >= deadline:
            break
        if args.rate > 0:
            due = start + sent / args.rate  # when packet `sent` is due
            if due > now:
                time.sleep(min(due - now, deadline - now))
                continue
        for _ in range(min(burst, args.count - sent)):
            while True:
                key = (rng.randrange(len(sources)), rng.randrange(1024, 65536), rng.randrange(len(ports)))
                if key not in used:
                    used.add(key)
                    break
            source, sport, port = key
            packet = syn(source_bytes[source], target_bytes, sport, ports[port], rng.getrandbits(32))
            try:
                sender.sendto(packet, destination)
                sent += 1
            except OSError as error:  # ENOBUFS under pressure: counted, not fatal
                errors += 1
                first_error = first_error or str(error)
                used.discard(key)
                if errors > args.count:
                    break
        if errors > args.count:
            break
    elapsed = time.monotonic() - start
    sender.close()
    print(json.dumps({"sent": sent, "seconds": round(elapsed, 3), "distinct": len(used),
                      "errors": errors, "first_error": first_error}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
