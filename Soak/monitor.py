#!/usr/bin/env python3
"""Soak/monitor.py — the load beside the replay while `make soak` runs.

Started by Soak/run.sh next to a live `tcpeek record`. Until SIGTERM/SIGINT
it keeps, each on its own thread:

- socket clients, every --poll seconds: `tcpeekstat -j`, `tcpeekstat -w 1m`,
  `tcpeekstat --since 10m` (and `tcpeekstat --status`) and raw `GET`,
  `REFRESH`, `WINDOW 1m`, `FILTERS` (and `STATUS`) on the UNIX socket; every answer must be well-formed JSON without an
  "error" key, and GET totals must never decrease;
- queries, every --query-every seconds: `tcpeek query --since all --format
  json` and `tcpeek query --since 15m --by minute --format json` on the
  database the recorder is writing;
- memory: VmRSS and VmHWM of the recorder's PID every --rss-every seconds,
  with the open attempts from `STATUS` (when the server knows it), one line
  each to --rss-log, and one sample exactly --warmup seconds in: the start
  RSS.

On exit it writes one JSON object to --result: operations and failures per
kind (with the first few failure messages) and the RSS samples' extremes.
Every request has a timeout, so a wedged server shows up as failures, not
as a hung soak.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import threading
import time

STOP = threading.Event()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = {}
        self.failures = {}
        self.messages = []

    def record(self, kind, error=None):
        with self.lock:
            self.ops[kind] = self.ops.get(kind, 0) + 1
            if error is not None:
                self.failures[kind] = self.failures.get(kind, 0) + 1
                if len(self.messages) < 20:
                    self.messages.append(f"{time.strftime('%H:%M:%S')} {kind}: {error}"[:400])


def check_json(text):
    """Parses an answer; returns an error string or None."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON ({exc}): {text[:120]!r}"
    if isinstance(value, dict) and "error" in value:
        return f"error answer: {value['error']}"
    return None


def socket_request(path, line, timeout=10.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode()


def run_command(argv, timeout=30.0):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        return None, f"exit {done.returncode}: {done.stderr.strip()[:200]}"
    return done.stdout, None


def totals_of_get(value):
    """{filter: success+failure} from a GET answer."""
    totals = {}
    for element in value:
        for name, body in element.items():
            if name == "pcap":
                continue
            totals[name] = body["success"]["total"] + body["failure"]["total"]
    return totals


def clients(args, tally):
    last_totals = {}
    stat_runs = [
        ("tcpeekstat -j", ["-j"], True),
        ("tcpeekstat -w 1m", ["-w", "1m"], False),
        ("tcpeekstat --since 10m", ["--since", "10m", "-j"], True),
    ]
    requests = ["GET", "REFRESH", "WINDOW 1m", "FILTERS"]
    if args.has_status:
        stat_runs.append(("tcpeekstat --status", ["--status"], False))
        requests.append("STATUS")
    while not STOP.is_set():
        began = time.monotonic()
        # tcpeekstat, as a user runs it.
        for kind, extra, want_json in stat_runs:
            try:
                out, error = run_command([args.tcpeekstat, "-U", args.socket] + extra)
                if error is None and want_json:
                    error = check_json(out)
                if error is None and not out.strip():
                    error = "empty output"
            except Exception as exc:  # timeout, cannot start
                error = repr(exc)
            tally.record(kind, error)
        # The raw protocol.
        for request in requests:
            kind = f"socket {request}"
            try:
                answer = socket_request(args.socket, request)
                error = check_json(answer)
                if error is None and request == "GET":
                    totals = totals_of_get(json.loads(answer))
                    for name, total in totals.items():
                        if total < last_totals.get(name, 0):
                            error = f"GET total of {name} went down: {last_totals[name]} -> {total}"
                    last_totals = totals
            except Exception as exc:
                error = repr(exc)
            tally.record(kind, error)
        STOP.wait(max(0.0, args.poll - (time.monotonic() - began)))


def queries(args, tally):
    while not STOP.is_set():
        began = time.monotonic()
        for kind, extra in (
            ("query --since all", ["--since", "all"]),
            ("query --by minute", ["--since", "15m", "--by", "minute"]),
        ):
            try:
                out, error = run_command(
                    [args.tcpeek, "query", "--db", args.db, "--format", "json"] + extra, timeout=60)
                if error is None:
                    error = check_json(out)
            except Exception as exc:
                error = repr(exc)
            tally.record(kind, error)
        STOP.wait(max(0.0, args.query_every - (time.monotonic() - began)))


def read_status(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])  # KiB
    return values


def open_attempts(args, status_seen):
    """Open attempts and not-recorded sessions from STATUS, or "" without it."""
    if not args.has_status:
        return ""
    try:
        attempts = json.loads(socket_request(args.socket, "STATUS"))["attempts"]
    except Exception as exc:
        return f" STATUS failed: {exc!r}"
    status_seen["open_max"] = max(status_seen.get("open_max", 0), attempts["open"])
    status_seen["open_last"] = attempts["open"]
    status_seen["not_recorded_last"] = attempts["not_recorded"]
    return f" open {attempts['open']} not_recorded {attempts['not_recorded']}"


def memory(args, samples, warm, status_seen):
    start = time.monotonic()
    with open(args.rss_log, "a") as log:
        while not STOP.is_set():
            try:
                status = read_status(args.pid)
            except OSError:
                break
            elapsed = time.monotonic() - start
            samples.append((elapsed, status["VmRSS"], status["VmHWM"]))
            mark = ""
            if not warm and elapsed >= args.warmup - 0.05:
                warm.update(rss_kb=status["VmRSS"], at=round(elapsed, 1))
                mark = "  <- end of warm-up"
            extra = open_attempts(args, status_seen)
            log.write(f"{time.strftime('%H:%M:%S')} +{elapsed:7.1f}s VmRSS {status['VmRSS']} kB VmHWM {status['VmHWM']} kB{extra}{mark}\n")
            log.flush()
            # The sample that ends the warm-up is taken on time.
            wait = args.rss_every
            if not warm:
                wait = min(wait, max(0.0, args.warmup - (time.monotonic() - start)))
            STOP.wait(wait)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--tcpeek", required=True)
    parser.add_argument("--tcpeekstat", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--rss-log", required=True)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--query-every", type=float, default=10.0)
    parser.add_argument("--rss-every", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, required=True,
                        help="seconds after which the start RSS is sampled")
    args = parser.parse_args()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.set())

    tally = Tally()
    samples = []
    warm = {}
    status_seen = {}
    try:
        args.has_status = "STATUS" in socket_request(args.socket, "HELP")
    except Exception:
        args.has_status = False
    threads = [
        threading.Thread(target=clients, args=(args, tally), daemon=True),
        threading.Thread(target=queries, args=(args, tally), daemon=True),
        threading.Thread(target=memory, args=(args, samples, warm, status_seen), daemon=True),
    ]
    for t in threads:
        t.start()
    while not STOP.is_set():
        STOP.wait(0.5)
    for t in threads:
        t.join(timeout=90)

    result = {
        "ops": tally.ops,
        "failures": tally.failures,
        "total_ops": sum(tally.ops.values()),
        "total_failures": sum(tally.failures.values()),
        "messages": tally.messages,
        "rss_samples": len(samples),
        "rss_start_kb": warm.get("rss_kb"),
        "rss_start_at": warm.get("at"),
        "open_attempts_max": status_seen.get("open_max"),
        "open_attempts_last": status_seen.get("open_last"),
        "rss_max_kb": max((s[1] for s in samples), default=0),
        "hwm_kb": max((s[2] for s in samples), default=0),
        "still_running": [t.name for t in threads if t.is_alive()],
    }
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
