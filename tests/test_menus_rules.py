"""The voice-menu machine (portal.menus.rules), purely: every branch a caller can take."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.menus import rules
from portal.menus.rules import Ask, End, Go, Hours, MenuSpec, OptionSpec, Plan, Say, State

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)  # a Monday, 13:00 in Moscow
GREETING = ("greeting", "ru")


def menu(mid, options=None, **kw):
    kw.setdefault("prompts", frozenset({GREETING}))
    return MenuSpec(
        id=mid,
        options={
            k: OptionSpec(k, t) if isinstance(t, str) else t for k, t in (options or {}).items()
        },
        **kw,
    )


def plan(*menus, **kw):
    kw.setdefault("departments", frozenset({5}))
    kw.setdefault("employees", {7: "101", 8: "102"})
    return Plan(customer_id=1, menus={m.id: m for m in menus}, **kw)


MAIN = menu(
    1,
    {
        "1": "dept:5",
        "2": "menu:2",
        "3": "emp:7",
        "9": "repeat",
        "0": "hangup",
        "*": "number:+74951234567",
    },
)
SUB = menu(2, {"1": "dept:5", "#": "menu:1"}, max_retries=1, default_target="dept:5")
P = plan(MAIN, SUB)


def test_a_call_starts_with_the_menus_greeting_and_one_key():
    state, act = rules.start(P, "menu:1", now=NOW)
    assert state == State(1, 0, (1,))
    assert act == Ask(1, (Say(menu_id=1, kind="greeting"),), max_digits=1, timeout_ms=5000)


@pytest.mark.parametrize(
    "key,expected",
    [
        ("1", Go("dept", "5")),
        ("3", Go("emp", "7")),
        ("*", Go("number", "+74951234567")),
        ("0", End((Say(key="goodbye"),))),
    ],
)
def test_each_key_leads_where_its_option_says(key, expected):
    state, _ = rules.start(P, "menu:1", now=NOW)
    assert rules.on_input(P, state, key, now=NOW)[1] == expected


def test_a_key_opens_a_nested_menu_and_hash_goes_back_up():
    state, _ = rules.start(P, "menu:1", now=NOW)
    state, act = rules.on_input(P, state, "2", now=NOW)
    assert state.menu_id == 2 and state.visited == (1, 2)
    assert act.menu_id == 2
    state, act = rules.on_input(P, state, "#", now=NOW)
    assert state.menu_id == 1 and act.prompts == (Say(menu_id=1, kind="greeting"),)


def test_repeat_plays_the_greeting_again_and_forgets_earlier_mistakes():
    state, _ = rules.start(P, "menu:1", now=NOW)
    state, _ = rules.on_input(P, state, "5", now=NOW)
    assert state.retries == 1
    state, act = rules.on_input(P, state, "9", now=NOW)
    assert state.retries == 0 and act.prompts == (Say(menu_id=1, kind="greeting"),)


def test_a_wrong_key_and_silence_each_have_their_prompt_and_cost_one_retry():
    state, _ = rules.start(P, "menu:1", now=NOW)
    state, act = rules.on_input(P, state, "5", now=NOW)
    assert act.prompts == (Say(key="invalid_input"), Say(menu_id=1, kind="greeting"))
    state, act = rules.on_input(P, state, None, now=NOW)
    assert state.retries == 2
    assert act.prompts == (Say(key="menu_no_input"), Say(menu_id=1, kind="greeting"))


def test_the_menus_own_error_prompts_win_over_the_catalog():
    own = menu(
        1, {"1": "dept:5"}, prompts=frozenset({GREETING, ("invalid", "en"), ("timeout", "ru")})
    )
    p = plan(own)
    state, _ = rules.start(p, "menu:1", now=NOW)
    assert rules.on_input(p, state, "4", now=NOW)[1].prompts[0] == Say(menu_id=1, kind="invalid")
    assert rules.on_input(p, state, None, now=NOW)[1].prompts[0] == Say(menu_id=1, kind="timeout")


def test_after_the_last_retry_the_default_route_takes_the_call():
    state, _ = rules.start(P, "menu:2", now=NOW)  # max_retries=1, default dept:5
    state, act = rules.on_input(P, state, None, now=NOW)
    assert isinstance(act, Ask)
    state, act = rules.on_input(P, state, "7", now=NOW)
    assert act == Go("dept", "5")


def test_the_default_hang_up_says_goodbye_after_the_retries():
    state, _ = rules.start(P, "menu:1", now=NOW)  # max_retries=2, default hangup
    for _ in range(2):
        state, act = rules.on_input(P, state, None, now=NOW)
        assert isinstance(act, Ask)
    assert rules.on_input(P, state, None, now=NOW)[1] == End((Say(key="goodbye"),))


def test_a_default_route_into_another_menu_enters_it_fresh():
    a = menu(1, {"1": "dept:5"}, max_retries=0, default_target="menu:2")
    p = plan(a, SUB)
    state, _ = rules.start(p, "menu:1", now=NOW)
    state, act = rules.on_input(p, state, None, now=NOW)
    assert state == State(2, 0, (1, 2)) and act.menu_id == 2


def test_direct_dialling_of_an_extension_when_the_menu_allows_it():
    direct = menu(1, {"1": "dept:5"}, direct_dial=True)
    p = plan(direct)
    state, act = rules.start(p, "menu:1", now=NOW)
    assert act.max_digits == 3
    assert rules.on_input(p, state, "102", now=NOW)[1] == Go("ext", "102")
    assert rules.on_input(p, state, "1", now=NOW)[1] == Go("dept", "5")
    assert isinstance(rules.on_input(p, state, "199", now=NOW)[1], Ask)  # no such phone
    # without direct dialling an extension is a wrong key
    state, _ = rules.start(P, "menu:1", now=NOW)
    assert rules.on_input(P, state, "102", now=NOW)[0].retries == 1


def test_keys_that_are_no_dtmf_count_as_wrong():
    state, _ = rules.start(P, "menu:1", now=NOW)
    assert rules.on_input(P, state, "1;x", now=NOW)[0].retries == 1


def test_destinations_that_are_gone_end_the_call_politely():
    p = plan(
        menu(1, {"1": "dept:99", "2": "emp:99", "3": "menu:99", "4": "voicemail:3", "5": "bogus"})
    )
    state, _ = rules.start(p, "menu:1", now=NOW)
    for key in "12345":
        act = rules.on_input(p, state, key, now=NOW)[1]
        assert act == End((Say(key="service_unavailable"),), "NORMAL_TEMPORARY_FAILURE"), key
    assert rules.start(p, "menu:42", now=NOW)[1].cause == "NORMAL_TEMPORARY_FAILURE"


def test_a_voicemail_box_that_exists_is_a_destination():
    p = plan(menu(1, {"4": "voicemail:3"}), voicemail=frozenset({3}))
    state, _ = rules.start(p, "menu:1", now=NOW)
    assert rules.on_input(p, state, "4", now=NOW)[1] == Go("voicemail", "3")


def test_a_menu_without_a_greeting_uses_the_generic_one():
    p = plan(menu(1, {"1": "dept:5"}, prompts=frozenset()))
    assert rules.start(p, "menu:1", now=NOW)[1].prompts == (Say(key="menu_default_greeting"),)


# -- schedules on an option ---------------------------------------------------------------------

WEEKDAYS = Hours("Europe/Moscow", {d: ((dt.time(9), dt.time(18)),) for d in range(5)})


def scheduled_plan(closed_target=""):
    option = OptionSpec("1", "dept:5", schedule_id=3, closed_target=closed_target)
    return plan(menu(1, {"1": option}), schedules={3: WEEKDAYS})


@pytest.mark.parametrize(
    "when,closed,expected",
    [
        (dt.datetime(2026, 12, 7, 8, 59, tzinfo=dt.UTC), "", Go("dept", "5")),  # 11:59 MSK
        (dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC), "", End((Say(key="menu_closed"),))),
        (dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC), "emp:8", Go("emp", "8")),
        (dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC), "hangup", End((Say(key="goodbye"),))),
    ],
)
def test_an_option_with_a_schedule_leads_elsewhere_outside_the_hours(when, closed, expected):
    p = scheduled_plan(closed)
    state, _ = rules.start(p, "menu:1", now=when)
    assert rules.on_input(p, state, "1", now=when)[1] == expected


def test_a_number_with_a_schedule_starts_with_its_closed_target_at_night():
    night = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)
    p = plan(MAIN, schedules={3: WEEKDAYS})
    assert rules.start(p, "menu:1", now=night, schedule_id=3, closed_target="dept:5")[1] == Go(
        "dept", "5"
    )
    assert isinstance(
        rules.start(p, "menu:1", now=NOW, schedule_id=3, closed_target="dept:5")[1], Ask
    )


# -- the simulator's state round trip -------------------------------------------------------------


def test_state_survives_the_simulators_json_and_refuses_junk():
    state = State(2, 1, (1, 2))
    assert State.from_dict(state.as_dict()) == state
    for bad in ({"menu": "1"}, {"menu": 1, "retries": -1}, {"menu": 1, "visited": ["x"]}):
        with pytest.raises(ValueError):
            State.from_dict(bad)


# -- validation -----------------------------------------------------------------------------------


def codes(p):
    return sorted((x.code, x.menu_id, x.key) for x in rules.validate(p))


def test_a_sound_menu_tree_has_no_problems():
    assert codes(P) == []


def test_menus_sending_callers_only_round_each_other_are_refused():
    a = menu(1, {"1": "menu:2"}, default_target="menu:2")
    b = menu(2, {"1": "menu:1", "9": "repeat"}, default_target="menu:1")
    assert codes(plan(a, b)) == [("no_exit", 1, None), ("no_exit", 2, None)]
    # one way out anywhere in the loop is enough
    b_out = menu(2, {"1": "menu:1", "2": "dept:5"}, default_target="menu:1")
    assert codes(plan(a, b_out)) == []


def test_missing_greetings_and_unknown_destinations_are_named():
    p = plan(
        menu(
            1,
            {"1": "dept:77", "2": "voicemail:1", "3": "x"},
            prompts=frozenset(),
            default_target="repeat",
        )
    )
    assert codes(p) == [
        ("bad_default", 1, None),
        ("missing_greeting", 1, None),
        ("unknown_target", 1, "1"),
        ("unknown_target", 1, "3"),
        ("voicemail_unavailable", 1, "2"),
    ]


@pytest.mark.parametrize(
    "text,ok",
    [
        ("menu:1", True),
        ("number:+74951234567", True),
        ("number:84951234567", False),
        ("number:+7${x}", False),
        ("dept:0", False),
        ("dept:5 ", False),
        ("emp:-1", False),
        ("repeat", True),
        ("", False),
    ],
)
def test_destinations_parse_only_in_their_strict_form(text, ok):
    if ok:
        assert str(rules.parse_target(text)) == text
    else:
        with pytest.raises(ValueError):
            rules.parse_target(text)
