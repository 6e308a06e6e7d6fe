"""Voice menus and working hours as pure functions: no Django, no ESL, no clock.

The telephony (`portal.menus.telephony`) and the portal's simulator (`portal.menus.views`)
run the same machine: `start(plan, target, now=...)` and `on_input(plan, state, digits,
now=...)` return `(state, action)`:

- `Ask(menu_id, prompts, max_digits, timeout_ms)`: play the prompts and collect keys once;
  feed what came back (None: nothing pressed) into `on_input`;
- `Go(kind, value)`: the call leaves the menu for a department (`dept`), an employee (`emp`),
  an extension dialled directly (`ext`), an outside number (`number`) or a voicemail box;
- `End(prompts, cause)`: play the prompts and hang up.

A wrong key and silence each cost one retry and are answered with their own prompt and the
greeting again; after `max_retries` the menu's default destination takes the call. A
destination with a schedule is resolved at the moment the caller gets there: inside the
working hours its own target, outside them its closed-hours target (or a "we are closed"
message). Working hours are wall-clock spans in the schedule's time zone (`zoneinfo`), so a
DST change moves nothing a customer typed; a span whose end is not after its start runs past
midnight.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KEYS = "1234567890*#"
TERMINAL = frozenset({"dept", "emp", "number", "voicemail"})
KINDS = TERMINAL | {"menu", "repeat", "hangup"}
E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")
_TARGET = re.compile(r"(menu|dept|emp|voicemail):([1-9][0-9]{0,17})\Z|number:(\+[0-9]{7,15})\Z")

# Prompt keys of the catalog (portal.prompts.catalog).
P_INVALID = "invalid_input"
P_NO_INPUT = "menu_no_input"
P_GOODBYE = "goodbye"
P_CLOSED = "menu_closed"
P_UNAVAILABLE = "service_unavailable"
P_DEFAULT_GREETING = "menu_default_greeting"

MAX_DEPTH = 20  # menus entered in a row without a key (a default route into another menu)


# -- data the services hand the machine ------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str
    value: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind


def parse_target(text: object) -> Target:
    """`menu:3`, `dept:5`, `emp:7`, `number:+74951234567`, `voicemail:2`, `repeat`, `hangup`."""
    if text in ("repeat", "hangup"):
        return Target(str(text))
    match = _TARGET.match(str(text or ""))
    if not match:
        raise ValueError(f"not a destination: {text!r}")
    if match.group(3):
        if not E164.match(match.group(3)):
            raise ValueError(f"not an E.164 number: {text!r}")
        return Target("number", match.group(3))
    return Target(match.group(1), match.group(2))


@dataclass(frozen=True)
class Hours:
    """A schedule: weekly spans (0 = Monday) and dated exceptions (an empty tuple: closed)."""

    time_zone: str = "Europe/Moscow"
    weekly: Mapping[int, tuple[tuple[dt.time, dt.time], ...]] = field(default_factory=dict)
    exceptions: Mapping[dt.date, tuple[tuple[dt.time, dt.time], ...]] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


@dataclass(frozen=True)
class OptionSpec:
    key: str
    target: str
    schedule_id: int | None = None
    closed_target: str = ""
    label: str = ""


@dataclass(frozen=True)
class MenuSpec:
    id: int
    name: str = ""
    timeout_ms: int = 5000
    max_retries: int = 2
    direct_dial: bool = False
    default_target: str = "hangup"
    options: Mapping[str, OptionSpec] = field(default_factory=dict)
    #: (kind, language) of the prompts this menu has: greeting, invalid, timeout
    prompts: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Plan:
    """Everything of one customer the machine may need during a call (read once)."""

    customer_id: int
    menus: Mapping[int, MenuSpec] = field(default_factory=dict)
    schedules: Mapping[int, Hours] = field(default_factory=dict)
    departments: frozenset[int] = frozenset()
    employees: Mapping[int, str] = field(default_factory=dict)  # id -> extension
    voicemail: frozenset[int] = frozenset()  # boxes that exist (empty: no voicemail app)
    language: str = "ru"

    @property
    def extensions(self) -> frozenset[str]:
        return frozenset(self.employees.values())


# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """A prompt: a menu's own (`menu_id`, `kind`) or a catalog key (`key`)."""

    key: str = ""
    menu_id: int | None = None
    kind: str = ""


@dataclass(frozen=True)
class Ask:
    menu_id: int
    prompts: tuple[Say, ...]
    max_digits: int = 1
    timeout_ms: int = 5000


@dataclass(frozen=True)
class Go:
    kind: str  # dept | emp | ext | number | voicemail
    value: str


@dataclass(frozen=True)
class End:
    prompts: tuple[Say, ...] = ()
    cause: str = "NORMAL_CLEARING"


Action = Ask | Go | End


@dataclass(frozen=True)
class State:
    menu_id: int | None = None
    retries: int = 0
    visited: tuple[int, ...] = ()  # menus entered, in order (the simulator shows the path)

    def as_dict(self) -> dict:
        return {"menu": self.menu_id, "retries": self.retries, "visited": list(self.visited)}

    @classmethod
    def from_dict(cls, data: Mapping) -> State:
        menu = data.get("menu")
        visited = data.get("visited") or []
        if menu is not None and not isinstance(menu, int):
            raise ValueError("menu")
        if not isinstance(visited, list) or not all(isinstance(v, int) for v in visited):
            raise ValueError("visited")
        retries = data.get("retries", 0)
        if not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ValueError("retries")
        return cls(menu_id=menu, retries=retries, visited=tuple(visited[-50:]))


# -- working hours ------------------------------------------------------------------------------


def _spans_of(hours: Hours, day: dt.date) -> tuple[tuple[dt.time, dt.time], ...]:
    if day in hours.exceptions:
        return hours.exceptions[day]
    return hours.weekly.get(day.weekday(), ())


def intervals(
    hours: Hours, now: dt.datetime, *, days: int = 8
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Open intervals (aware, merged where they touch) from the day before `now`'s local date
    for `days` days."""
    tz = hours.tz
    today = now.astimezone(tz).date()
    raw = []
    for offset in range(-1, days):
        day = today + dt.timedelta(days=offset)
        for opens, closes in _spans_of(hours, day):
            end_day = day if closes > opens else day + dt.timedelta(days=1)
            start = dt.datetime.combine(day, opens, tzinfo=tz)
            end = dt.datetime.combine(end_day, closes, tzinfo=tz)
            # compare instants: a wall time in a DST gap or overlap maps to one instant
            start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
            if end > start:
                raw.append((start, end))
    raw.sort()
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in raw:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def is_open(hours: Hours, now: dt.datetime) -> bool:
    return any(start <= now < end for start, end in intervals(hours, now, days=1))


def closes_at(hours: Hours, now: dt.datetime) -> dt.datetime | None:
    """When the open spell around `now` ends (None: closed now)."""
    for start, end in intervals(hours, now, days=9):
        if start <= now < end:
            return end
    return None


def next_opening(hours: Hours, now: dt.datetime, *, horizon_days: int = 400) -> dt.datetime | None:
    """`now` when open, else the next moment the schedule opens (None: never within a year)."""
    for start, end in intervals(hours, now, days=horizon_days):
        if start <= now < end:
            return now
        if start > now:
            return start
    return None


@dataclass(frozen=True)
class CallbackTiming:
    """When a queue callback requested at `now` may be dialled."""

    due_at: dt.datetime | None  # None: the schedule never opens (leave it to staff)
    deferred: bool  # not now: outside the hours, or the window would end after closing


def callback_timing(hours: Hours | None, now: dt.datetime, window: dt.timedelta) -> CallbackTiming:
    """A request taken inside the hours with its whole window before closing is due now;
    otherwise it is due at the next opening (its window counts from there)."""
    if hours is None:
        return CallbackTiming(now, False)
    end = closes_at(hours, now)
    if end is not None and now + window <= end:
        return CallbackTiming(now, False)
    after = end if end is not None else now
    return CallbackTiming(next_opening(hours, after + dt.timedelta(microseconds=1)), True)


# -- the menu machine ---------------------------------------------------------------------------


def _greeting(plan: Plan, menu: MenuSpec) -> Say:
    if any(kind == "greeting" for kind, _ in menu.prompts):
        return Say(menu_id=menu.id, kind="greeting")
    return Say(key=P_DEFAULT_GREETING)


def _own_or(menu: MenuSpec, kind: str, key: str) -> Say:
    if any(k == kind for k, _ in menu.prompts):
        return Say(menu_id=menu.id, kind=kind)
    return Say(key=key)


def max_digits(plan: Plan, menu: MenuSpec) -> int:
    if menu.direct_dial and plan.extensions:
        return max(len(ext) for ext in plan.extensions)
    return 1


def _ask(plan: Plan, menu: MenuSpec, before: tuple[Say, ...] = ()) -> Ask:
    return Ask(
        menu_id=menu.id,
        prompts=(*before, _greeting(plan, menu)),
        max_digits=max_digits(plan, menu),
        timeout_ms=menu.timeout_ms,
    )


def _unavailable() -> End:
    return End((Say(key=P_UNAVAILABLE),), "NORMAL_TEMPORARY_FAILURE")


def resolve(
    plan: Plan,
    state: State,
    target: str,
    *,
    now: dt.datetime,
    schedule_id: int | None = None,
    closed_target: str = "",
    depth: int = 0,
) -> tuple[State, Action]:
    """Where `target` leads now (with a schedule: inside or outside its hours)."""
    if schedule_id is not None:
        hours = plan.schedules.get(schedule_id)
        if hours is None:
            return state, _unavailable()
        if not is_open(hours, now):
            if not closed_target:
                return state, End((Say(key=P_CLOSED),))
            target = closed_target
    try:
        parsed = parse_target(target)
    except ValueError:
        return state, _unavailable()
    if parsed.kind == "hangup":
        return state, End((Say(key=P_GOODBYE),))
    if parsed.kind == "repeat":
        menu = plan.menus.get(state.menu_id) if state.menu_id is not None else None
        if menu is None:
            return state, _unavailable()
        return replace(state, retries=0), _ask(plan, menu)
    ident = int(parsed.value) if parsed.kind != "number" else 0
    if parsed.kind == "menu":
        menu = plan.menus.get(ident)
        if menu is None or depth > MAX_DEPTH:
            return state, _unavailable()
        return State(ident, 0, (*state.visited, ident)), _ask(plan, menu)
    if parsed.kind == "dept" and ident in plan.departments:
        return state, Go("dept", parsed.value)
    if parsed.kind == "emp" and ident in plan.employees:
        return state, Go("emp", parsed.value)
    if parsed.kind == "voicemail" and ident in plan.voicemail:
        return state, Go("voicemail", parsed.value)
    if parsed.kind == "number":
        return state, Go("number", parsed.value)
    return state, _unavailable()


def start(
    plan: Plan, target: str, *, now: dt.datetime, schedule_id=None, closed_target=""
) -> tuple[State, Action]:
    """A call arrives at a number routed to `target` (usually `menu:<id>`)."""
    return resolve(
        plan, State(), target, now=now, schedule_id=schedule_id, closed_target=closed_target
    )


def on_input(
    plan: Plan, state: State, digits: str | None, *, now: dt.datetime
) -> tuple[State, Action]:
    """What the caller pressed in the current menu (None: nothing before the timeout)."""
    menu = plan.menus.get(state.menu_id) if state.menu_id is not None else None
    if menu is None:
        return state, _unavailable()
    digits = digits or None
    if digits is not None and any(ch not in KEYS for ch in digits):
        digits = "?"  # never a key of any menu: counts as invalid
    if digits is not None:
        option = menu.options.get(digits) if len(digits) == 1 else None
        if option is not None:
            return resolve(
                plan,
                state,
                option.target,
                now=now,
                schedule_id=option.schedule_id,
                closed_target=option.closed_target,
            )
        if menu.direct_dial and digits in plan.extensions:
            return state, Go("ext", digits)
    retries = state.retries + 1
    if retries > menu.max_retries:
        target = menu.default_target if menu.default_target != "repeat" else "hangup"
        return resolve(plan, replace(state, retries=0), target, now=now)
    why = (
        _own_or(menu, "timeout", P_NO_INPUT)
        if digits is None
        else _own_or(menu, "invalid", P_INVALID)
    )
    return replace(state, retries=retries), _ask(plan, menu, (why,))


# -- validation (the editor refuses what a caller could not get out of) --------------------------


@dataclass(frozen=True)
class Problem:
    code: str  # missing_greeting | unknown_target | voicemail_unavailable | no_exit | bad_default
    menu_id: int | None = None
    key: str | None = None
    target: str = ""


def _targets(menu: MenuSpec) -> Iterable[tuple[str | None, str]]:
    for key, option in sorted(menu.options.items()):
        yield key, option.target
        if option.closed_target:
            yield key, option.closed_target
    yield None, menu.default_target


def target_problem(plan: Plan, target: str) -> str | None:
    """Why `target` cannot be used by this customer's menus (None: it can)."""
    try:
        parsed = parse_target(target)
    except ValueError:
        return "unknown_target"
    if parsed.kind in ("repeat", "hangup", "number"):
        return None
    ident = int(parsed.value)
    if parsed.kind == "voicemail":
        return None if ident in plan.voicemail else "voicemail_unavailable"
    known = {
        "menu": plan.menus,
        "dept": plan.departments,
        "emp": plan.employees,
    }[parsed.kind]
    return None if ident in known else "unknown_target"


def validate(plan: Plan) -> list[Problem]:
    problems: list[Problem] = []
    for menu in plan.menus.values():
        if not any(kind == "greeting" for kind, _ in menu.prompts):
            problems.append(Problem("missing_greeting", menu.id))
        if menu.default_target == "repeat":
            problems.append(Problem("bad_default", menu.id, None, "repeat"))
        for key, target in _targets(menu):
            why = target_problem(plan, target)
            if why:
                problems.append(Problem(why, menu.id, key, target))
    # A menu has an exit when one of its destinations leaves the menus (a department, an
    # employee, a number, voicemail, hang up; an extension typed directly) or leads to a menu
    # that has one. Menus that only send callers round each other have none.
    exits: set[int] = set()
    changed = True
    while changed:
        changed = False
        for menu in plan.menus.values():
            if menu.id in exits:
                continue
            found = menu.direct_dial and bool(plan.extensions)
            for _key, target in _targets(menu):
                try:
                    parsed = parse_target(target)
                except ValueError:
                    continue
                if parsed.kind in TERMINAL or parsed.kind == "hangup":
                    found = True
                elif parsed.kind == "menu" and int(parsed.value) in exits:
                    found = True
            if found:
                exits.add(menu.id)
                changed = True
    for menu in plan.menus.values():
        if menu.id not in exits:
            problems.append(Problem("no_exit", menu.id))
    return problems
