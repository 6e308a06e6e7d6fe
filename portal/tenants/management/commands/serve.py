"""`manage.py serve`: run the whole product, on the embedded defaults or in production.

Migrates, creates the demo customer (with --demo), then starts and watches the portal, the
django-q2 cluster (timed work: accruals, callbacks) and, when a FreeSWITCH ESL password is
configured, the call-control service. Ctrl-C stops them all.

The portal runs on a production server: gunicorn with uvicorn workers (ASGI: HTTP and
websockets; mod_xml_curl's lookups on `pbx.xmlserve`). Workers: `PORTAL_WORKERS`, by default
one per core with Redis, one without (the in-memory channel layer cannot span processes). On
PostgreSQL each worker keeps a bounded pool of connections (`DB_POOL_MAX_SIZE`, default 4),
lowered if workers x pool would not fit in the server's max_connections.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection


def portal_workers() -> int:
    configured = os.environ.get("PORTAL_WORKERS", "").strip()
    if configured:
        return max(1, int(configured))
    return max(1, os.cpu_count() or 1) if settings.REDIS_URL else 1


def gunicorn_command(addr: str, workers: int) -> list[str]:
    """The production server: gunicorn managing uvicorn workers on `portal.asgi`."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.asgi:application",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        str(workers),
        "--bind",
        addr,
        "--graceful-timeout",
        "10",
        "--keep-alive",
        "75",
        "--log-level",
        "warning",
    ]


class Command(BaseCommand):
    help = "Run portal + task cluster (+ call control) together; prints the URL and login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--demo", action="store_true", help="create the demo customer")
        parser.add_argument(
            "--no-prompts",
            action="store_true",
            help="do not generate voice prompts (they are on a shared mount, or made elsewhere)",
        )

    def pool_size(self, workers: int) -> int:
        """Connections per portal worker: DB_POOL_MAX_SIZE (default 4), at most what fits in
        PostgreSQL's max_connections beside the other processes. 0: not PostgreSQL."""
        if connection.vendor != "postgresql":
            return 0
        wanted = int(os.environ.get("DB_POOL_MAX_SIZE") or 4)
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_connections")
            limit = int(cursor.fetchone()[0])
        # task cluster workers, call control, migrations and an operator's psql
        reserve = settings.Q_CLUSTER.get("workers", 2) + 10
        fits = max(1, (limit - reserve) // workers)
        if fits < wanted:
            self.stdout.write(
                f"== PostgreSQL allows {limit} connections: pool lowered from {wanted} to "
                f"{fits} per worker"
            )
        return min(wanted, fits)

    def handle(self, *args, addr: str, demo: bool, no_prompts: bool = False, **options) -> None:
        from portal.web.checks import production_problems

        problems = production_problems()
        if problems and not demo:
            # Without --demo this is production: refuse rather than serve forgeable sessions.
            lines = "\n".join(f"  [{check_id}] {msg}" for check_id, msg in problems)
            raise CommandError(
                f"Refusing to start in production:\n{lines}\n"
                "(`serve --demo` runs the embedded defaults for a local trial.)"
            )
        for check_id, msg in problems:
            self.stdout.write(f"== warning [{check_id}] {msg}")
        self.stdout.write("== migrating the database")
        call_command("migrate", verbosity=0, interactive=False)
        if demo:
            self.stdout.write("== creating the demo customer (seed 001)")
            call_command("demo", stdout=self.stdout)
        if no_prompts:
            self.stdout.write("== voice prompts: not generated (--no-prompts)")
        elif shutil.which("espeak-ng") and shutil.which("sox"):
            self.stdout.write("== voice prompts (espeak-ng; skipped when up to date)")
            call_command("prompts_generate", stdout=self.stdout)
        else:
            self.stdout.write(
                "== voice prompts not generated: install espeak-ng and sox "
                "(apt-get install espeak-ng sox), then run manage.py prompts_generate"
            )
        from pbx import xmlcache

        try:  # entries rendered from another database (or before a restore) must not answer
            xmlcache.store().clear()
        except Exception as exc:
            self.stdout.write(f"== xml cache not cleared ({exc}); lookups render meanwhile")
        manage = [sys.executable, os.path.join(settings.BASE_DIR, "manage.py")]
        workers = portal_workers()
        # PGAPPNAME: the portal's connections are recognisable in pg_stat_activity
        portal_env = {"PGAPPNAME": "pbx-portal", **os.environ}
        pool = self.pool_size(workers)
        if pool:
            portal_env["DB_POOL_MAX_SIZE"] = str(pool)
        self.stdout.write(
            f"== portal: gunicorn, {workers} uvicorn worker(s)"
            + (f", PostgreSQL pool of {pool} per worker" if pool else "")
        )
        commands = {
            "portal": gunicorn_command(addr, workers),
            "tasks": [*manage, "qcluster"],
        }
        envs = {"portal": portal_env}
        if settings.FREESWITCH_ESL_PASSWORD:
            commands["callcontrol"] = [*manage, "callcontrol"]
        else:
            self.stdout.write(
                "== call control is off: set FREESWITCH_ESL_PASSWORD (and FREESWITCH_NODES) "
                "to connect to FreeSWITCH"
            )
        children = {
            name: subprocess.Popen(cmd, env=envs.get(name), cwd=settings.BASE_DIR)
            for name, cmd in commands.items()
        }
        self.stdout.write(self.style.SUCCESS(f"== portal: http://{addr}/  (Ctrl-C stops)"))
        if demo:
            self.stdout.write("   login: demo / demo-pbx-2026")
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with {child.returncode}; stopping")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
