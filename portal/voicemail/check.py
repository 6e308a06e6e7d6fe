"""Listening to a box from a phone (*97): a pure state machine, no Django, no switch.

The caller's own box (the employee the phone belongs to). Steps the flow performs:

- `AskPin`: collect up to 8 digits ending with #; `on_pin(state, ok)` with whether the PIN
  matched (checked by the service). Three wrong PINs end the call.
- `Announce(new)`: "new messages: N" (or "no messages" when the box is empty), then the first
  message.
- `Play(message_id)`: the message, then `Menu` — 1 again, 7 delete, 9 (or nothing) next; the
  message counts as heard once it has been played through to the menu.
- `Hangup(prompt)`: the last words.

Messages are played new first (oldest new first), then the heard ones (newest first).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_PIN_TRIES = 3
P_ENTER_PIN = "voicemail_enter_pin"
P_WRONG_PIN = "voicemail_wrong_pin"
P_NEW = "voicemail_new_messages"
P_NONE = "voicemail_no_messages"
P_MENU = "voicemail_message_menu"
P_DELETED = "voicemail_deleted"
P_NO_BOX = "voicemail_no_box"
P_GOODBYE = "goodbye"
REPEAT, DELETE, NEXT = "1", "7", "9"


@dataclass(frozen=True)
class State:
    queue: tuple[int, ...] = ()
    new: int = 0
    index: int = 0
    tries: int = 0


@dataclass(frozen=True)
class AskPin:
    wrong: bool = False  # say "wrong PIN" first


@dataclass(frozen=True)
class Announce:
    new: int
    empty: bool


@dataclass(frozen=True)
class Play:
    message_id: int


@dataclass(frozen=True)
class Menu:
    message_id: int


@dataclass(frozen=True)
class Hangup:
    prompt: str = P_GOODBYE


@dataclass(frozen=True)
class MarkHeard:
    message_id: int


@dataclass(frozen=True)
class Delete:
    message_id: int


Step = AskPin | Announce | Play | Menu | Hangup
Effect = MarkHeard | Delete


def order(messages: list[tuple[int, bool, float]]) -> tuple[tuple[int, ...], int]:
    """(id, heard, created timestamp) -> the play order and how many are new."""
    new = sorted((m for m in messages if not m[1]), key=lambda m: (m[2], m[0]))
    old = sorted((m for m in messages if m[1]), key=lambda m: (-m[2], -m[0]))
    return tuple(m[0] for m in new + old), len(new)


def start(*, has_box: bool, has_pin: bool) -> tuple[State, Step]:
    if not has_box or not has_pin:
        return State(), Hangup(P_NO_BOX)
    return State(), AskPin()


def on_pin(
    state: State, *, ok: bool, messages: list[tuple[int, bool, float]] = ()
) -> tuple[State, Step]:
    if not ok:
        tries = state.tries + 1
        if tries >= MAX_PIN_TRIES:
            return replace(state, tries=tries), Hangup(P_WRONG_PIN)
        return replace(state, tries=tries), AskPin(wrong=True)
    queue, new = order(list(messages))
    return State(queue=queue, new=new), Announce(new=new, empty=not queue)


def after_announce(state: State) -> tuple[State, Step]:
    if not state.queue:
        return state, Hangup(P_GOODBYE)
    return state, Play(state.queue[0])


def after_play(state: State) -> tuple[State, Step]:
    return state, Menu(state.queue[state.index])


def on_menu(state: State, digit: str | None) -> tuple[State, Step, list[Effect]]:
    current = state.queue[state.index]
    if digit == REPEAT:
        return state, Play(current), [MarkHeard(current)]
    effects: list[Effect] = [Delete(current)] if digit == DELETE else [MarkHeard(current)]
    index = state.index + 1
    state = replace(state, index=index)
    if index >= len(state.queue):
        return state, Hangup(P_GOODBYE), effects
    return state, Play(state.queue[index]), effects
