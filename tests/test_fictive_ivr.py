"""The fictive-number IVRs as pure state machines: every branch, no database, no switch."""

from __future__ import annotations

import pytest

from portal.fictive import ivr
from portal.fictive.ivr import (
    AccessContext,
    Collect,
    Connect,
    Dial,
    FictiveChoice,
    Hangup,
    PendingChoice,
    ReadList,
    ReturnContext,
)

F1 = FictiveChoice(fictive_id=11, ordinal=1, e164="+420234234301")
F2 = FictiveChoice(fictive_id=12, ordinal=2, e164="+420234234302")
DEALER = "+420777123456"


def access(*fictive, prefixes=("+420",), region="CZ"):
    return AccessContext(
        customer_id=1,
        language="cs",
        shopper_id=5,
        project_id=7,
        allowed_prefixes=prefixes,
        fictive=tuple(fictive),
        region=region,
    )


def run(ctx, *inputs):
    state, step = ivr.start_access(ctx)
    steps = [step]
    for digits in inputs:
        state, step = ivr.on_input(state, digits, ctx=ctx)
        steps.append(step)
    return state, steps


# -- choosing the fictive number ----------------------------------------------------------------


def test_one_fictive_number_goes_straight_to_the_destination_prompt():
    state, step = ivr.start_access(access(F1))
    assert step == Collect(("fictive_enter_destination",), max_digits=17)
    assert state.fictive_id == 11 and state.fictive_e164 == F1.e164


def test_one_fictive_number_and_a_valid_destination_dial_it_showing_the_fictive_number():
    _, steps = run(access(F1), "777123456")
    assert steps[-1] == Dial(
        fictive_e164=F1.e164, destination_e164=DEALER, record=True, fictive_id=11
    )


def test_several_fictive_numbers_ask_for_the_id_first():
    _, step = ivr.start_access(access(F1, F2))
    assert step == Collect(("fictive_enter_id",), max_digits=3)


def test_zero_hash_reads_the_list_in_ordinal_order_then_asks_for_the_id_again():
    state, steps = run(access(F2, F1), "0")
    read = steps[-1]
    assert isinstance(read, ReadList)
    assert read.items == ((1, F1.e164), (2, F2.e164))
    assert read.then == Collect(("fictive_enter_id",), max_digits=3)
    assert state.phase == ivr.PHASE_ID and state.tries == 0


def test_reading_the_list_does_not_use_up_a_try():
    _, steps = run(access(F1, F2), "0", "0", "2")
    assert steps[-1] == Collect(("fictive_enter_destination",), max_digits=17)


def test_reading_the_list_too_often_ends_the_call_politely():
    _, steps = run(access(F1, F2), *["0"] * 6)
    assert steps[-1] == Hangup("goodbye")


def test_n_hash_selects_the_fictive_number_with_that_ordinal_and_dials_from_it():
    state, steps = run(access(F1, F2), "2", "00420777123456")
    assert steps[1] == Collect(("fictive_enter_destination",), max_digits=17)
    assert steps[2] == Dial(F2.e164, DEALER, record=True, fictive_id=12)
    assert state.phase == ivr.PHASE_DONE


def test_an_id_with_leading_zeros_selects_the_same_ordinal():
    state, _ = run(access(F1, F2), "02")
    assert state.fictive_id == 12


@pytest.mark.parametrize("digits", ["3", "99", "*2", "2A", "٢"])
def test_an_unknown_or_non_numeric_id_is_asked_again_with_the_unknown_id_prompt(digits):
    state, steps = run(access(F1, F2), digits)
    assert steps[-1] == Collect(("fictive_unknown_id", "fictive_enter_id"), 3, reprompt=1)
    assert state.tries == 1 and state.fictive_id is None


@pytest.mark.parametrize("digits", [None, "", "  "])
def test_no_id_or_a_timeout_asks_again_without_an_error_prompt(digits):
    _, steps = run(access(F1, F2), digits)
    assert steps[-1] == Collect(("fictive_enter_id",), 3, reprompt=1)


def test_three_bad_ids_end_the_call_with_goodbye():
    state, steps = run(access(F1, F2), "7", None, "x")
    assert isinstance(steps[2], Collect) and steps[2].reprompt == 2
    assert steps[-1] == Hangup("goodbye")
    assert state.phase == ivr.PHASE_DONE
    # anything after the hangup changes nothing
    assert ivr.on_input(state, "1", ctx=access(F1, F2)) == (state, Hangup("goodbye"))


def test_the_retry_limit_of_the_destination_starts_afresh_after_choosing_the_number():
    _, steps = run(access(F1, F2), "5", "5", "1", "112", "112")
    assert steps[3] == Collect(("fictive_enter_destination",), 17)
    assert steps[-1] == Collect(
        ("fictive_bad_destination", "fictive_enter_destination"), 17, reprompt=2
    )


# -- the destination ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits",
    ["112", "155", "150", "158", "911", "999", "100", "101", "102", "103", "104", "00112"],
)
def test_emergency_and_service_short_codes_are_never_dialled(digits):
    e164, reason = ivr.check_destination(digits, allowed_prefixes=(), region="CZ")
    assert e164 is None and reason in (ivr.EMERGENCY, ivr.INVALID)
    _, steps = run(access(F1, prefixes=()), digits)
    assert steps[-1] == Collect(
        ("fictive_bad_destination", "fictive_enter_destination"), 17, reprompt=1
    )


@pytest.mark.parametrize(
    ("digits", "reason"),
    [
        ("900123456", ivr.PREMIUM),  # CZ premium rate
        ("00420906123456", ivr.PREMIUM),
        ("841123456", ivr.SHARED_COST),  # CZ shared cost
        ("0078091234567", ivr.PREMIUM),  # RU 809 premium rate
    ],
)
def test_premium_rate_and_shared_cost_numbers_are_refused(digits, reason):
    assert ivr.check_destination(digits, allowed_prefixes=(), region="CZ") == (None, reason)


def test_a_destination_outside_the_projects_prefixes_is_refused_and_asked_again():
    ctx = access(F1, prefixes=("+420",))
    assert ivr.check_destination("0074951234567", allowed_prefixes=("+420",), region="CZ") == (
        None,
        ivr.NOT_ALLOWED,
    )
    state, steps = run(ctx, "0074951234567")
    assert steps[-1] == Collect(
        ("fictive_bad_destination", "fictive_enter_destination"), 17, reprompt=1
    )
    assert state.last_reason == ivr.NOT_ALLOWED


def test_a_project_without_prefixes_allows_any_valid_number():
    assert ivr.check_destination("0074951234567", allowed_prefixes=(), region="CZ") == (
        "+74951234567",
        ivr.OK,
    )


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("777123456", DEALER),  # national, read in the access number's region
        ("00420777123456", DEALER),  # international with 00
        ("420777123456", DEALER),  # international without 00
        ("+420777123456", DEALER),
        ("800123456", "+420800123456"),  # toll-free call centres are fine
    ],
)
def test_destinations_are_read_as_a_person_types_them(digits, expected):
    assert ivr.check_destination(digits, allowed_prefixes=("420",), region="CZ") == (
        expected,
        ivr.OK,
    )


@pytest.mark.parametrize(
    ("digits", "reason"),
    [
        ("", ivr.EMPTY),
        (None, ivr.EMPTY),
        ("12345", ivr.INVALID),
        ("777*23456", ivr.NOT_DIGITS),
        ("777123456}{", ivr.NOT_DIGITS),
        ("7771234${x}", ivr.NOT_DIGITS),
        ("0042077712345612345", ivr.TOO_LONG),
    ],
)
def test_malformed_destinations_are_refused_with_a_reason(digits, reason):
    assert ivr.check_destination(digits, allowed_prefixes=(), region="CZ") == (None, reason)


def test_three_bad_destinations_end_the_call_with_goodbye():
    _, steps = run(access(F1), "900123456", None, "")
    assert steps[-1] == Hangup("goodbye")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["+420", " 420 ", "00421", "", "abc", "+4 20 2"], ("+420", "+421", "+4202")),
        ([], ()),
    ],
)
def test_allowed_prefixes_are_normalised(raw, expected):
    assert ivr.normalize_prefixes(raw) == expected


# -- refused callers ----------------------------------------------------------------------------


def test_a_caller_who_is_no_shopper_hears_not_registered_and_is_hung_up():
    state, step = ivr.start_access(None, reason=ivr.UNKNOWN_CALLER)
    assert step == Hangup("fictive_unknown_caller") and state.phase == ivr.PHASE_DONE


def test_a_shopper_without_fictive_numbers_is_hung_up_as_not_registered():
    assert ivr.start_access(access())[1] == Hangup("fictive_unknown_caller")


@pytest.mark.parametrize("reason", [ivr.OPTION_OFF, ivr.UNKNOWN_ACCESS])
def test_an_access_number_out_of_service_says_so(reason):
    assert ivr.start_access(None, reason=reason)[1] == Hangup("service_unavailable")


# -- return number ------------------------------------------------------------------------------

P1 = PendingChoice(pending_id=31, sequence=1, dealer_e164=DEALER, fictive_e164=F1.e164)
P3 = PendingChoice(pending_id=33, sequence=3, dealer_e164="+420603000111", fictive_e164=F2.e164)


def ret(*pending):
    return ReturnContext(customer_id=1, language="cs", shopper_id=5, pending=tuple(pending))


def test_no_pending_call_says_so_and_hangs_up():
    assert ivr.start_return(ret())[1] == Hangup("fictive_no_pending")


def test_one_pending_call_is_connected_at_once_showing_the_fictive_number_the_dealer_called():
    state, step = ivr.start_return(ret(P1))
    assert step == Connect(
        pending_id=31, dealer_e164=DEALER, fictive_e164=F1.e164, sequence=1, record=True
    )
    assert step.prompt_key == "fictive_pending_call" and state.pending_id == 31


def test_several_pending_calls_ask_for_the_sequence_number_from_the_sms():
    state, step = ivr.start_return(ret(P1, P3))
    assert step == Collect(("fictive_enter_sequence",), 3)
    state, step = ivr.on_input(state, "3", ctx=ret(P1, P3))
    assert isinstance(step, Connect) and step.pending_id == 33 and step.fictive_e164 == F2.e164


def test_an_unknown_sequence_number_is_asked_again_then_goodbye():
    ctx = ret(P1, P3)
    state, _ = ivr.start_return(ctx)
    state, step = ivr.on_input(state, "2", ctx=ctx)
    assert step == Collect(("invalid_input", "fictive_enter_sequence"), 3, reprompt=1)
    state, step = ivr.on_input(state, None, ctx=ctx)
    assert step == Collect(("fictive_enter_sequence",), 3, reprompt=2)
    state, step = ivr.on_input(state, "#", ctx=ctx)
    assert step == Hangup("goodbye")


def test_a_caller_of_the_return_number_who_is_no_shopper_hears_not_registered():
    state, step = ivr.start_return(None, reason=ivr.UNKNOWN_CALLER)
    assert step == Hangup("fictive_unknown_caller") and state.mode == ivr.RETURN


def test_every_prompt_key_the_machine_uses_is_in_the_catalog():
    from portal.prompts import catalog

    keys = [v for k, v in vars(ivr).items() if k.startswith("P_")]
    for key in keys:
        catalog.get(key)
