"""The fictive-number IVRs (seed 002) as pure state machines: no Django, no ESL, no clock.

Two entry points, each returning `(state, step)`; the telephony side performs the step and
feeds what the caller typed back into `on_input(state, digits, ctx=..., policy=...)`:

- the **access number** (`start_access`): a shopper calling from their real number picks one
  of their fictive numbers (several: "N#" selects ordinal N, "0#" reads the list) and types
  the destination; the result is `Dial(fictive, destination, record=True)`;
- the **return number** (`start_return`): a shopper with pending missed calls is connected to
  the dealer (several: they type the sequence number from the SMS); the result is `Connect`.

Steps the adapter interprets:

- `Collect`: play `prompt_keys` in order, collect up to `max_digits` DTMF digits ended by
  `terminator` or `timeout_ms` of silence, once (this machine counts the tries), then call
  `on_input` with the digits without the terminator: "" for the terminator alone, None when
  nothing came in at all (timeout). `reprompt` is 0 on the first ask, n on the n-th re-ask.
- `ReadList`: play "fictive_list_intro", then per item "word_id" + the ordinal's digits +
  "word_number" + the number's digits (without "+"), then perform `then` (a `Collect`).
- `Dial`: bridge the caller to `destination_e164` showing `fictive_e164`, recording the call.
- `Connect`: play `prompt_key`, bridge the caller to `dealer_e164` showing `fictive_e164`.
- `Hangup`: play `prompt_key`, hang up.

Every number in a `Dial`/`Connect` is checked E.164 (`+` and 7..15 digits), so a string the
caller typed can never reach an originate string as anything but digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

# Prompt keys (portal.prompts.catalog).
P_UNKNOWN_CALLER = "fictive_unknown_caller"
P_ENTER_DESTINATION = "fictive_enter_destination"
P_ENTER_ID = "fictive_enter_id"
P_LIST_INTRO = "fictive_list_intro"
P_UNKNOWN_ID = "fictive_unknown_id"
P_BAD_DESTINATION = "fictive_bad_destination"
P_PENDING_CALL = "fictive_pending_call"
P_ENTER_SEQUENCE = "fictive_enter_sequence"
P_NO_PENDING = "fictive_no_pending"
P_INVALID_INPUT = "invalid_input"
P_GOODBYE = "goodbye"
P_UNAVAILABLE = "service_unavailable"

# Modes and phases of a session.
ACCESS = "access"
RETURN = "return"
PHASE_ID = "id"
PHASE_DESTINATION = "destination"
PHASE_SEQUENCE = "sequence"
PHASE_DONE = "done"

# Refusal reasons of the services (access_context / return_context / inbound_context).
UNKNOWN_ACCESS = "unknown_access"
UNKNOWN_RETURN = "unknown_return"
OPTION_OFF = "option_off"
UNKNOWN_CALLER = "unknown_caller"
NO_FICTIVE = "no_fictive"

# check_destination reasons ("ok" when the number may be dialled).
OK = "ok"
EMPTY = "empty"
NOT_DIGITS = "not_digits"
TOO_LONG = "too_long"
EMERGENCY = "emergency"
INVALID = "invalid"
PREMIUM = "premium_rate"
SHARED_COST = "shared_cost"
NOT_ALLOWED = "prefix_not_allowed"

E164_RE = re.compile(r"\+[1-9][0-9]{6,14}\Z")
# Short codes refused whatever the region says (emergency, police, fire, ambulance, operators).
EMERGENCY_CODES = frozenset(
    {"112", "911", "999", "000", "08", "110", "118", "119", "15", "17", "18", "150", "155"}
    | {"156", "158", "100", "101", "102", "103", "104", "060", "061", "116117", "116000"}
)
REFUSED_TYPES = {PhoneNumberType.PREMIUM_RATE: PREMIUM, PhoneNumberType.SHARED_COST: SHARED_COST}
MAX_DESTINATION_DIGITS = 17  # "00" + 15 digits


@dataclass(frozen=True)
class Policy:
    max_tries: int = 3  # bad or missing inputs per question before the polite hangup
    max_list_reads: int = 5  # "0#" per session (does not count as a bad input)
    id_digits: int = 3
    destination_digits: int = MAX_DESTINATION_DIGITS
    sequence_digits: int = 3
    timeout_ms: int = 5000


DEFAULT_POLICY = Policy()


# -- what the services hand the machine ---------------------------------------------------------


@dataclass(frozen=True)
class FictiveChoice:
    fictive_id: int
    ordinal: int
    e164: str


@dataclass(frozen=True)
class AccessContext:
    customer_id: int
    language: str
    shopper_id: int
    project_id: int
    allowed_prefixes: tuple[str, ...]
    fictive: tuple[FictiveChoice, ...]
    region: str = "RU"  # how a destination typed without "00" is read (the access number's)
    access_e164: str = ""
    caller_e164: str = ""


@dataclass(frozen=True)
class PendingChoice:
    pending_id: int
    sequence: int
    dealer_e164: str
    fictive_e164: str


@dataclass(frozen=True)
class ReturnContext:
    customer_id: int
    language: str
    shopper_id: int
    pending: tuple[PendingChoice, ...]
    return_e164: str = ""
    caller_e164: str = ""


# -- steps --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collect:
    prompt_keys: tuple[str, ...]
    max_digits: int
    terminator: str = "#"
    timeout_ms: int = 5000
    reprompt: int = 0


@dataclass(frozen=True)
class ReadList:
    items: tuple[tuple[int, str], ...]  # (ordinal, E.164)
    then: Collect | None = None


@dataclass(frozen=True)
class Dial:
    fictive_e164: str
    destination_e164: str
    record: bool = True
    fictive_id: int = 0


@dataclass(frozen=True)
class Connect:
    pending_id: int
    dealer_e164: str
    fictive_e164: str
    sequence: int = 0
    record: bool = True
    prompt_key: str = P_PENDING_CALL


@dataclass(frozen=True)
class Hangup:
    prompt_key: str


Step = Collect | ReadList | Dial | Connect | Hangup


@dataclass(frozen=True)
class State:
    mode: str  # ACCESS | RETURN
    phase: str
    tries: int = 0  # bad or missing inputs to the current question
    list_reads: int = 0
    fictive_id: int | None = None
    fictive_e164: str = ""
    destination_e164: str = ""
    pending_id: int | None = None
    last_reason: str = ""  # why the last input was refused (for logs)


# -- destination rules --------------------------------------------------------------------------


def normalize_prefixes(prefixes) -> tuple[str, ...]:
    """ "+420", "420", "00420 2" -> "+420", "+420", "+4202"; blanks dropped, order kept."""
    out: list[str] = []
    for raw in prefixes or ():
        p = re.sub(r"[\s\-()]", "", str(raw))
        if p.startswith("00"):
            p = p[2:]
        p = p.lstrip("+")
        if p and p.isascii() and p.isdigit() and f"+{p}" not in out:
            out.append(f"+{p}")
    return tuple(out)


def _parse(text: str, region: str | None):
    try:
        n = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return n if phonenumbers.is_valid_number(n) else None


def check_destination(
    digits: str | None, *, allowed_prefixes=(), region: str = "RU"
) -> tuple[str | None, str]:
    """May a shopper dial `digits` (as typed on the keypad)? -> (E.164, "ok") or (None, reason).

    Read as international after "00" (or "+"), else in `region`, else as international without
    the "00". Refused: non-digits, emergency and other service short codes, numbers that do not
    exist in the numbering plan, premium-rate and shared-cost numbers, and (when the project
    has any) numbers outside the allowed prefixes.
    """
    raw = (digits or "").strip()
    if not raw:
        return None, EMPTY
    international = raw.startswith("+") or raw.startswith("00")
    body = raw[1:] if raw.startswith("+") else raw[2:] if raw.startswith("00") else raw
    if not body.isascii() or not body.isdigit():
        return None, NOT_DIGITS
    if len(raw) > MAX_DESTINATION_DIGITS:
        return None, TOO_LONG
    region = (region or "RU").upper()
    if body in EMERGENCY_CODES or (
        not international and shortnumberinfo.connects_to_emergency_number(body, region)
    ):
        return None, EMERGENCY
    number = _parse(f"+{body}", None) if international else _parse(body, region)
    if number is None and not international:
        number = _parse(f"+{body}", None)
    if number is None:
        return None, INVALID
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not E164_RE.match(e164):
        return None, INVALID
    national = phonenumbers.national_significant_number(number)
    number_region = phonenumbers.region_code_for_number(number) or region
    if national in EMERGENCY_CODES or shortnumberinfo.is_emergency_number(national, number_region):
        return None, EMERGENCY
    refused = REFUSED_TYPES.get(phonenumbers.number_type(number))
    if refused:
        return None, refused
    prefixes = normalize_prefixes(allowed_prefixes)
    if prefixes and not any(e164.startswith(p) for p in prefixes):
        return None, NOT_ALLOWED
    return e164, OK


# -- access number ------------------------------------------------------------------------------


def refused(reason: str) -> tuple[State, Hangup]:
    """What a caller the services refused hears (an unknown caller: "not registered")."""
    key = P_UNKNOWN_CALLER if reason in (UNKNOWN_CALLER, NO_FICTIVE, "") else P_UNAVAILABLE
    return State(mode=ACCESS, phase=PHASE_DONE, last_reason=reason), Hangup(key)


def _ask_id(state: State, policy: Policy, *, error: str | None = None) -> Collect:
    keys = ((error,) if error else ()) + (P_ENTER_ID,)
    return Collect(keys, policy.id_digits, timeout_ms=policy.timeout_ms, reprompt=state.tries)


def _ask_destination(state: State, policy: Policy, *, error: str | None = None) -> Collect:
    keys = ((error,) if error else ()) + (P_ENTER_DESTINATION,)
    return Collect(
        keys, policy.destination_digits, timeout_ms=policy.timeout_ms, reprompt=state.tries
    )


def _ask_sequence(state: State, policy: Policy, *, error: str | None = None) -> Collect:
    keys = ((error,) if error else ()) + (P_ENTER_SEQUENCE,)
    return Collect(keys, policy.sequence_digits, timeout_ms=policy.timeout_ms, reprompt=state.tries)


def _select(state: State, choice: FictiveChoice) -> State:
    return replace(
        state,
        phase=PHASE_DESTINATION,
        tries=0,
        fictive_id=choice.fictive_id,
        fictive_e164=choice.e164,
        last_reason="",
    )


def start_access(
    ctx: AccessContext | None, *, reason: str = "", policy: Policy = DEFAULT_POLICY
) -> tuple[State, Step]:
    """The first step for a call to the access number (`ctx` None: refused for `reason`)."""
    if ctx is None or not ctx.fictive:
        return refused(reason or (NO_FICTIVE if ctx is not None else UNKNOWN_CALLER))
    state = State(mode=ACCESS, phase=PHASE_ID)
    if len(ctx.fictive) == 1:
        state = _select(state, ctx.fictive[0])
        return state, _ask_destination(state, policy)
    return state, _ask_id(state, policy)


def _failed(state: State, reason: str, policy: Policy, ask) -> tuple[State, Step]:
    """One more bad or missing input: ask again with `error` first, or say goodbye."""
    state = replace(state, tries=state.tries + 1, last_reason=reason)
    if state.tries >= policy.max_tries:
        return replace(state, phase=PHASE_DONE), Hangup(P_GOODBYE)
    return state, ask(state)


def _on_id(state: State, digits: str | None, ctx: AccessContext, policy: Policy):
    if digits is None or not digits.strip():
        reason = "timeout" if digits is None else EMPTY
        return _failed(state, reason, policy, lambda s: _ask_id(s, policy))
    text = digits.strip()
    if not text.isascii() or not text.isdigit():
        return _failed(state, NOT_DIGITS, policy, lambda s: _ask_id(s, policy, error=P_UNKNOWN_ID))
    ordinal = int(text)
    if ordinal == 0:
        if state.list_reads >= policy.max_list_reads:
            return replace(state, phase=PHASE_DONE, last_reason="list"), Hangup(P_GOODBYE)
        state = replace(state, list_reads=state.list_reads + 1)
        items = tuple((c.ordinal, c.e164) for c in sorted(ctx.fictive, key=lambda c: c.ordinal))
        return state, ReadList(items, then=_ask_id(state, policy))
    for choice in ctx.fictive:
        if choice.ordinal == ordinal:
            state = _select(state, choice)
            return state, _ask_destination(state, policy)
    return _failed(state, "unknown_id", policy, lambda s: _ask_id(s, policy, error=P_UNKNOWN_ID))


def _on_destination(state: State, digits: str | None, ctx: AccessContext, policy: Policy):
    if digits is None or not digits.strip():
        reason = "timeout" if digits is None else EMPTY
        return _failed(state, reason, policy, lambda s: _ask_destination(s, policy))
    e164, reason = check_destination(
        digits, allowed_prefixes=ctx.allowed_prefixes, region=ctx.region
    )
    if e164 is None:
        return _failed(
            state, reason, policy, lambda s: _ask_destination(s, policy, error=P_BAD_DESTINATION)
        )
    state = replace(state, phase=PHASE_DONE, destination_e164=e164, last_reason="")
    return state, Dial(
        fictive_e164=state.fictive_e164,
        destination_e164=e164,
        record=True,
        fictive_id=state.fictive_id or 0,
    )


# -- return number ------------------------------------------------------------------------------


def _connect(state: State, p: PendingChoice) -> tuple[State, Connect]:
    state = replace(state, phase=PHASE_DONE, pending_id=p.pending_id, tries=0, last_reason="")
    return state, Connect(
        pending_id=p.pending_id,
        dealer_e164=p.dealer_e164,
        fictive_e164=p.fictive_e164,
        sequence=p.sequence,
    )


def start_return(
    ctx: ReturnContext | None, *, reason: str = "", policy: Policy = DEFAULT_POLICY
) -> tuple[State, Step]:
    """The first step for a call to the return number (`ctx` None: refused for `reason`)."""
    if ctx is None:
        state, step = refused(reason or UNKNOWN_CALLER)
        return replace(state, mode=RETURN), step
    state = State(mode=RETURN, phase=PHASE_SEQUENCE)
    if not ctx.pending:
        return replace(state, phase=PHASE_DONE), Hangup(P_NO_PENDING)
    if len(ctx.pending) == 1:
        return _connect(state, ctx.pending[0])
    return state, _ask_sequence(state, policy)


def _on_sequence(state: State, digits: str | None, ctx: ReturnContext, policy: Policy):
    if digits is None or not digits.strip():
        reason = "timeout" if digits is None else EMPTY
        return _failed(state, reason, policy, lambda s: _ask_sequence(s, policy))
    text = digits.strip()
    if text.isascii() and text.isdigit():
        for p in ctx.pending:
            if p.sequence == int(text):
                return _connect(state, p)
    return _failed(
        state, "unknown_sequence", policy, lambda s: _ask_sequence(s, policy, error=P_INVALID_INPUT)
    )


# -- the one entry point for input --------------------------------------------------------------


def on_input(
    state: State,
    digits: str | None,
    *,
    ctx: AccessContext | ReturnContext,
    policy: Policy = DEFAULT_POLICY,
) -> tuple[State, Step]:
    """What the caller typed (None: nothing before the timeout) -> the next step."""
    if state.phase == PHASE_ID:
        return _on_id(state, digits, ctx, policy)
    if state.phase == PHASE_DESTINATION:
        return _on_destination(state, digits, ctx, policy)
    if state.phase == PHASE_SEQUENCE:
        return _on_sequence(state, digits, ctx, policy)
    return state, Hangup(P_GOODBYE)
