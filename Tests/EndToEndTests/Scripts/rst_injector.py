#!/usr/bin/env python3
"""An on-path RST injector for the cause lab (runs inside the router namespace).

usage: rst_injector.py INTERFACE PORT TTL

Watches INTERFACE (AF_PACKET) for clients' SYNs to PORT, over IPv4 and IPv6,
and answers the first SYN of each connection with a forged RST|ACK: from the
server's address and port, with the IP TTL / hop limit TTL and ack = the
client's ISN (not ISN + 1, as the forged RSTs seen in the wild do), so Linux
ignores it (RFC 9293 3.10.7.3: an unacceptable ACK in SYN-SENT) and the real
handshake goes on. The frame is sent back out of INTERFACE to the client's
MAC address; checksums are computed here. Prints "ready" once listening and
one line per forged RST.
"""
import socket
import struct
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_rst(sport: int, dport: int, ack: int, pseudo: bytes) -> bytes:
    """A 20-byte RST|ACK from sport to dport, checksummed over `pseudo`."""
    header = struct.pack("!HHIIBBHHH", sport, dport, 0, ack, 5 << 4, 0x14, 0, 0, 0)
    value = checksum(pseudo + header)
    return header[:16] + struct.pack("!H", value) + header[18:]


def forge(frame: bytes, port: int, ttl: int):
    """The RST frame answering `frame` when it is a SYN to `port`, else None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    reply_eth = frame[6:12] + frame[0:6] + frame[12:14]
    if ethertype == 0x0800:
        ip = frame[14:]
        if len(ip) < 20 or ip[9] != 6:
            return None
        ihl = (ip[0] & 0x0F) * 4
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:]
    elif ethertype == 0x86DD:
        ip = frame[14:]
        if len(ip) < 40 or ip[6] != 6:  # no extension headers in this lab
            return None
        src, dst = ip[8:24], ip[24:40]
        tcp = ip[40:]
    else:
        return None
    if len(tcp) < 20:
        return None
    csport, cdport, isn = struct.unpack("!HHI", tcp[:8])
    flags = tcp[13]
    if cdport != port or flags & 0x3F != 0x02:  # a SYN, nothing else
        return None
    key = (src, csport, isn)
    if ethertype == 0x0800:
        pseudo = dst + src + struct.pack("!BBH", 0, 6, 20)
        segment = tcp_rst(cdport, csport, isn, pseudo)
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), 0, 0x4000, ttl, 6, 0, dst, src)
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    else:
        pseudo = dst + src + struct.pack("!IxxxB", 20, 6)
        segment = tcp_rst(cdport, csport, isn, pseudo)
        header = struct.pack("!IHBB16s16s", 6 << 28, len(segment), 6, ttl, dst, src)
    return key, reply_eth + header + segment


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: rst_injector.py INTERFACE PORT TTL", file=sys.stderr)
        return 2
    interface, port, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((interface, 0))
    print("ready", flush=True)
    answered = set()
    while True:
        frame, address = s.recvfrom(65535)
        if address[2] == PACKET_OUTGOING:
            continue
        forged = forge(frame, port, ttl)
        if forged is None or forged[0] in answered:
            continue
        key, reply = forged
        answered.add(key)
        s.send(reply)
        print(f"rst to port {key[1]} ack {key[2]}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
