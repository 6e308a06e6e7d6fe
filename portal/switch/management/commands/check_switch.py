"""`manage.py check_switch`: each node's ESL and config-sync state, and refuse unsafe settings.

The state comes from the database (what the call-control service wrote); this command does not
connect to FreeSWITCH. Exit status 1 (CommandError) when a setting is unsafe.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.switch.checks import settings_problems
from portal.switch.selectors import node_status_rows


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


class Command(BaseCommand):
    help = "Show FreeSWITCH node state and refuse unsafe FreeSWITCH settings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--conf-dir",
            action="append",
            type=Path,
            default=[],
            help="a FreeSWITCH config dir a node runs (e.g. /etc/freeswitch); repeatable. "
            "Default: FREESWITCH_CONF_DIR.",
        )

    def handle(self, *args, conf_dir: list[Path], **options):
        rows = node_status_rows(configured_only=True)
        if not rows:
            self.stdout.write("No FreeSWITCH nodes configured (FREESWITCH_NODES).")
        for row in rows:
            self.stdout.write(
                f"{row.name} {row.host}:{row.port}\n"
                f"  ESL: {row.esl_state} since {_when(row.esl_state_since)}"
                + (f" ({row.esl_error})" if row.esl_error else "")
                + f"\n  last event: {_when(row.last_event_at)}\n"
                f"  config: {row.sync_state}: {row.sync_text}"
            )
        for path in conf_dir:
            if not path.is_dir():
                raise CommandError(f"{path}: not a directory")
        problems = []
        for path in conf_dir or [None]:
            problems.extend(p for p in settings_problems(path) if p not in problems)
        if problems:
            lines = "\n".join(f"  [{check_id}] {msg}" for check_id, msg in problems)
            raise CommandError(f"Unsafe FreeSWITCH settings, refusing:\n{lines}")
        self.stdout.write(self.style.SUCCESS("FreeSWITCH settings look safe."))
