"""Pages of "Настроить АТС" -> "Голосовое меню": menus (a tree of keys and destinations),
their prompts with "listen" buttons, schedules, which numbers start with a menu, and the
simulator. Views validate and call one service; objects are found through the customer, so
another tenant's id (a menu, a schedule, a destination) is a 404.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from pbx.render import e164
from portal.billing.selectors import option_enabled
from portal.directory.models import Department, Employee, PhoneNumber
from portal.menus import rules, selectors, services
from portal.menus.models import Menu, MenuPrompt, Schedule
from portal.web.access import customer_page

KEYS = "1234567890*#"
WEEKDAYS = [
    gettext_lazy("Понедельник"),
    gettext_lazy("Вторник"),
    gettext_lazy("Среда"),
    gettext_lazy("Четверг"),
    gettext_lazy("Пятница"),
    gettext_lazy("Суббота"),
    gettext_lazy("Воскресенье"),
]
PROMPT_KINDS = [
    ("greeting", gettext_lazy("Приветствие")),
    ("invalid", gettext_lazy("Неверная клавиша")),
    ("timeout", gettext_lazy("Ничего не нажато")),
]
LANGUAGES = [("ru", "Русский"), ("en", "English")]
PROBLEMS = {
    "missing_greeting": gettext_lazy(
        "Нет приветствия: звонящий не узнает, какие клавиши нажимать."
    ),
    "unknown_target": gettext_lazy("Назначение клавиши больше не существует."),
    "voicemail_unavailable": _(
        "Голосовая почта недоступна: подключите опцию «Голосовая почта» и создайте ящик."
    ),
    "no_exit": _(
        "Из меню нельзя выйти: все клавиши и действие по умолчанию ведут в меню по кругу."
    ),
    "bad_default": gettext_lazy("После последней попытки нельзя «повторить меню»."),
}


def _page_language(request) -> str:
    lang = getattr(request, "LANGUAGE_CODE", "ru") or "ru"
    return "en" if lang.startswith("en") else "ru"


def destinations(customer, *, allow_repeat: bool = True) -> list[tuple[str, str]]:
    """(value, label) of everything a key may lead to, for the selects."""
    out: list[tuple[str, str]] = []
    for menu in Menu.objects.filter(customer=customer):
        out.append((f"menu:{menu.pk}", _("Меню «%(name)s»") % {"name": menu.name}))
    for dept in Department.objects.for_customer(customer):
        out.append((f"dept:{dept.pk}", _("Отдел «%(name)s»") % {"name": dept.name}))
    for emp in Employee.objects.for_customer(customer).filter(is_active=True):
        out.append(
            (
                f"emp:{emp.pk}",
                _("Сотрудник %(name)s (%(ext)s)") % {"name": emp.name, "ext": emp.extension},
            )
        )
    for pk, label in selectors.voicemail_boxes(customer.pk).items():
        out.append((f"voicemail:{pk}", _("Голосовая почта: %(box)s") % {"box": label}))
    if allow_repeat:
        out.append(("repeat", _("Повторить меню")))
    out.append(("hangup", _("Попрощаться и положить трубку")))
    out.append(("number", _("Внешний номер…")))
    return out


def describe(customer, target: str, labels: dict[str, str]) -> str:
    if not target:
        return ""
    if target.startswith("number:"):
        return _("Внешний номер %(n)s") % {"n": target[7:]}
    return labels.get(target) or _("назначение удалено")


def _tree(plan: rules.Plan, menu_id: int, labels, customer, seen: tuple[int, ...] = ()) -> dict:
    menu = plan.menus[menu_id]
    node = {"id": menu_id, "name": menu.name, "options": [], "loop": menu_id in seen}
    if menu_id in seen:
        return node
    for key in KEYS:
        option = menu.options.get(key)
        if option is None:
            continue
        child = None
        if option.target.startswith("menu:"):
            child_id = int(option.target[5:])
            if child_id in plan.menus:
                child = _tree(plan, child_id, labels, customer, (*seen, menu_id))
        node["options"].append(
            {
                "key": key,
                "label": option.label,
                "target": describe(customer, option.target, labels),
                "closed": describe(customer, option.closed_target, labels)
                if option.schedule_id
                else "",
                "child": child,
            }
        )
    node["default"] = describe(customer, menu.default_target, labels)
    return node


def _problems(plan: rules.Plan, menu_id: int | None = None) -> list[dict]:
    out = []
    for p in rules.validate(plan):
        if menu_id is not None and p.menu_id != menu_id:
            continue
        menu = plan.menus.get(p.menu_id)
        out.append(
            {"menu": menu.name if menu else "", "key": p.key, "text": PROBLEMS.get(p.code, p.code)}
        )
    return out


@customer_page
@require_GET
def index(request):
    customer = request.customer
    plan = selectors.plan_for(customer)
    numbers = (
        PhoneNumber.objects.for_customer(customer)
        .filter(kind__in=services.ROUTED_KINDS)
        .select_related("menu_route", "department")
        .order_by("e164")
    )
    labels = dict(destinations(customer))
    rows = []
    for n in numbers:
        route = getattr(n, "menu_route", None)
        rows.append(
            {
                "number": n,
                "route": route,
                "target": describe(customer, route.target, labels) if route else "",
            }
        )
    return render(
        request,
        "menus/index.html",
        {
            "menus": Menu.objects.filter(customer=customer),
            "schedules": Schedule.objects.filter(customer=customer),
            "numbers": rows,
            "problems": _problems(plan),
            "ivr_on": option_enabled(customer.pk, "ivr"),
            "start_choices": destinations(customer, allow_repeat=False),
            "can_edit": request.user.is_customer_admin,
        },
    )


def _menu(request, pk: int) -> Menu:
    return get_object_or_404(Menu, pk=pk, customer=request.customer)


def _error(request, exc: ValidationError) -> None:
    if isinstance(exc, services.ForeignTarget):
        raise Http404("not this customer's")
    for message in exc.messages:
        messages.error(request, message)


def _target_from(post, prefix: str) -> str:
    value = post.get(prefix, "")
    if value == "number":
        number = e164(post.get(f"{prefix}_number", "").replace(" ", ""))
        if number is None:
            raise ValidationError(_("Внешний номер: укажите его полностью, например +74951234567."))
        return f"number:{number}"
    return value


@customer_page
@require_POST
def create(request):
    try:
        menu = services.menu_save(customer=request.customer, name=request.POST.get("name", ""))
    except ValidationError as exc:
        _error(request, exc)
        return redirect("menus:index")
    return redirect("menus:detail", pk=menu.pk)


@customer_page
@require_GET
def detail(request, pk: int):
    customer = request.customer
    menu = _menu(request, pk)
    plan = selectors.plan_for(customer)
    choices = destinations(customer)
    labels = dict(choices)
    options = {o.key: o for o in menu.options.all()}
    prompts = {(p.kind, p.language): p for p in menu.prompts.all()}
    rows = []
    for key in KEYS:
        option = options.get(key)
        rows.append(
            {
                "key": key,
                "option": option,
                "target": option.target if option else "",
                "closed": option.closed_target if option else "",
            }
        )
    prompt_rows = [
        {
            "kind": kind,
            "label": label,
            "languages": [
                {"code": code, "name": name, "prompt": prompts.get((kind, code))}
                for code, name in LANGUAGES
            ],
        }
        for kind, label in PROMPT_KINDS
    ]
    return render(
        request,
        "menus/detail.html",
        {
            "menu": menu,
            "rows": rows,
            "choices": choices,
            "default_choices": [c for c in choices if c[0] != "repeat"],
            "schedules": Schedule.objects.filter(customer=customer),
            "prompt_rows": prompt_rows,
            "tree": _tree(plan, menu.pk, labels, customer),
            "problems": _problems(plan, menu.pk),
            "voicemail_available": bool(selectors.voicemail_boxes(customer.pk)),
            "can_edit": request.user.is_customer_admin,
        },
    )


@customer_page
@require_POST
def save(request, pk: int):
    """The menu's settings and every key at once (a key with no destination is removed)."""
    customer = request.customer
    menu = _menu(request, pk)
    post = request.POST
    try:
        services.menu_save(
            customer=customer,
            menu=menu,
            name=post.get("name", ""),
            timeout_seconds=int(post.get("timeout_seconds") or 5),
            max_retries=int(post.get("max_retries") or 0),
            direct_dial=post.get("direct_dial") == "on",
            default_target=_target_from(post, "default"),
        )
        for key in KEYS:
            field = f"key_{'star' if key == '*' else 'hash' if key == '#' else key}"
            target = _target_from(post, field)
            if not target:
                services.option_delete(customer=customer, menu=menu, key=key)
                continue
            schedule = post.get(f"{field}_schedule") or None
            services.option_set(
                customer=customer,
                menu=menu,
                key=key,
                target=target,
                label=post.get(f"{field}_label", ""),
                schedule_id=schedule,
                closed_target=_target_from(post, f"{field}_closed") if schedule else "",
            )
    except ValueError:
        return HttpResponseBadRequest("bad number")
    except ValidationError as exc:
        _error(request, exc)
        return redirect("menus:detail", pk=menu.pk)
    messages.success(request, _("Меню сохранено."))
    return redirect("menus:detail", pk=menu.pk)


@customer_page
@require_POST
def delete(request, pk: int):
    menu = _menu(request, pk)
    try:
        services.menu_delete(customer=request.customer, menu=menu)
    except ValidationError as exc:
        _error(request, exc)
        return redirect("menus:detail", pk=menu.pk)
    return redirect("menus:index")


@customer_page
@require_POST
def prompt(request, pk: int, kind: str, language: str):
    """Speak a text with the prompt generator, upload a recording, or remove the prompt."""
    customer = request.customer
    menu = _menu(request, pk)
    if kind not in MenuPrompt.Kind.values or language not in services.LANGUAGES:
        raise Http404("no such prompt")
    try:
        if request.POST.get("remove"):
            services.prompt_delete(customer=customer, menu=menu, kind=kind, language=language)
        elif request.FILES.get("file"):
            services.prompt_upload(
                customer=customer,
                menu=menu,
                kind=kind,
                language=language,
                upload=request.FILES["file"],
            )
        else:
            services.prompt_speak(
                customer=customer,
                menu=menu,
                kind=kind,
                language=language,
                text=request.POST.get("text", ""),
            )
    except ValidationError as exc:
        _error(request, exc)
    return redirect(reverse("menus:detail", args=[menu.pk]) + "#prompts")


@customer_page
@require_GET
def prompt_audio(request, pk: int, kind: str, language: str):
    menu = _menu(request, pk)
    row = (
        MenuPrompt.objects.filter(menu=menu, kind=kind, language=language)
        .exclude(file_path="")
        .first()
    )
    if row is None:
        raise Http404("no prompt")
    path = selectors.menu_prompt_file(row)
    if not path.is_file():
        raise Http404("no file")
    response = FileResponse(path.open("rb"), content_type="audio/wav")
    response["Cache-Control"] = "private, no-store"
    return response


# -- the simulator ----------------------------------------------------------------------------


@customer_page
@require_GET
def simulator(request, pk: int):
    menu = _menu(request, pk)
    return render(
        request,
        "menus/simulator.html",
        {
            "menu": menu,
            "keys": "123456789*0#",
            "step_url": reverse("menus:simulate", args=[menu.pk]),
        },
    )


def _say_json(request, customer, say: rules.Say, language: str) -> dict:
    if say.menu_id is not None:
        has = MenuPrompt.objects.filter(
            menu_id=say.menu_id, menu__customer=customer, kind=say.kind
        ).exclude(file_path="")
        row = has.filter(language=language).first() or has.first()
        if row is not None:
            url = reverse("menus:prompt_audio", args=[say.menu_id, say.kind, row.language])
            return {"url": url, "text": row.text}
        key = {"greeting": rules.P_DEFAULT_GREETING, "invalid": rules.P_INVALID}.get(
            say.kind, rules.P_NO_INPUT
        )
    else:
        key = say.key
    from portal.prompts import catalog

    return {
        "url": reverse("prompts:default_audio", args=[language, key]),
        "text": catalog.get(key).text(language),
    }


def _go_text(customer, plan: rules.Plan, go: rules.Go) -> str:
    if go.kind == "ext":
        return _("Внутренний номер %(ext)s") % {"ext": go.value}
    labels = dict(destinations(customer))
    return describe(customer, f"{go.kind}:{go.value}", labels)


@customer_page(staff_may_write=True)
@require_POST
def simulate(request, pk: int):
    """One step of the same machine the switch runs: JSON in (`state`, `digits`, `at`), the
    next state and what the caller hears or where they go out."""
    customer = request.customer
    menu = _menu(request, pk)
    try:
        body = json.loads(request.body or b"{}")
        state = rules.State.from_dict(body["state"]) if body.get("state") else None
        digits = body.get("digits")
        if digits is not None and (not isinstance(digits, str) or len(digits) > 16):
            raise ValueError("digits")
        now = timezone.now()
        if body.get("at"):
            local = dt.datetime.fromisoformat(str(body["at"]))
            if local.tzinfo is None:
                local = local.replace(tzinfo=ZoneInfo(customer.time_zone))
            now = local
    except (ValueError, TypeError, KeyError, AttributeError):
        return JsonResponse({"error": "bad request"}, status=400)
    if (
        state is not None
        and state.menu_id is not None
        and state.menu_id
        not in set(Menu.objects.filter(customer=customer).values_list("pk", flat=True))
    ):
        raise Http404("not this customer's menu")
    plan = selectors.plan_for(customer)
    language = _page_language(request)
    if state is None:
        state, act = rules.start(plan, f"menu:{menu.pk}", now=now)
    else:
        state, act = rules.on_input(plan, state, digits, now=now)
    out = {"state": state.as_dict()}
    if isinstance(act, rules.Ask):
        current = plan.menus[act.menu_id]
        labels = dict(destinations(customer))
        out["action"] = "ask"
        out["menu"] = {
            "id": current.id,
            "name": current.name,
            "options": [
                {
                    "key": k,
                    "label": current.options[k].label,
                    "target": describe(customer, current.options[k].target, labels),
                }
                for k in KEYS
                if k in current.options
            ],
        }
        out["prompts"] = [_say_json(request, customer, s, language) for s in act.prompts]
    elif isinstance(act, rules.Go):
        out["action"] = "go"
        out["destination"] = _go_text(customer, plan, act)
        out["prompts"] = []
    else:
        out["action"] = "end"
        out["prompts"] = [_say_json(request, customer, s, language) for s in act.prompts]
    return JsonResponse(out)


# -- schedules ------------------------------------------------------------------------------


def _time(value: str) -> dt.time | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ValidationError(_("Время: ЧЧ:ММ, например 09:00."))


@customer_page
@require_POST
def schedule_create(request):
    try:
        schedule = services.schedule_save(
            customer=request.customer,
            name=request.POST.get("name", ""),
            time_zone=request.customer.time_zone,
            spans=[(d, dt.time(9), dt.time(18)) for d in range(5)],
        )
    except ValidationError as exc:
        _error(request, exc)
        return redirect("menus:index")
    return redirect("menus:schedule", pk=schedule.pk)


@customer_page
def schedule(request, pk: int):
    customer = request.customer
    row = get_object_or_404(Schedule, pk=pk, customer=customer)
    if request.method == "POST":
        post = request.POST
        try:
            if post.get("exception_date"):
                services.schedule_exception_set(
                    customer=customer,
                    schedule=row,
                    date=dt.date.fromisoformat(post["exception_date"]),
                    opens=_time(post.get("exception_opens", "")),
                    closes=_time(post.get("exception_closes", "")),
                    note=post.get("exception_note", ""),
                )
            elif post.get("remove_exception"):
                row.exceptions.filter(pk=int(post["remove_exception"])).delete()
            else:
                spans = []
                for day in range(7):
                    opens, closes = (
                        _time(post.get(f"opens_{day}", "")),
                        _time(post.get(f"closes_{day}", "")),
                    )
                    if opens is not None and closes is not None:
                        spans.append((day, opens, closes))
                services.schedule_save(
                    customer=customer,
                    schedule=row,
                    name=post.get("name", ""),
                    time_zone=post.get("time_zone", ""),
                    spans=spans,
                )
            messages.success(request, _("Расписание сохранено."))
        except ValueError:
            messages.error(request, _("Дата: ГГГГ-ММ-ДД."))
        except ValidationError as exc:
            _error(request, exc)
        return redirect("menus:schedule", pk=row.pk)
    spans = {s.weekday: s for s in row.spans.all()}
    hours = selectors.hours_of(row)
    now = timezone.now()
    return render(
        request,
        "menus/schedule.html",
        {
            "schedule": row,
            "days": [{"n": d, "name": WEEKDAYS[d], "span": spans.get(d)} for d in range(7)],
            "exceptions": row.exceptions.all(),
            "open_now": rules.is_open(hours, now),
            "next_opening": rules.next_opening(hours, now),
            "can_edit": request.user.is_customer_admin,
        },
    )


@customer_page
@require_POST
def schedule_delete(request, pk: int):
    row = get_object_or_404(Schedule, pk=pk, customer=request.customer)
    try:
        services.schedule_delete(customer=request.customer, schedule=row)
    except ValidationError as exc:
        _error(request, exc)
        return redirect("menus:schedule", pk=row.pk)
    return redirect("menus:index")


# -- numbers ---------------------------------------------------------------------------------


@customer_page
@require_POST
def number_route(request, pk: int):
    customer = request.customer
    number = get_object_or_404(PhoneNumber, pk=pk, customer=customer)
    post = request.POST
    try:
        if not post.get("target"):
            services.number_route_delete(customer=customer, number=number)
        else:
            schedule = post.get("schedule") or None
            services.number_route_set(
                customer=customer,
                number=number,
                target=_target_from(post, "target"),
                schedule_id=schedule,
                closed_target=_target_from(post, "closed") if schedule else "",
            )
        messages.success(request, _("Номер сохранён."))
    except ValidationError as exc:
        _error(request, exc)
    return redirect("menus:index")
