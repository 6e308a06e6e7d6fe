"""`manage.py callcontrol`: the call-control service (its own process, gevent)."""

from __future__ import annotations

import gc
import logging
import signal

import gevent
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pbx.flows import discover
from pbx.host import store
from pbx.service import NodeWorker, OutboundSocketServer

log = logging.getLogger("pbx.callcontrol")


class Command(BaseCommand):
    help = "Keep ESL connections to every FreeSWITCH node and serve the outbound socket."

    def handle(self, *args, **options) -> None:
        password = settings.FREESWITCH_ESL_PASSWORD
        if not password or password == "ClueCon":
            raise CommandError(
                "FREESWITCH_ESL_PASSWORD is empty or the stock 'ClueCon': set a real secret "
                "(the same as in freeswitch_conf's event_socket)."
            )
        if not settings.FREESWITCH_NODES:
            raise CommandError("FREESWITCH_NODES is empty: nothing to connect to.")
        store().nodes_sync()
        flows = discover()
        workers = [
            NodeWorker(
                name,
                node["host"],
                node["port"],
                password,
                flows,
                reply_timeout=settings.CALLCONTROL_REPLY_TIMEOUT,
                push_interval=settings.CALLCONTROL_PUSH_INTERVAL,
            )
            for name, node in settings.FREESWITCH_NODES.items()
        ]
        # Everything loaded so far (Django, the flows, their modules) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise walk it all and
        # pause the event stream for tens of milliseconds at a time.
        gc.collect()
        gc.freeze()
        server = OutboundSocketServer(
            settings.CALLCONTROL_SOCKET_HOST, settings.CALLCONTROL_SOCKET_PORT, flows
        )
        server.start()
        self.stdout.write(
            f"call control: flows {', '.join(f.name for f in flows)}; "
            f"nodes {', '.join(settings.FREESWITCH_NODES)}; "
            f"outbound socket on {settings.CALLCONTROL_SOCKET_HOST}:{server.port}"
        )
        self.stdout.flush()

        def stop(*_args) -> None:
            log.info("stopping")
            for worker in workers:
                worker.stop()
            server.stop()

        gevent.signal_handler(signal.SIGTERM, stop)
        gevent.signal_handler(signal.SIGINT, stop)
        gevent.joinall([gevent.spawn(w.run) for w in workers])
