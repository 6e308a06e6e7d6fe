"""Reads: a customer's menus and schedules as the pure machine's `Plan`, and prompt files."""

from __future__ import annotations

from pathlib import Path

from django.apps import apps

from portal.directory.models import Department, Employee
from portal.menus import rules
from portal.menus.models import Menu, MenuPrompt, NumberRoute, Schedule
from portal.prompts.selectors import prompts_root


def voicemail_available() -> bool:
    """Voicemail boxes as a destination need the voicemail app (portal.voicemail)."""
    return apps.is_installed("portal.voicemail")


def voicemail_boxes(customer_id: int) -> dict[int, str]:
    """Enabled voicemail boxes of the customer by id, with their labels (empty without the
    voicemail app or with its option off: the editor then offers no box)."""
    if not voicemail_available():
        return {}
    from portal.billing.selectors import option_enabled
    from portal.voicemail.models import Mailbox

    if not option_enabled(customer_id, "voicemail"):
        return {}
    rows = Mailbox.objects.filter(customer_id=customer_id, enabled=True).select_related(
        "employee", "department"
    )
    return {int(box.pk): str(getattr(box, "owner_label", "") or box) for box in rows}


def hours_of(schedule: Schedule) -> rules.Hours:
    weekly: dict[int, list] = {}
    for span in schedule.spans.all():
        weekly.setdefault(span.weekday, []).append((span.opens, span.closes))
    exceptions = {}
    for exc in schedule.exceptions.all():
        spans = ((exc.opens, exc.closes),) if exc.opens and exc.closes else ()
        exceptions[exc.date] = spans
    return rules.Hours(
        time_zone=schedule.time_zone,
        weekly={day: tuple(spans) for day, spans in weekly.items()},
        exceptions=exceptions,
    )


def schedules_for(customer_id: int) -> dict[int, rules.Hours]:
    rows = Schedule.objects.filter(customer_id=customer_id).prefetch_related("spans", "exceptions")
    return {s.pk: hours_of(s) for s in rows}


def plan_for(customer) -> rules.Plan:
    """Everything the machine needs for one customer: a fixed number of queries."""
    cid = customer.pk
    menus = {}
    rows = Menu.objects.filter(customer_id=cid).prefetch_related("options", "prompts")
    for menu in rows:
        menus[menu.pk] = rules.MenuSpec(
            id=menu.pk,
            name=menu.name,
            timeout_ms=int(menu.timeout_seconds) * 1000,
            max_retries=int(menu.max_retries),
            direct_dial=menu.direct_dial,
            default_target=menu.default_target,
            options={
                o.key: rules.OptionSpec(
                    key=o.key,
                    target=o.target,
                    schedule_id=o.schedule_id,
                    closed_target=o.closed_target,
                    label=o.label,
                )
                for o in menu.options.all()
            },
            prompts=frozenset((p.kind, p.language) for p in menu.prompts.all() if p.file_path),
        )
    employees = dict(
        Employee.objects.filter(customer_id=cid, is_active=True).values_list("pk", "extension")
    )
    return rules.Plan(
        customer_id=cid,
        menus=menus,
        schedules=schedules_for(cid),
        departments=frozenset(
            Department.objects.filter(customer_id=cid).values_list("pk", flat=True)
        ),
        employees={pk: ext for pk, ext in employees.items() if ext},
        voicemail=frozenset(voicemail_boxes(cid)),
        language=customer.language,
    )


def menu_prompt_file(prompt: MenuPrompt) -> Path:
    return prompts_root() / prompt.file_path


def menu_prompt_path(menu_id: int, kind: str, language: str) -> str | None:
    """The file of a menu's prompt in `language`, else in Russian, else any (None: none)."""
    rows = {
        p.language: p
        for p in MenuPrompt.objects.filter(menu_id=menu_id, kind=kind).exclude(file_path="")
    }
    for lang in (language, "ru", *sorted(rows)):
        if lang in rows:
            return str(menu_prompt_file(rows[lang]))
    return None


def number_route_for(customer_id: int, number_id: int) -> NumberRoute | None:
    return NumberRoute.objects.filter(customer_id=customer_id, number_id=number_id).first()


def callback_hours(
    *, customer_id: int, department_id: int, number_id: int | None
) -> rules.Hours | None:
    """The working hours a queue callback for `department_id` must respect: the schedule of
    the number the caller dialled, else the schedule of a menu key leading to the department
    (the first by id); None: no hours known, any time is fine."""
    schedule_id = None
    if number_id is not None:
        schedule_id = (
            NumberRoute.objects.filter(customer_id=customer_id, number_id=number_id)
            .exclude(schedule=None)
            .values_list("schedule_id", flat=True)
            .first()
        )
    if schedule_id is None:
        from portal.menus.models import MenuOption

        schedule_id = (
            MenuOption.objects.filter(
                menu__customer_id=customer_id, target=f"dept:{int(department_id)}"
            )
            .exclude(schedule=None)
            .order_by("id")
            .values_list("schedule_id", flat=True)
            .first()
        )
    if schedule_id is None:
        return None
    schedule = (
        Schedule.objects.filter(pk=schedule_id, customer_id=customer_id)
        .prefetch_related("spans", "exceptions")
        .first()
    )
    return hours_of(schedule) if schedule is not None else None
