"""Listening to a box from a phone (*97): the pure steps (portal/voicemail/check.py), table-
driven, and the extension that hands the call to call control."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pbx import render
from portal.voicemail import check
from portal.voicemail.dialplan import dialplan

from .test_render import CONF, customer

MESSAGES = [(1, False, 100.0), (2, True, 50.0), (3, False, 90.0), (4, True, 60.0)]


def test_new_messages_come_first_oldest_first_then_heard_ones_newest_first():
    assert check.order(MESSAGES) == ((3, 1, 4, 2), 2)


@pytest.mark.parametrize(
    "has_box,has_pin,step",
    [
        (True, True, check.AskPin()),
        (True, False, check.Hangup(check.P_NO_BOX)),
        (False, False, check.Hangup(check.P_NO_BOX)),
    ],
)
def test_start(has_box, has_pin, step):
    assert check.start(has_box=has_box, has_pin=has_pin)[1] == step


def test_three_wrong_pins_end_the_call_and_a_right_one_announces_the_new_messages():
    state, _ = check.start(has_box=True, has_pin=True)
    state, step = check.on_pin(state, ok=False)
    assert step == check.AskPin(wrong=True)
    state, step = check.on_pin(state, ok=False)
    assert step == check.AskPin(wrong=True)
    _, step = check.on_pin(state, ok=False)
    assert step == check.Hangup(check.P_WRONG_PIN)
    state, step = check.on_pin(check.State(tries=2), ok=True, messages=MESSAGES)
    assert step == check.Announce(new=2, empty=False) and state.tries == 0


def test_an_empty_box_says_so_and_ends():
    state, step = check.on_pin(check.State(), ok=True, messages=[])
    assert step == check.Announce(new=0, empty=True)
    assert check.after_announce(state)[1] == check.Hangup(check.P_GOODBYE)


def test_the_menu_repeats_deletes_or_goes_on_and_marks_what_was_heard():
    state, _ = check.on_pin(check.State(), ok=True, messages=MESSAGES)
    state, step = check.after_announce(state)
    assert step == check.Play(3)
    state, step = check.after_play(state)
    assert step == check.Menu(3)
    state, step, effects = check.on_menu(state, check.REPEAT)
    assert step == check.Play(3) and effects == [check.MarkHeard(3)]
    state, step, effects = check.on_menu(state, check.DELETE)
    assert step == check.Play(1) and effects == [check.Delete(3)]
    state, step, effects = check.on_menu(state, None)  # nothing pressed: the next one
    assert step == check.Play(4) and effects == [check.MarkHeard(1)]
    state, step, effects = check.on_menu(state, "5")  # anything else: the next one too
    assert step == check.Play(2)
    state, step, effects = check.on_menu(state, check.NEXT)
    assert step == check.Hangup(check.P_GOODBYE) and effects == [check.MarkHeard(2)]


def _dialled(destination, options):
    return render.render_customer_dialplan(
        customer(), destination, options=options, settings=CONF, features=[dialplan]
    )


def test_star_97_goes_to_call_control_only_with_the_option_on():
    xml = _dialled("*97", frozenset({"voicemail"}))
    root = ET.fromstring(xml)
    apps = [(a.get("application"), a.get("data") or "") for a in root.iter("action")]
    assert ("set", "pbx_flow=voicemail_check") in apps
    assert ("socket", "127.0.0.1:8084 async full") in apps
    assert root.find(".//condition").get("expression") == r"^\*97$"
    off = ET.fromstring(_dialled("*97", frozenset()))
    assert [a.get("application") for a in off.iter("action")] == ["hangup"]
