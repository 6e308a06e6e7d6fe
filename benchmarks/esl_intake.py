#!/usr/bin/env python
"""Benchmark of ESL event intake: events/s through the call-control dispatch path, handler lag
and, with --cdr, CDRs/s written to the database.

Run from the repository root (project virtualenv active):

    python benchmarks/esl_intake.py                          # 50,000 events at 10,000/s
    python benchmarks/esl_intake.py --rate 0                 # as fast as the double can send
    python benchmarks/esl_intake.py --cdr --rate 2000        # plus one CDR row per event
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pbx python benchmarks/esl_intake.py --cdr

The database is a throwaway one: a temporary SQLite file, or, when DATABASE_URL is set, a
separate `bench_<pid>` database on that server (created, migrated and dropped here, never the
real one).

The ESL test double runs in a child process (its own interpreter: it uses threads, this side
uses gevent, as the call-control service does) and, once this side has authenticated and
subscribed, sends CHANNEL_HANGUP_COMPLETE events of ~9 KB (119 headers, like real ones) at
--rate events/s (0: as fast as it can). Each is the frame the double's own `emit` renders, with
its own Unique-ID, Event-Sequence and send time (`variable_bench_sent`); rendering is done once
and only those three values are patched per event, so the double can send far more than 10,000
events/s. This side connects with `pbx.esl.adapter.EslConnection` and runs the real dispatcher
(`pbx.service.NodeWorker._dispatch`: dedup by Core-UUID/Event-Sequence, channel tracking, the
flows, flushes) with a probe flow after the CDR flow.

Figures: throughput = events handled per second; handler lag = time the probe flow saw the
event − time the double sent it; with --cdr, CDR lag = time the batch holding the CDR was
committed − time sent, CDRs/s = rows written per second, and the number of rows is checked.
"Consumer busy" is this process's CPU time over the run's wall time (one core: gevent); "per CPU
second" is events handled per second of that CPU time, what one core sustains even when other
processes share the machine (then throughput and lag say more about them than about us).
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
from tests.esl_double.server import render_frame

fs = EslDouble(password="bench-pass").start()
print(fs.port, flush=True)
n, rate = (float(x) for x in sys.stdin.readline().split())
n = int(n)
while fs.connection_count < 1:
    time.sleep(0.01)
fs.wait_for_command("event plain", timeout=10)
(conn,) = [c for c in fs._connections if c.kind == "inbound"]

# One frame rendered by the double itself, with markers where the per-event values go.
pairs = fs._envelope("CHANNEL_HANGUP_COMPLETE", "switch_core_state_machine.c",
                     "switch_core_session_reporting_state", "956")
pairs = [(k, "XSEQX" if k == "Event-Sequence" else v) for k, v in pairs] + [
    ("Unique-ID", "XUUIDX"),
    ("Hangup-Cause", "NORMAL_CLEARING"),
    ("Caller-Caller-ID-Number", "74951234567"),
    ("Caller-Destination-Number", "74950000001"),
    ("Caller-Context", "public"),
    ("variable_start_epoch", "1795331088"),
    ("variable_answer_epoch", "1795331090"),
    ("variable_end_epoch", "1795331132"),
    ("variable_billsec", "42"),
    ("variable_duration", "44"),
    ("variable_bench_sent", "XSENTX"),
] + [("variable_filler_%d" % k, "x" * 60) for k in range(100)]
frame = render_frame(pairs, "", "plain")
body = frame[frame.index(b"\n\n") + 2:]
head, rest = body.split(b"XSEQX")
middle, rest = rest.split(b"XUUIDX")
middle2, tail = rest.split(b"XSENTX")
first_seq = int(fs._envelope("HEARTBEAT", "x", "y", "1")[-1][1]) + 1

def event(i):
    body = b"".join((head, str(first_seq + i).encode(), middle, str(uuid.uuid4()).encode(),
                     middle2, repr(time.time()).encode(), tail))
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body

start = time.time()
sent = 0
while sent < n:
    due = n if rate <= 0 else min(n, int((time.time() - start) * rate) + 1)
    if due > sent:
        conn.send(b"".join(event(i) for i in range(sent, min(due, sent + 200))))
        sent = min(due, sent + 200)
    elif rate > 0:
        time.sleep(0.0005)
print(time.time() - start, flush=True)
sys.stdin.readline()
fs.stop()
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def setup_django() -> str:
    """Configure Django on a throwaway database (see the module docstring); returns its label."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    tmpdir = None
    if not os.environ.get("DATABASE_URL"):
        tmpdir = tempfile.mkdtemp(prefix="pbx-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmpdir}/bench.sqlite3"
    os.environ.setdefault("REDIS_URL", "")
    import django
    from django.db import connection

    django.setup()
    if connection.vendor == "sqlite":
        test_name = str(Path(tmpdir or tempfile.mkdtemp(prefix="pbx-bench-")) / "bench.sqlite3")
    else:
        test_name = f"bench_{os.getpid()}"
    connection.settings_dict.setdefault("TEST", {})["NAME"] = test_name
    return f"{connection.vendor} ({test_name})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--rate", type=float, default=10000, help="events/s sent (0: flood)")
    parser.add_argument("--cdr", action="store_true", help="run the real CDR flow too")
    parser.add_argument(
        "--no-receivers",
        action="store_true",
        help="disconnect the CDR receivers (billing, recordings): the writer alone",
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of this side here")
    args = parser.parse_args()

    label = setup_django()
    import gevent
    import gevent.event
    from django.db import connection

    from pbx.esl.adapter import EslConnection
    from pbx.flows import Flow, NodeContext
    from pbx.service import NodeWorker
    from portal.calls.models import CallRecord
    from portal.calls.telephony import CdrFlow
    from portal.switch.models import Node

    if args.no_receivers:
        from portal.calls.signals import cdr_batch_ingested, cdr_ingested

        for signal in (cdr_ingested, cdr_batch_ingested):
            signal.receivers.clear()
            signal.sender_receivers_cache.clear()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    Node.objects.get_or_create(name="bench", defaults={"host": "127.0.0.1", "port": 8021})
    if connection.vendor == "postgresql":
        # Creating and migrating the database leaves a checkpoint to write: do it now, not
        # during the first seconds of the run (it stalled writes for up to a second).
        with connection.cursor() as cursor:
            try:
                cursor.execute("CHECKPOINT")
            except Exception as exc:  # not a superuser: the first seconds may be slower
                print(f"(no CHECKPOINT before the run: {exc})")
    double = subprocess.Popen(
        [sys.executable, "-c", DOUBLE.format(root=str(ROOT))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    handled: list[float] = []
    lags: list[float] = []
    stored: list[float] = []
    flushed_at: list[float] = []
    done = gevent.event.Event()

    class Probe(Flow):
        def __init__(self) -> None:
            super().__init__(name="probe", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))
            self.unflushed: list[float] = []

        def on_event(self, ctx: NodeContext, event) -> None:
            now = time.time()
            sent = float(event.variables["bench_sent"])
            handled.append(now)
            lags.append(now - sent)
            self.unflushed.append(sent)

        def flush(self, ctx: NodeContext) -> None:
            # called after the CDR flow's flush: its batch is committed by now
            now = time.time()
            stored.extend(now - sent for sent in self.unflushed)
            self.unflushed.clear()
            flushed_at.append(now)
            if len(stored) >= args.events and not done.is_set():
                done.set()
                conn.close()

    flows: list[Flow] = [CdrFlow(name="cdr", events=frozenset({"CHANNEL_HANGUP_COMPLETE"}))]
    flows = (flows if args.cdr else []) + [Probe()]
    conn = None
    try:
        port = int(double.stdout.readline())
        conn = EslConnection("127.0.0.1", port, "bench-pass", reply_timeout=30)
        conn.connect()
        double.stdin.write(f"{args.events} {args.rate}\n")
        double.stdin.flush()
        conn.command("event plain CHANNEL_HANGUP_COMPLETE")
        worker = NodeWorker("bench", "127.0.0.1", port, "bench-pass", flows)
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        cpu0, wall0 = time.process_time(), time.time()
        # The dispatcher runs in this greenlet (so its database connection is this one's);
        # the probe closes the connection once every event went through, which ends it.
        watchdog = gevent.spawn_later(max(120, args.events / 500), conn.close)
        worker._dispatch(conn)
        watchdog.kill()
        cpu, wall = time.process_time() - cpu0, time.time() - wall0
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        if not done.is_set():
            double.kill()
            raise SystemExit(f"timed out: {len(handled)} handled, {len(stored)} flushed")
        send_seconds = float(double.stdout.readline())
        double.stdin.write("done\n")
        double.stdin.flush()
        rows = CallRecord.objects.count() if args.cdr else None
    finally:
        try:
            double.wait(timeout=30)
        except subprocess.TimeoutExpired:
            double.kill()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    span = handled[-1] - handled[0]
    rate = (len(handled) - 1) / span if span > 0 else float("inf")
    asked = "as fast as it can" if args.rate <= 0 else f"{args.rate:.0f}/s"
    if args.no_receivers:
        asked += ", CDR receivers disconnected"
    print(f"ESL intake, database {label}: {len(handled)} events of ~9 KB sent at {asked}")
    print(f"  the double sent them in {send_seconds:.2f} s ({args.events / send_seconds:.0f}/s)")
    print(f"  throughput      {rate:10.0f} events/s")
    print(f"  consumer busy   {100 * cpu / wall:10.0f} % of one core")
    # On a shared machine the consumer may get less than a core: this is what one core does.
    print(f"  per CPU second  {len(handled) / cpu:10.0f} events (this process's CPU time)")
    print(f"  handler lag p50 {statistics.median(lags) * 1000:10.1f} ms")
    print(f"  handler lag p99 {percentile(lags, 99) * 1000:10.1f} ms")
    print(f"  handler lag max {max(lags) * 1000:10.1f} ms")
    if args.cdr:
        cdr_span = flushed_at[-1] - handled[0]  # first event handled .. last batch committed
        print(f"  CDRs stored     {rows:10d} of {args.events}")
        print(f"  CDR throughput  {rows / max(cdr_span, 1e-9):10.0f} CDRs/s")
        print(f"  CDR lag p50     {statistics.median(stored) * 1000:10.1f} ms (sent -> committed)")
        print(f"  CDR lag p99     {percentile(stored, 99) * 1000:10.1f} ms")
        if rows != args.events:
            print("FAIL: CDRs were lost or duplicated")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
