#!/usr/bin/env python
"""Benchmark of ESL event intake: events/s through our adapter and p99 handler lag.

Run from the repository root (project virtualenv active):

    python benchmarks/esl_intake.py                 # 20,000 events, parse + dispatch only
    python benchmarks/esl_intake.py --events 5000 --cdr   # also write one CDR per event (SQLite)

The ESL test double runs in a child process (its own interpreter: it uses threads, this side
uses gevent, as the call-control service does) and sends CHANNEL_HANGUP_COMPLETE events shaped
like the real recording 02d (about 9 KB each) as fast as its socket allows, each stamped with the
real send time. This process connects with `pbx.esl.adapter.EslConnection`, authenticates,
subscribes, and runs the same dispatch path as `pbx.service.NodeWorker` (dedup by
Core-UUID/Event-Sequence, then the flow). Handler lag = time the flow ran − time the double
sent the event. With --cdr the flow is the real CDR flow writing to a throwaway SQLite DB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gevent import monkey

monkey.patch_all()

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOUBLE = r"""
import sys, time, uuid
sys.path.insert(0, {root!r})
from tests.esl_double import EslDouble
fs = EslDouble(password="bench-pass").start()
print(fs.port, flush=True)
n = int(sys.stdin.readline())
while fs.connection_count < 1:
    time.sleep(0.01)
fs.wait_for_command("event plain", timeout=10)
for i in range(n):
    fs.emit("CHANNEL_HANGUP_COMPLETE", [
        ("Unique-ID", str(uuid.uuid4())),
        ("Hangup-Cause", "NORMAL_CLEARING"),
        ("Caller-Caller-ID-Number", "74951234567"),
        ("Caller-Destination-Number", "74950000001"),
        ("variable_billsec", "42"),
        ("variable_bench_sent", repr(time.time())),
    ] + [("variable_filler_%d" % k, "x" * 60) for k in range(100)])
sys.stdin.readline()
fs.stop()
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--cdr", action="store_true", help="run the real CDR flow (SQLite)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    tmp = tempfile.mkdtemp(prefix="pbx-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ["REDIS_URL"] = ""
    import django

    django.setup()
    from django.core.management import call_command

    from pbx.esl.adapter import EslConnection
    from pbx.flows import NodeContext
    from pbx.flows.cdr import flow as cdr_flow
    from pbx.service import SeenEvents

    if args.cdr:
        call_command("migrate", verbosity=0)

    double = subprocess.Popen(
        [sys.executable, "-c", DOUBLE.format(root=str(ROOT))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(double.stdout.readline())
        conn = EslConnection("127.0.0.1", port, "bench-pass", reply_timeout=30)
        conn.connect()
        double.stdin.write(f"{args.events}\n")
        double.stdin.flush()
        conn.command("event plain CHANNEL_HANGUP_COMPLETE")
        ctx = NodeContext(node="bench", api=conn.api, bgapi=conn.bgapi)
        seen = SeenEvents()
        lags: list[float] = []
        first = last = 0.0
        while len(lags) < args.events:
            event = conn.events.get(timeout=60)
            if event is None:
                raise SystemExit("the double closed the connection")
            if not seen.first_time(event):
                continue
            if args.cdr:
                cdr_flow.on_event(ctx, event)
            now = time.time()
            first = first or now
            last = now
            lags.append(now - float(event.variables["bench_sent"]))
        double.stdin.write("done\n")
        double.stdin.flush()
        conn.close()
    finally:
        double.wait(timeout=30)

    rate = (len(lags) - 1) / (last - first) if last > first else float("inf")
    mode = "parse + dispatch + CDR row (SQLite)" if args.cdr else "parse + dispatch"
    print(f"ESL intake, {mode}: {len(lags)} events of ~9 KB")
    print(f"  throughput      {rate:10.0f} events/s")
    print(f"  handler lag p50 {statistics.median(lags) * 1000:10.1f} ms")
    print(f"  handler lag p99 {percentile(lags, 99) * 1000:10.1f} ms")
    print(f"  handler lag max {max(lags) * 1000:10.1f} ms")
    print(
        "  (lag includes the double's own send queue: it emits as fast as it can, so p99 "
        "grows with --events when the consumer is the bottleneck)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
