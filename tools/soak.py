#!/usr/bin/python3
"""Soak test: many concurrent connections, good and bad frames mixed, for a long time.

Starts `sluice serve` on a free loopback port, drives it with N producer connections for DURATION
seconds, samples the server's resident memory, then checks that every accepted frame has exactly
one result line (a prediction or an error). Prints a Markdown report for RELIABILITY.md.

Every connection loops: a run of good PNG frames, now and then a payload that is not an image
(an error line is expected), a frame whose header claims 0x0 pixels, a negative length (the server
closes the connection), or a frame cut off mid-way (the server closes it). Bad connections reconnect.

  /usr/bin/python3 tools/soak.py --seconds 600 --connections 200
"""
import argparse
import collections
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png(width, height, seed):
    rows = b"".join(b"\x00" + bytes((seed + x * y) & 0xFF for x in range(width)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def record(name, payload):
    return name.encode().ljust(28, b"\0") + struct.pack(">i", len(payload)) + payload


def zero_size_png():
    p = bytearray(png(4, 4, 1))
    p[16:24] = b"\0" * 8  # IHDR width and height = 0
    crc = zlib.crc32(bytes(p[12:29])) & 0xFFFFFFFF
    p[29:33] = struct.pack(">I", crc)
    return bytes(p)


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()

    def add(self, key, n=1):
        with self.lock:
            self.c[key] += n


def producer(port, deadline, rate, counters, rng_seed, stop):
    rng = random.Random(rng_seed)
    goods = [png(28, 28, s) for s in range(8)]
    interval = 1.0 / rate
    while time.time() < deadline and not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            counters.add("connect_failures")
            time.sleep(0.2)
            continue
        try:
            seq = 0
            while time.time() < deadline and not stop.is_set():
                roll = rng.random()
                if roll < 0.90:
                    s.sendall(record(f"good-{seq}", goods[seq % len(goods)]))
                    counters.add("sent_good")
                elif roll < 0.95:
                    s.sendall(record(f"garbage-{seq}", bytes(rng.randrange(256) for _ in range(64))))
                    counters.add("sent_not_an_image")
                elif roll < 0.97:
                    s.sendall(record(f"zero-{seq}", zero_size_png()))
                    counters.add("sent_zero_size")
                elif roll < 0.985:
                    s.sendall(b"bad".ljust(28, b"\0") + struct.pack(">i", -7))
                    counters.add("sent_negative_length")
                    break
                else:
                    whole = record(f"cut-{seq}", goods[0])
                    s.sendall(whole[: rng.randrange(1, len(whole))])
                    counters.add("sent_truncated")
                    break
                seq += 1
                time.sleep(interval * rng.uniform(0.5, 1.5))
            else:
                s.sendall(b"\0" * 32)  # end of stream
        except OSError:
            counters.add("send_errors")
        finally:
            s.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20, help="frames/s per connection")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "sluice"))
    ap.add_argument("--model", default=os.path.join(ROOT, ".cache", "models", "fashion-mnist"))
    ap.add_argument("--memory-budget", default="512MiB")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="sluice-soak-")
    out = os.path.join(work, "results.jsonl")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(os.path.join(work, "serve.log"), "w")
    server = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--model", args.model,
                               "--output", out, "--memory-budget", args.memory_budget,
                               "--max-connections", str(args.connections + 50), "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    counters = Counters()
    stop = threading.Event()
    deadline = time.time() + args.seconds
    threads = [threading.Thread(target=producer, args=(port, deadline, args.rate, counters, i, stop), daemon=True)
               for i in range(args.connections)]
    start = time.time()
    for t in threads:
        t.start()
    samples = []
    while time.time() < deadline:
        samples.append((time.time() - start, rss_kib(server.pid)))
        print(f"\r{samples[-1][0]:6.0f} s  rss {samples[-1][1] / 1024:6.1f} MiB  sent {counters.c['sent_good']:>9}",
              end="", file=sys.stderr, flush=True)
        time.sleep(min(5.0, max(0.1, deadline - time.time())))
    for t in threads:
        t.join(timeout=30)
    time.sleep(3)  # the last batches
    samples.append((time.time() - start, rss_kib(server.pid)))
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=120)
    log.close()
    print(file=sys.stderr)

    lines = collections.Counter()
    errors = collections.Counter()
    keys = collections.Counter()
    with open(out) as f:
        for line in f:
            r = json.loads(line)
            keys[(r["stream"], r["seq"])] += 1
            kind = r["name"].split("-")[0]
            lines[kind] += 1
            if "error" in r:
                errors[r["error"].split(":")[0]] += 1
    c = counters.c
    expected = {"good": c["sent_good"], "garbage": c["sent_not_an_image"], "zero": c["sent_zero_size"]}
    accepted = sum(expected.values())
    answered = sum(lines[k] for k in expected)
    lost = accepted - answered
    duplicates = sum(n - 1 for n in keys.values() if n > 1)
    serve_log = open(os.path.join(work, "serve.log")).read()
    framing_closes = serve_log.count("framing:")
    peak = max(kib for _, kib in samples) / 1024
    print(f"| duration | {args.seconds:.0f} s, {args.connections} connections, ~{args.rate:.0f} frames/s each |")
    print("|---|---|")
    print(f"| frames sent whole (accepted) | {accepted} (good {c['sent_good']}, not an image {c['sent_not_an_image']}, "
          f"0x0 header {c['sent_zero_size']}) |")
    print(f"| result lines | {answered} ({lines['good']} good, {lines['garbage'] + lines['zero']} error lines) |")
    print(f"| errors by reason | " + ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) + " |")
    print(f"| connections cut by the producer | negative length {c['sent_negative_length']}, truncated frame "
          f"{c['sent_truncated']}; framing errors logged by the server: {framing_closes} |")
    print(f"| frames lost | **{lost}** (duplicates: {duplicates}) |")
    print(f"| resident memory | start {samples[0][1] / 1024:.0f} MiB, peak {peak:.0f} MiB, end {samples[-1][1] / 1024:.0f} MiB "
          f"(budget {args.memory_budget}) |")
    print(f"| server exit code | {code} |")
    print()
    print("Resident memory over time (s, MiB):", ", ".join(f"{t:.0f}:{kib / 1024:.0f}" for t, kib in samples[:: max(1, len(samples) // 20)]))
    print(f"(work directory: {work})")
    return 0 if lost == 0 and duplicates == 0 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
