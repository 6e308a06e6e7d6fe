"""ESL builders of the conference rooms (pbx.esl.commands): only our room names, member ids and
three actions get through; everything a hostile value could smuggle in is refused."""

from __future__ import annotations

import pytest

from pbx.esl import commands
from pbx.esl.commands import CommandError


@pytest.mark.parametrize("action", ["mute", "unmute", "kick"])
def test_member_commands_name_the_room_the_action_and_the_member(action):
    assert commands.conference_member("c12_r5", action, 3) == f"conference c12_r5 {action} 3"
    assert commands.conference_member("c12_r5", action, "17") == f"conference c12_r5 {action} 17"


def test_json_list_lists_every_conference():
    assert commands.conference_json_list() == "conference json_list"


@pytest.mark.parametrize(
    "name",
    [
        "room",  # a name a customer could type
        "c12_r5@pbx",  # the profile is not part of an API command's name
        "c12_r5 kick all",
        "c12_r5\n\napi system rm",
        "c12_r${system(id)}",
        "c0_r5",
        "c12_r05",
        "c12_r",
        "",
        "c12_r5 ",
        " c12_r5",
    ],
)
def test_a_conference_name_that_is_not_ours_is_refused(name):
    with pytest.raises(CommandError):
        commands.conference_member(name, "mute", 3)


@pytest.mark.parametrize(
    "member", ["all", "last", "0", "-1", "3 4", "3\n", "${x}", "", "12345678901", True]
)
def test_only_one_member_by_its_number_can_be_named(member):
    with pytest.raises(CommandError):
        commands.conference_member("c12_r5", "kick", member)


@pytest.mark.parametrize(
    "action", ["hup", "deaf", "dial", "play", "recording", "KICK", "mute\n", ""]
)
def test_other_conference_actions_are_refused(action):
    with pytest.raises(CommandError):
        commands.conference_member("c12_r5", action, 3)
