"""The call-control service: one ESL connection per FreeSWITCH node, plus the outbound socket.

Runs in its own process (`manage.py callcontrol`), under gevent. Per node, a supervisor greenlet
connects, authenticates, subscribes to the events the flows use, reconciles channels that were
in flight, dispatches events to flows, and pushes pending configuration changes; when the
socket closes it reconnects with capped exponential backoff. Nothing here waits without a
timeout. The database holds every state that must survive a restart.
"""

from __future__ import annotations

import logging
import random
import time
import uuid as uuidlib
from dataclasses import dataclass, field

import gevent
import gevent.event
import gevent.queue
from django.db import close_old_connections, connection

from pbx.esl import commands
from pbx.esl.adapter import EslConnection, EslError
from pbx.esl.protocol import Event
from pbx.flows import FLUSH_DELAY, FLUSH_EVERY, Flow, NodeContext, subscription
from pbx.host import store

log = logging.getLogger(__name__)

#: how the portal's callcenter.conf describes itself (pbx/render.py render_callcenter_config);
#: freeswitch_conf's file fallback says description="CallCenter (fallback)"
CALLCENTER_PORTAL_MARK = 'name="callcenter.conf" description="CallCenter"'


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: 0.5 s, 1 s, 2 s ... up to `cap`."""

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class SeenEvents:
    """Drops an event seen twice: (Core-UUID, Event-Sequence) identifies it on a switch."""

    last: dict[str, int] = field(default_factory=dict)

    def first_time(self, event: Event) -> bool:
        core, seq = event.get("Core-UUID") or "", event.sequence
        if seq is None:
            return True
        if seq <= self.last.get(core, -1):
            return False
        self.last[core] = seq
        return True


class NodeWorker:
    """Keeps one FreeSWITCH node connected and serves its events to the flows."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        password: str,
        flows: list[Flow],
        *,
        reply_timeout: float = 10.0,
        push_interval: float = 0.5,
        backoff: Backoff | None = None,
    ) -> None:
        self.name, self.host, self.port, self.password = name, host, port, password
        self.flows = flows
        self.reply_timeout = reply_timeout
        self.push_interval = push_interval
        self.backoff = backoff or Backoff()
        self.stopping = gevent.event.Event()
        self.conn: EslConnection | None = None
        self.seen = SeenEvents()
        self._last_event_seen = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> None:
        while not self.stopping.is_set():
            conn = EslConnection(
                self.host, self.port, self.password, reply_timeout=self.reply_timeout
            )
            try:
                conn.connect()
                reply = conn.command(commands.event_plain(subscription(self.flows)))
                if not reply.startswith("+OK"):
                    conn.close()
                    raise EslError(f"subscription refused: {reply}")
            except EslError as exc:
                state = "auth_failed" if "authentication" in str(exc) else "disconnected"
                store().node_state(self.name, state, error=str(exc))
                delay = self.backoff.next()
                log.warning("node %s: %s; retrying in %.1fs", self.name, exc, delay)
                self.stopping.wait(delay)
                continue
            self.backoff.reset()
            self.conn = conn
            store().node_state(self.name, "connected")
            log.info("node %s: connected to %s:%s", self.name, self.host, self.port)
            workers = [gevent.spawn(self._dispatch, conn)]
            try:
                self._after_connect(conn)
                workers.append(gevent.spawn(self._push_loop, conn))
                workers.append(gevent.spawn(self._liveness_loop, conn))
                for flow in self.flows:
                    if flow.tick_interval > 0:
                        workers.append(gevent.spawn(self._tick_loop, conn, flow))
            except EslError as exc:
                log.warning("node %s: lost during reconcile: %s", self.name, exc)
            while not conn.wait_closed(timeout=1.0):
                if self.stopping.is_set():
                    conn.close()
            gevent.joinall(workers, timeout=self.reply_timeout)
            gevent.killall([w for w in workers if not w.dead])
            self.conn = None
            if not self.stopping.is_set():
                store().node_state(self.name, "disconnected", error="connection closed")
                self.stopping.wait(self.backoff.next())
        close_old_connections()

    def stop(self) -> None:
        self.stopping.set()
        if self.conn is not None:
            self.conn.close()

    def context(self, conn: EslConnection) -> NodeContext:
        return NodeContext(node=self.name, api=conn.api, bgapi=conn.bgapi, command=conn.command)

    # -- after (re)connect: reconcile channels we were following --------------------------------

    def _after_connect(self, conn: EslConnection) -> None:
        ctx = self.context(conn)
        for call in store().active_calls(self.name):
            alive = conn.api(commands.uuid_exists(str(call.uuid))).strip()
            if alive == "true":
                continue
            if store().forget_call(call.uuid):  # once, even if two services reconcile
                for flow in self.flows:
                    if flow.name == call.flow:
                        flow.on_lost_hangup(ctx, call)
        for flow in self.flows:
            flow.on_connected(ctx)

    # -- events -------------------------------------------------------------------------------

    def _dispatch(self, conn: EslConnection) -> None:
        ctx = self.context(conn)
        unflushed, first_unflushed = 0, 0.0
        while True:
            timeout = None
            if unflushed:
                timeout = max(0.0, first_unflushed + FLUSH_DELAY - time.monotonic())
            try:
                event = conn.events.get(timeout=timeout)
            except gevent.queue.Empty:
                self._flush(ctx)
                unflushed = 0
                continue
            if event is None:
                self._flush(ctx)
                return
            if not self.seen.first_time(event):
                continue
            self._note_event_time()
            store().track_call(self.name, event)
            key = event.subclass if event.name == "CUSTOM" else event.name
            for flow in self.flows:
                if key in flow.events:
                    try:
                        flow.on_event(ctx, event)
                    except Exception:
                        # One flow's bug must not stop the others or the connection.
                        log.exception("flow %s failed on %s %s", flow.name, key, event.uuid)
                        connection.close()
            if not unflushed:
                first_unflushed = time.monotonic()
            unflushed += 1
            # Batches grow with the load: flush when the queue runs dry and the oldest event
            # has waited FLUSH_DELAY, or when FLUSH_EVERY events wait.
            if unflushed >= FLUSH_EVERY or (
                conn.events.empty() and time.monotonic() - first_unflushed >= FLUSH_DELAY
            ):
                self._flush(ctx)
                unflushed = 0

    def _flush(self, ctx: NodeContext) -> None:
        """Let flows that batch their writes write them (see `Flow.flush`)."""
        for flow in self.flows:
            try:
                flow.flush(ctx)
            except Exception:
                log.exception("flow %s failed to flush", flow.name)
                connection.close()

    def _note_event_time(self) -> None:
        # Only noted here: `_liveness_loop` writes it. A write on the dispatcher stalled the
        # event stream for up to half a second on a busy database (a commit waits for its WAL
        # flush), and FreeSWITCH's sends to us then back up into call setup.
        self._last_event_seen = time.monotonic()

    def _liveness_loop(self, conn: EslConnection) -> None:
        written = 0.0
        while conn.connected and not self.stopping.is_set():
            seen = self._last_event_seen
            if seen > written:
                written = seen
                try:
                    store().node_event_seen(self.name)
                except Exception:
                    log.exception("node %s: could not note the last event", self.name)
                    connection.close()
            self.stopping.wait(1.0)

    def _tick_loop(self, conn: EslConnection, flow: Flow) -> None:
        ctx = self.context(conn)
        while conn.connected and not self.stopping.is_set():
            try:
                flow.tick(ctx)
            except EslError:
                return  # the connection is gone; the supervisor reconnects
            except Exception:
                log.exception("flow %s tick failed", flow.name)
                connection.close()
            self.stopping.wait(flow.tick_interval)

    # -- configuration push ---------------------------------------------------------------------

    def _push_loop(self, conn: EslConnection) -> None:
        # A push that failed is retried with backoff, not every push_interval: each attempt
        # makes FreeSWITCH fetch from the portal, and a node that cannot reach it would be
        # hammered twice a second (seen on a real node with the portal down).
        retry = Backoff(base=max(self.push_interval, 1.0), cap=60.0)
        while conn.connected and not self.stopping.is_set():
            try:
                pushed = self.push_pending(conn)
            except EslError:
                return  # the connection is gone (closed on timeout); the supervisor reconnects
            if pushed is False:
                self.stopping.wait(retry.next())
                continue
            retry.reset()
            self.stopping.wait(self.push_interval)

    def _portal_serves_callcenter(self, conn: EslConnection) -> bool:
        """Can FreeSWITCH fetch callcenter.conf from the portal right now?

        `callcenter_config queue reload` unloads the queue and loads it again from
        mod_xml_curl; when the portal is unreachable FreeSWITCH falls back to the empty
        callcenter.conf of freeswitch_conf and the queue is gone (`-ERR Invalid Queue not
        found!`, callers cannot join it) until the portal answers again. `xml_locate` makes the
        same lookup without touching any queue: the portal's document is described as
        CALLCENTER_PORTAL_MARK, the file fallback as "CallCenter (fallback)"."""
        reply = conn.api("xml_locate configuration configuration name callcenter.conf")
        return CALLCENTER_PORTAL_MARK in reply

    def push_pending(self, conn: EslConnection) -> bool | None:
        """Push the node's pending changes: None if there were none, else whether it worked."""
        batch = store().changes_due(self.name)
        if batch is None:
            return None
        up_to, command_list = batch
        if any(" queue " in f" {c} " for c in command_list) and not self._portal_serves_callcenter(
            conn
        ):
            error = (
                "FreeSWITCH cannot fetch callcenter.conf from the portal (it gets its file "
                "fallback): queue reloads postponed, they would unload the queues"
            )
            store().push_result(self.name, up_to=up_to, ok=False, error=error)
            log.warning("node %s: %s", self.name, error)
            return False
        errors = []
        for command in command_list:
            reply = conn.api(command).strip()
            if reply.startswith("-ERR") and " queue reload " in f" {command} ":
                # A queue FreeSWITCH never loaded cannot be reloaded: load it instead.
                reply = conn.api(command.replace(" queue reload ", " queue load ", 1)).strip()
            if reply.startswith("-ERR") or reply.startswith("-USAGE"):
                errors.append(f"{command}: {reply}")
        store().push_result(self.name, up_to=up_to, ok=not errors, error="; ".join(errors))
        if errors:
            log.warning("node %s: push had errors: %s", self.name, errors)
        else:
            log.info("node %s: applied config changes up to #%s", self.name, up_to)
        return not errors


class OutboundSocketServer:
    """Serves the dialplan `socket` application: hands each call to the flow it names."""

    def __init__(self, host: str, port: int, flows: list[Flow]) -> None:
        from gevent.server import StreamServer

        self.handlers = {name: flow for flow in flows for name in flow.session_names}
        self.server = StreamServer((host, port), self._handle)

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(timeout=5)

    def _handle(self, sock, address) -> None:
        from pbx.esl.adapter import OutboundCall

        call = OutboundCall(sock, address)
        try:
            call.start()
            flow = self.handlers.get(call.variables.get("pbx_flow", ""))
            if flow is None:
                log.warning(
                    "outbound call %s: no flow %r", call.uuid, call.variables.get("pbx_flow")
                )
                call.unavailable()
            else:
                flow.handle_session(call)
        except EslError as exc:
            log.info("outbound call %s ended: %s", getattr(call, "uuid", "?"), exc)
        except Exception:
            log.exception("outbound call %s: flow failed", getattr(call, "uuid", "?"))
            call.unavailable()
        finally:
            call.close()
            close_old_connections()
            connection.close()


def new_job_uuid() -> str:
    return str(uuidlib.uuid4())
