"""Writes: menus, their keys and prompts, schedules, and which numbers start with a menu.

Every destination is checked against the customer before it is saved: an id of another
customer's department, employee, menu or schedule is refused as `ForeignTarget` (the views
answer 404, as for any other tenant's id). A number that starts with a menu is in the
rendered dialplan, so changing that fires a config change; the menus themselves are read by
call control at each call and need none.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.directory.models import Department, Employee, PhoneNumber
from portal.events import announce_config_change
from portal.menus import rules
from portal.menus.models import (
    Menu,
    MenuOption,
    MenuPrompt,
    NumberRoute,
    Schedule,
    ScheduleException,
    ScheduleSpan,
)
from portal.menus.selectors import voicemail_boxes
from portal.prompts import audio, catalog
from portal.prompts.selectors import prompts_root

log = logging.getLogger(__name__)

LANGUAGES = ("ru", "en")
MAX_TEXT = 500


class ForeignTarget(ValidationError):
    """A destination naming something the customer does not own (answered as 404)."""


def check_target(customer, target: str, *, allow_repeat: bool = True) -> str:
    """`target` when this customer may use it; ValidationError / ForeignTarget otherwise."""
    try:
        parsed = rules.parse_target(target)
    except ValueError:
        raise ValidationError(_("Неизвестное назначение."), code="bad_target")
    if parsed.kind == "repeat" and not allow_repeat:
        raise ValidationError(_("«Повторить меню» здесь не подходит."), code="bad_target")
    cid = customer.pk
    kind = parsed.kind
    if kind in ("repeat", "hangup", "number"):
        return str(parsed)
    ident = int(parsed.value)
    if kind == "voicemail":
        if ident not in voicemail_boxes(cid):
            raise ValidationError(
                _("Голосовая почта пока недоступна как назначение меню."), code="no_voicemail"
            )
        return str(parsed)
    model = {"menu": Menu, "dept": Department, "emp": Employee}[kind]
    if not model.objects.filter(pk=ident, customer_id=cid).exists():
        raise ForeignTarget(_("Такого назначения нет."), code="foreign")
    return str(parsed)


def _schedule(customer, schedule_id) -> Schedule | None:
    if schedule_id in (None, ""):
        return None
    schedule = Schedule.objects.filter(pk=int(schedule_id), customer=customer).first()
    if schedule is None:
        raise ForeignTarget(_("Такого расписания нет."), code="foreign")
    return schedule


# -- menus ------------------------------------------------------------------------------------


def menu_save(
    *,
    customer,
    menu: Menu | None = None,
    name: str,
    timeout_seconds: int = 5,
    max_retries: int = 2,
    direct_dial: bool = False,
    default_target: str = "hangup",
) -> Menu:
    name = (name or "").strip()[:120]
    if not name:
        raise ValidationError(_("Укажите название меню."), code="name")
    if not 2 <= int(timeout_seconds) <= 30:
        raise ValidationError(_("Ожидание нажатия: от 2 до 30 секунд."), code="timeout")
    if not 0 <= int(max_retries) <= 5:
        raise ValidationError(_("Повторов при ошибке: от 0 до 5."), code="retries")
    default = check_target(customer, default_target, allow_repeat=False)
    with transaction.atomic():
        if menu is None:
            menu = Menu(customer=customer)
        elif menu.customer_id != customer.pk:
            raise ForeignTarget("menu", code="foreign")
        menu.name = name
        menu.timeout_seconds = int(timeout_seconds)
        menu.max_retries = int(max_retries)
        menu.direct_dial = bool(direct_dial)
        menu.default_target = default
        menu.save()
    return menu


def menu_delete(*, customer, menu: Menu) -> None:
    ref = f"menu:{menu.pk}"
    with transaction.atomic():
        used = (
            MenuOption.objects.filter(menu__customer=customer, target=ref).exists()
            or MenuOption.objects.filter(menu__customer=customer, closed_target=ref).exists()
            or Menu.objects.filter(customer=customer, default_target=ref).exists()
            or NumberRoute.objects.filter(customer=customer, target=ref).exists()
            or NumberRoute.objects.filter(customer=customer, closed_target=ref).exists()
        )
        if used:
            raise ValidationError(
                _("Это меню используется: сначала уберите ссылки на него."), code="in_use"
            )
        files = [p.file_path for p in menu.prompts.all() if p.file_path]
        menu.delete()
        transaction.on_commit(lambda: [_remove(f) for f in files])


def option_set(
    *,
    customer,
    menu: Menu,
    key: str,
    target: str,
    label: str = "",
    schedule_id=None,
    closed_target: str = "",
) -> MenuOption:
    if menu.customer_id != customer.pk:
        raise ForeignTarget("menu", code="foreign")
    if key not in rules.KEYS or len(key) != 1:
        raise ValidationError(_("Клавиша: 0–9, * или #."), code="key")
    target = check_target(customer, target)
    schedule = _schedule(customer, schedule_id)
    closed = check_target(customer, closed_target) if closed_target else ""
    with transaction.atomic():
        option, _created = MenuOption.objects.update_or_create(
            menu=menu,
            key=key,
            defaults={
                "target": target,
                "label": (label or "")[:120],
                "schedule": schedule,
                "closed_target": closed if schedule else "",
            },
        )
    return option


def option_delete(*, customer, menu: Menu, key: str) -> bool:
    if menu.customer_id != customer.pk:
        raise ForeignTarget("menu", code="foreign")
    return MenuOption.objects.filter(menu=menu, key=key).delete()[0] > 0


# -- prompts ------------------------------------------------------------------------------------


def _remove(rel_path: str) -> None:
    root = prompts_root()
    path = (root / rel_path).resolve()
    if root.resolve() in path.parents:
        path.unlink(missing_ok=True)


def _prompt_file(menu: Menu, kind: str, language: str) -> tuple[str, Path]:
    rel = (
        Path("customers")
        / str(int(menu.customer_id))
        / "menus"
        / f"m{int(menu.pk)}-{kind}-{language}-{secrets.token_hex(6)}.wav"
    )
    return str(rel), prompts_root() / rel


def _check_prompt(kind: str, language: str) -> None:
    if kind not in MenuPrompt.Kind.values:
        raise ValidationError("kind", code="kind")
    if language not in LANGUAGES:
        raise ValidationError(_("Язык: русский или английский."), code="language")


def _install_prompt(menu: Menu, kind: str, language: str, produce, **fields) -> MenuPrompt:
    rel, final = _prompt_file(menu, kind, language)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with audio.temp_file(final.parent) as out:
            produce(out)
            with transaction.atomic():
                prompt = (
                    MenuPrompt.objects.select_for_update()
                    .filter(menu=menu, kind=kind, language=language)
                    .first()
                ) or MenuPrompt(menu=menu, kind=kind, language=language)
                old = prompt.file_path
                for name, value in fields.items():
                    setattr(prompt, name, value)
                prompt.file_path = rel
                prompt.save()
                audio.install(out, final)
                if old:
                    transaction.on_commit(lambda: _remove(old))
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return prompt


def prompt_speak(*, customer, menu: Menu, kind: str, language: str, text: str) -> MenuPrompt:
    """The prompt generator speaks `text` (espeak-ng, as the catalog prompts)."""
    if menu.customer_id != customer.pk:
        raise ForeignTarget("menu", code="foreign")
    _check_prompt(kind, language)
    text = " ".join((text or "").split())[:MAX_TEXT]
    if not text:
        raise ValidationError(_("Введите текст сообщения."), code="empty")
    voice = catalog.ESPEAK_VOICES[language]

    def produce(out: Path) -> None:
        audio.synthesize(text, voice=voice, dest=out)

    return _install_prompt(menu, kind, language, produce, text=text, uploaded=False)


def prompt_upload(*, customer, menu: Menu, kind: str, language: str, upload) -> MenuPrompt:
    """A recording of the customer, checked and converted like catalog prompt uploads."""
    from portal.prompts.services import validate_upload

    if menu.customer_id != customer.pk:
        raise ForeignTarget("menu", code="foreign")
    _check_prompt(kind, language)
    data, _info = validate_upload(upload)

    def produce(out: Path) -> None:
        with audio.temp_file(out.parent) as src:
            src.write_bytes(data)
            try:
                audio.to_telephony(src, out)
            except audio.AudioError:
                raise ValidationError(
                    _("Не удалось обработать запись. Сохраните её как WAV PCM."), code="audio"
                )

    return _install_prompt(menu, kind, language, produce, text="", uploaded=True)


def prompt_delete(*, customer, menu: Menu, kind: str, language: str) -> bool:
    if menu.customer_id != customer.pk:
        raise ForeignTarget("menu", code="foreign")
    with transaction.atomic():
        prompt = MenuPrompt.objects.filter(menu=menu, kind=kind, language=language).first()
        if prompt is None:
            return False
        path = prompt.file_path
        prompt.delete()
        if path:
            transaction.on_commit(lambda: _remove(path))
    return True


# -- schedules ----------------------------------------------------------------------------------


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("Неизвестный часовой пояс."), code="time_zone")
    return name


def schedule_save(
    *,
    customer,
    schedule: Schedule | None = None,
    name: str,
    time_zone: str,
    spans: list[tuple[int, dt.time, dt.time]] | None = None,
) -> Schedule:
    """Create or rename a schedule; `spans` (weekday, opens, closes) replace the weekly hours."""
    name = (name or "").strip()[:120]
    if not name:
        raise ValidationError(_("Укажите название расписания."), code="name")
    tz = _time_zone(time_zone)
    for weekday, _opens, _closes in spans or ():
        if not 0 <= int(weekday) <= 6:
            raise ValidationError(_("День недели: от 0 до 6."), code="weekday")
    with transaction.atomic():
        if schedule is None:
            schedule = Schedule(customer=customer)
        elif schedule.customer_id != customer.pk:
            raise ForeignTarget("schedule", code="foreign")
        schedule.name, schedule.time_zone = name, tz
        schedule.save()
        if spans is not None:
            schedule.spans.all().delete()
            ScheduleSpan.objects.bulk_create(
                ScheduleSpan(schedule=schedule, weekday=int(w), opens=o, closes=c)
                for w, o, c in spans
            )
    return schedule


def schedule_exception_set(
    *,
    customer,
    schedule: Schedule,
    date: dt.date,
    opens: dt.time | None = None,
    closes: dt.time | None = None,
    note: str = "",
) -> ScheduleException:
    """A holiday (no hours) or a day with its own hours."""
    if schedule.customer_id != customer.pk:
        raise ForeignTarget("schedule", code="foreign")
    if (opens is None) != (closes is None):
        raise ValidationError(_("Укажите и начало, и конец, или ни того ни другого."), code="hours")
    exc, _created = ScheduleException.objects.update_or_create(
        schedule=schedule,
        date=date,
        defaults={"opens": opens, "closes": closes, "note": (note or "")[:120]},
    )
    return exc


def schedule_delete(*, customer, schedule: Schedule) -> None:
    if schedule.customer_id != customer.pk:
        raise ForeignTarget("schedule", code="foreign")
    in_use = (
        MenuOption.objects.filter(schedule=schedule).exists()
        or NumberRoute.objects.filter(schedule=schedule).exists()
    )
    if in_use:
        raise ValidationError(
            _("Расписание используется: сначала отвяжите его от номеров и клавиш."), code="in_use"
        )
    schedule.delete()


# -- numbers ------------------------------------------------------------------------------------

ROUTED_KINDS = (PhoneNumber.Kind.MULTICHANNEL, PhoneNumber.Kind.REGULAR)


def number_route_set(
    *, customer, number: PhoneNumber, target: str, schedule_id=None, closed_target: str = ""
) -> NumberRoute:
    """The number starts with `target` (usually a menu); with a schedule, outside its hours
    with `closed_target`. Shown to FreeSWITCH at the next call (config change)."""
    if number.customer_id != customer.pk:
        raise ForeignTarget("number", code="foreign")
    if number.kind not in ROUTED_KINDS:
        raise ValidationError(
            _("Голосовое меню ставится на обычный или многоканальный номер."), code="kind"
        )
    target = check_target(customer, target, allow_repeat=False)
    schedule = _schedule(customer, schedule_id)
    closed = check_target(customer, closed_target, allow_repeat=False) if closed_target else ""
    with transaction.atomic():
        route, _created = NumberRoute.objects.update_or_create(
            number=number,
            defaults={
                "customer": customer,
                "target": target,
                "schedule": schedule,
                "closed_target": closed if schedule else "",
            },
        )
        announce_config_change(customer_id=customer.pk, what="number")
    return route


def number_route_delete(*, customer, number: PhoneNumber) -> bool:
    if number.customer_id != customer.pk:
        raise ForeignTarget("number", code="foreign")
    with transaction.atomic():
        deleted = NumberRoute.objects.filter(customer=customer, number=number).delete()[0] > 0
        if deleted:
            announce_config_change(customer_id=customer.pk, what="number")
    return deleted
