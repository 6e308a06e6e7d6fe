"""Reads: which hold music a caller hears, and how much storage a customer's music takes.

Every path handed to FreeSWITCH is absolute, under the prompts root, and made only of
`[A-Za-z0-9_./-]` (`portal.prompts.selectors.SAFE_PATH_RE`); a row whose path is not is ignored
(the stock music plays), so a bad row can never put anything else into the XML.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from django.db.models import Q, Sum

from portal.billing.models import Option
from portal.billing.selectors import customers_with_option, option_enabled
from portal.directory.models import Department
from portal.moh.models import HoldMusic
from portal.prompts.selectors import SAFE_PATH_RE, prompts_root

MOH_DIR = "moh"  # under PROMPTS_DIR


def music_file(music: HoldMusic) -> Path:
    return prompts_root() / music.file_path


def music_path(music: HoldMusic) -> str | None:
    """The absolute path FreeSWITCH plays for `music`, or None if it is not a safe one."""
    text = str(music_file(music))
    expected = f"{prompts_root()}/{MOH_DIR}/c{int(music.customer_id)}/"
    if not SAFE_PATH_RE.match(text) or "/../" in text or not text.startswith(expected):
        return None
    return text


def hold_music_list(customer_id: int) -> list[HoldMusic]:
    return list(
        HoldMusic.objects.filter(customer_id=customer_id).select_related(
            "department", "uploaded_by"
        )
    )


def _chosen(rows: Iterable[HoldMusic], department_id: int | None) -> str | None:
    """The department's music, else the customer-wide one (rows of one customer)."""
    by_department = {m.department_id: m for m in rows}
    for key in ([department_id] if department_id else []) + [None]:
        music = by_department.get(key)
        if music is not None and (path := music_path(music)):
            return path
    return None


def inbound_hold_music(customer_id: int, department_id: int | None) -> str | None:
    """What callers to a number of `department_id` hear on hold: the department's music, else
    the customer's, else None (the stock music). None too while the option is off."""
    if not option_enabled(customer_id, Option.MOH):
        return None
    wanted = Q(department__isnull=True)
    if department_id:
        wanted |= Q(department_id=department_id)
    return _chosen(HoldMusic.objects.filter(wanted, customer_id=customer_id), department_id)


def queue_hold_music(department_ids: Iterable[int]) -> dict[int, str]:
    """{department id: path} for the departments whose customer has the option on and music
    for it (its own, else the customer's). Three queries whatever the number of queues."""
    owners = dict(
        Department.objects.filter(pk__in=list(department_ids)).values_list("id", "customer_id")
    )
    customers = customers_with_option(set(owners.values()), Option.MOH)
    if not customers:
        return {}
    rows: dict[int, list[HoldMusic]] = {}
    for music in HoldMusic.objects.filter(customer_id__in=customers):
        rows.setdefault(music.customer_id, []).append(music)
    out = {}
    for department_id, customer_id in owners.items():
        if customer_id in customers and (path := _chosen(rows.get(customer_id, ()), department_id)):
            out[department_id] = path
    return out


def hold_music_bytes(customer_id: int) -> int:
    """Bytes the customer's hold music takes (counted against the storage quota)."""
    return (
        HoldMusic.objects.filter(customer_id=customer_id).aggregate(n=Sum("size_bytes"))["n"] or 0
    )
