"""`manage.py serve`: run the whole product on one machine, on the embedded defaults.

Migrates, creates the demo customer (with --demo), then starts and watches the portal
(ASGI: HTTP + websockets), the django-q2 cluster (timed work: accruals, callbacks) and, when a
FreeSWITCH ESL password is configured, the call-control service. Ctrl-C stops them all.
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
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run portal + task cluster (+ call control) together; prints the URL and login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--demo", action="store_true", help="create the demo customer")

    def handle(self, *args, addr: str, demo: bool, **options) -> None:
        self.stdout.write("== migrating the database")
        call_command("migrate", verbosity=0, interactive=False)
        if demo:
            self.stdout.write("== creating the demo customer (seed 001)")
            call_command("demo", stdout=self.stdout)
        if shutil.which("espeak-ng") and shutil.which("sox"):
            self.stdout.write("== voice prompts (espeak-ng; skipped when up to date)")
            call_command("prompts_generate", stdout=self.stdout)
        else:
            self.stdout.write(
                "== voice prompts not generated: install espeak-ng and sox "
                "(apt-get install espeak-ng sox), then run manage.py prompts_generate"
            )
        manage = [sys.executable, os.path.join(settings.BASE_DIR, "manage.py")]
        commands = {
            "portal": [*manage, "runserver", "--noreload", "--insecure", addr],
            "tasks": [*manage, "qcluster"],
        }
        if settings.FREESWITCH_ESL_PASSWORD:
            commands["callcontrol"] = [*manage, "callcontrol"]
        else:
            self.stdout.write(
                "== call control is off: set FREESWITCH_ESL_PASSWORD (and FREESWITCH_NODES) "
                "to connect to FreeSWITCH"
            )
        children = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
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
