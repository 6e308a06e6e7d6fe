"""Blacklist writes. Every change of the list or the settings changes the public dialplan of
the customer's numbers, so it announces a config change (the cached answers are dropped and
the next call is matched against the new list)."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from portal.blacklist import rules, selectors
from portal.blacklist.models import BlacklistEntry, BlacklistSettings
from portal.calls.models import CallRecord
from portal.events import announce_config_change
from portal.tenants.models import Customer

log = logging.getLogger(__name__)
WHAT = "blacklist"
MAX_IMPORT_BYTES = 1024 * 1024


def _settings_row(customer: Customer) -> None:
    """Every write leaves a settings row: the dialplan reads the list only where there is one."""
    BlacklistSettings.objects.get_or_create(customer=customer)


def _check_room(customer: Customer, adding: int = 1) -> None:
    if selectors.entries(customer.pk).count() + adding > rules.MAX_ENTRIES:
        raise ValidationError(
            _("В списке не больше %(max)s записей.") % {"max": rules.MAX_ENTRIES}, code="full"
        )


def blacklist_settings_set(
    *, customer: Customer, action: str, block_anonymous: bool
) -> BlacklistSettings:
    if action not in BlacklistSettings.Action.values:
        raise ValidationError(_("Неизвестное действие."), code="action")
    with transaction.atomic():
        row, _created = BlacklistSettings.objects.update_or_create(
            customer=customer, defaults={"action": action, "block_anonymous": block_anonymous}
        )
        announce_config_change(customer_id=customer.pk, what=WHAT)
    return row


def entry_add(
    *, customer: Customer, kind: str, value: str, comment: str = "", user=None
) -> BlacklistEntry:
    """Add a number or prefix (normalised to E.164 digits); ValidationError when it cannot
    be read or is already on the list."""
    digits = rules.normalise(kind, value)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)  # one writer per list
        _settings_row(customer)
        _check_room(customer)
        if BlacklistEntry.objects.filter(customer=customer, kind=kind, digits=digits).exists():
            raise ValidationError(
                _("«+%(digits)s» уже в списке.") % {"digits": digits}, code="duplicate"
            )
        entry = BlacklistEntry.objects.create(
            customer=customer, kind=kind, digits=digits, comment=comment[:200], created_by=user
        )
        announce_config_change(customer_id=customer.pk, what=WHAT)
    return entry


def entry_delete(*, customer: Customer, entry_id: int) -> bool:
    with transaction.atomic():
        deleted, _rows = BlacklistEntry.objects.filter(customer=customer, pk=entry_id).delete()
        if deleted:
            announce_config_change(customer_id=customer.pk, what=WHAT)
    return bool(deleted)


def entry_add_from_call(*, customer: Customer, call_id: int, user=None) -> BlacklistEntry:
    """Put the caller of one of the customer's incoming calls on the list. The call is looked
    up through the customer (another tenant's call: `CallRecord.DoesNotExist`)."""
    call = CallRecord.objects.get(
        pk=call_id, customer=customer, direction=CallRecord.Direction.INBOUND
    )
    from portal.directory.phone import caller_e164

    number = caller_e164(call.caller_number)
    if number is None:
        raise ValidationError(_("У этого звонка нет номера звонящего."), code="anonymous")
    return entry_add(
        customer=customer,
        kind=rules.NUMBER,
        value=number,
        comment=_("из истории звонков"),
        user=user,
    )


@dataclass
class ImportResult:
    added: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def entries_import_csv(*, customer: Customer, data: bytes, user=None) -> ImportResult:
    """Import a CSV (`number[,comment]` or `prefix|number,<value>[,comment]` per row, `,` or
    `;`). All or nothing: any unreadable row and nothing is added (the errors say which)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(_("Файл больше 1 МБ."), code="too_big")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:
            raise ValidationError(_("Файл не в UTF-8 и не в cp1251."), code="encoding") from None
    # Spreadsheets save with "," or ";" (or tabs): the most frequent of them in the file.
    head = text[:4096]
    delimiter = max(",;\t", key=head.count) if any(d in head for d in ",;\t") else ","
    result = ImportResult()
    wanted: dict[tuple[str, str], str] = {}
    for line, kind, value, comment in rules.parse_csv_rows(
        csv.reader(io.StringIO(text), delimiter=delimiter)
    ):
        try:
            digits = rules.normalise(kind, value)
        except ValidationError as exc:
            result.errors.append(
                _("Строка %(line)s: %(error)s") % {"line": line, "error": exc.messages[0]}
            )
            continue
        if (kind, digits) in wanted:
            result.duplicates += 1
        wanted.setdefault((kind, digits), comment)
    if result.errors:
        return result
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        _settings_row(customer)
        have = set(selectors.entries(customer.pk).values_list("kind", "digits"))
        new = [key for key in wanted if key not in have]
        result.duplicates += len(wanted) - len(new)
        _check_room(customer, len(new))
        try:
            BlacklistEntry.objects.bulk_create(
                [
                    BlacklistEntry(
                        customer=customer, kind=k, digits=d, comment=wanted[(k, d)], created_by=user
                    )
                    for k, d in new
                ]
            )
        except IntegrityError:  # pragma: no cover - serialised by the customer row lock
            raise
        result.added = len(new)
        if new:
            announce_config_change(customer_id=customer.pk, what=WHAT)
    return result
