#!/usr/bin/env python3
"""Writes the decoder/tracker fuzzer's seed corpus from real captures.

usage: make-seeds.py CORPUS_DIR OUT_DIR

Reads every classic pcap and pcapng file in CORPUS_DIR (by magic number,
not by name) and writes inputs in the layout DecoderTrackerFuzzer.swift
reads: one configuration byte (link type index, options), then records of
a 2-byte big-endian length, a 1-byte time step and the frame. Each seed is
a run of consecutive frames of one link type, so the tracker sees whole
handshakes; a few single-frame seeds per file vary the option bits.
"""
import os
import struct
import sys

# DLT/LINKTYPE value -> index in LinkType.fuzzCases
# ([.ethernet, .linuxSLL, .linuxSLL2, .null, .loop, .raw, .ipv4, .ipv6]).
LINK_INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 101: 5, 12: 5, 14: 5, 228: 6, 229: 7}
FRAMES_PER_SEED = 8
SEEDS_PER_FILE = 24
MAX_FRAME = 1600


def pcap_frames(data):
    """(linktype, seconds, frame) for every record of a classic pcap."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(end + "IIII", data[offset:offset + 16])
        offset += 16
        if caplen > len(data) - offset:
            return
        yield linktype, sec + frac / (1e9 if nano else 1e6), data[offset:offset + caplen]
        offset += caplen


def pcapng_frames(data):
    """(linktype, seconds, frame) for every packet block of a pcapng file."""
    offset = 0
    end = "<"
    interfaces = []
    while offset + 12 <= len(data):
        block_type = struct.unpack(end + "I", data[offset:offset + 4])[0]
        if block_type == 0x0A0D0D0A:
            end = "<" if data[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        length = struct.unpack(end + "I", data[offset + 4:offset + 8])[0]
        if length < 12 or offset + length > len(data):
            return
        body = data[offset + 8:offset + length - 4]
        if block_type == 1 and len(body) >= 8:
            interfaces.append(struct.unpack(end + "H", body[:2])[0])
        elif block_type == 6 and len(body) >= 20:
            iface, high, low, caplen, _ = struct.unpack(end + "IIIII", body[:20])
            if iface < len(interfaces):
                yield interfaces[iface], ((high << 32) | low) / 1e6, body[20:20 + caplen]
        elif block_type == 3 and len(body) >= 4 and interfaces:
            yield interfaces[0], 0.0, body[4:]
        offset += length


def frames(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return list(pcapng_frames(data))
    return list(pcap_frames(data))


def encode(config, run):
    out = bytearray([config])
    previous = run[0][1]
    for _, seconds, frame in run:
        frame = frame[:MAX_FRAME]
        delta = seconds - previous
        previous = seconds
        step = 0xF1 if delta < 0 else min(0xEF, int(delta * 10))
        out += struct.pack(">HB", len(frame), step) + frame
    return bytes(out)


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    written = 0
    for name in sorted(os.listdir(corpus)):
        path = os.path.join(corpus, name)
        if not os.path.isfile(path):
            continue
        try:
            records = [r for r in frames(path) if r[0] in LINK_INDEX]
        except (OSError, struct.error):
            continue
        if not records:
            continue
        # Runs of consecutive frames of one link type, spread over the file.
        runs = []
        start = 0
        stride = max(FRAMES_PER_SEED, len(records) // SEEDS_PER_FILE)
        while start < len(records) and len(runs) < SEEDS_PER_FILE:
            run = [records[start]]
            for record in records[start + 1:start + FRAMES_PER_SEED]:
                if record[0] != run[0][0]:
                    break
                run.append(record)
            runs.append(run)
            start += stride
        for index, run in enumerate(runs):
            link = LINK_INDEX[run[0][0]]
            # Alternate the option bits: filters and local addresses, all
            # checksums, a tiny --max-pending.
            options = [0x00, 0x80, 0x10, 0x40][index % 4]
            seed = encode(link | options, run)
            with open(os.path.join(out, "%s-%02d" % (name, index)), "wb") as handle:
                handle.write(seed)
            written += 1
        for index, record in enumerate(records[:3]):
            with open(os.path.join(out, "%s-single-%d" % (name, index)), "wb") as handle:
                handle.write(encode(LINK_INDEX[record[0]] | 0x90, [record]))
            written += 1
    print("make-seeds: %d seeds in %s" % (written, out))


if __name__ == "__main__":
    main()
