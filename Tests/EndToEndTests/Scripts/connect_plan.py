#!/usr/bin/env python3
"""Concurrent TCP connects for the cause lab (runs inside the client namespace).

argv[1] is a JSON list of connects:
  {"name": str, "target": addr, "port": int, "start": s, "timeout": s, "hold": s}
each run in its own thread: wait `start` seconds, connect() with `timeout`,
keep a connected socket open `hold` seconds, close it. Prints one JSON list of
{"name", "target", "port", "sport", "result", "elapsed"} once every connect is
done ("ok", or the errno name such as "ECONNREFUSED", or "timeout").
"""
import errno
import json
import socket
import sys
import threading
import time


def run(plan: dict, out: list, lock: threading.Lock) -> None:
    time.sleep(plan.get("start", 0))
    family = socket.AF_INET6 if ":" in plan["target"] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    sport = s.getsockname()[1]
    s.settimeout(plan.get("timeout", 10))
    began = time.monotonic()
    try:
        s.connect((plan["target"], plan["port"]))
        result = "ok"
    except socket.timeout:
        result = "timeout"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
    elapsed = time.monotonic() - began
    if result == "ok":
        time.sleep(plan.get("hold", 0))
    s.close()
    with lock:
        out.append({"name": plan["name"], "target": plan["target"], "port": plan["port"],
                    "sport": sport, "result": result, "elapsed": round(elapsed, 3)})


def main() -> int:
    plans = json.loads(sys.argv[1])
    out: list = []
    lock = threading.Lock()
    threads = [threading.Thread(target=run, args=(p, out, lock)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
