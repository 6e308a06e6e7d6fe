"""The blacklist in the public dialplan: rendered XML against golden files (pure), and through
the portal's mod_xml_curl answer (PostgreSQL, the answer cache): a list edit or the option's
toggle is in the very next call's answer."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from pbx import render
from portal.billing import services as billing
from portal.billing.models import Option
from portal.blacklist import services
from portal.blacklist.dialplan import Loaded
from portal.blacklist.dialplan import dialplan as contribution
from portal.blacklist.rules import NUMBER, PREFIX, Entry, caller_patterns
from portal.directory.models import PhoneNumber
from tests import factories, test_xml_cache
from tests.test_render import CONF, assert_safe, customer, employee, golden, number
from tests.test_xml_cache import text
from tests.test_xml_curl import dialplan, xml_settings  # noqa: F401  (autouse fixture)

cache = test_xml_cache.cache  # the fixture: both stores (Redis, memory)
ENTRIES = [Entry(NUMBER, "74951112233"), Entry(PREFIX, "7812")]
STAFF = [employee(pk=1, ext="101"), employee(pk=2, ext="102")]


def public(*, options=("blacklist",), action="busy", anonymous=False, entries=ENTRIES):
    call = render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(),
        employees=STAFF,
        options=frozenset(options),
        features=[contribution],
        data={
            "blacklist": Loaded(
                action=action, block_anonymous=anonymous, patterns=tuple(caller_patterns(entries))
            )
        },
    )
    return render.render_public_dialplan("74951234567", call, settings=CONF)


def without_feature() -> str:
    call = render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR), customer=customer(), employees=STAFF
    )
    return render.render_public_dialplan("74951234567", call, settings=CONF)


def hunt(xml: str, caller: str, destination: str = "74951234567") -> str:
    """The extension FreeSWITCH would pick for `caller` (conditions ANDed, first match wins)."""
    for extension in ET.fromstring(xml).iter("extension"):
        fields = {"destination_number": destination, "caller_id_number": caller}
        if all(
            re.search(c.get("expression"), fields[c.get("field")])
            for c in extension.findall("condition")
        ):
            return extension.get("name")
    return ""


def test_listed_callers_are_rejected_busy_before_the_numbers_extension_golden():
    xml = public()
    root = golden("dialplan_public_regular_blacklist_busy", xml)
    first = root.find("section/context/extension")
    assert first.get("name") == "blacklist_n78_1"
    steps = [(a.get("application"), a.get("data")) for a in first.iter("action")]
    assert steps == [
        ("set", "pbx_customer=12"),
        ("set", "pbx_number=78"),
        ("set", "pbx_blacklisted=true"),
        ("hangup", "USER_BUSY"),
    ]
    for caller in ("+74951112233", "84951112233", "+78120000000", "88121234567"):
        assert hunt(xml, caller).startswith("blacklist_"), caller
    for caller in ("+74951112234", "+79161234567", "anonymous"):
        assert hunt(xml, caller) == "n78", caller


def test_prompt_and_anonymous_callers_golden():
    xml = public(action="prompt", anonymous=True)
    root = golden("dialplan_public_regular_blacklist_prompt", xml)
    names = [e.get("name") for e in root.iter("extension")]
    assert names == ["blacklist_n78_1", "blacklist_n78_2", "blacklist_n78_3", "n78"]
    last = list(root.iter("extension"))[2]
    steps = [(a.get("application"), a.get("data")) for a in last.iter("action")]
    assert ("set", "pbx_blacklisted=anonymous") in steps
    assert steps[-4:] == [
        ("pre_answer", None),
        ("sleep", "300"),
        ("playback", "$${pbx_sounds_dir}/ru/service_unavailable.wav"),
        ("hangup", "CALL_REJECTED"),
    ]
    assert hunt(xml, "anonymous") == "blacklist_n78_3"
    assert hunt(xml, "") == "blacklist_n78_3"


@pytest.mark.parametrize(
    "kwargs",
    [{"options": ()}, {"entries": []}, {"options": ("call_recording",), "anonymous": True}],
)
def test_nothing_is_rendered_when_the_option_is_off_or_the_list_is_empty(kwargs):
    if kwargs.get("options") == ("call_recording",):
        assert "blacklist" not in public(**kwargs)
        return
    assert public(**kwargs) == without_feature()


def test_a_suspended_customer_is_not_screened():
    call = render.PublicCall(
        number=number(kind=PhoneNumber.Kind.REGULAR),
        customer=customer(status="suspended"),
        employees=STAFF,
        options=frozenset({"blacklist"}),
        features=[contribution],
        data={"blacklist": Loaded("busy", True, tuple(caller_patterns(ENTRIES)))},
    )
    assert "blacklist" not in render.render_public_dialplan("74951234567", call, settings=CONF)


def test_the_rendered_xml_is_safe_with_a_full_list():
    entries = [Entry(NUMBER, f"7495{n:07d}") for n in range(250)]
    assert_safe(public(entries=entries, anonymous=True))


# --- through the portal's answer (PostgreSQL, cache) -----------------------------------------


@pytest.fixture
def office(customer):
    dept = factories.department(customer)
    factories.employee(customer, dept, extension="101")
    factories.number(customer, "+74951112244", kind=PhoneNumber.Kind.REGULAR, department=dept)
    return dept


def test_a_list_edit_and_the_option_toggle_reach_the_next_call(
    client,
    customer,
    office,
    cache,
    django_capture_on_commit_callbacks,
):
    def answer() -> str:
        return text(dialplan(client, "public", "74951112244"))

    with django_capture_on_commit_callbacks(execute=True):
        billing.option_set(customer=customer, code=Option.BLACKLIST, enabled=True)
    for _ in range(2):
        assert "blacklist_" not in answer()  # the option alone: an empty list renders nothing
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_add(customer=customer, kind=NUMBER, value="+7 916 123-45-67")
    assert hunt(answer(), "89161234567", "74951112244").startswith("blacklist_")
    assert hunt(answer(), "89161234568", "74951112244") == f"n{office.numbers.get().pk}"
    assert "blacklist_" in answer()  # cached now, still the new list
    with django_capture_on_commit_callbacks(execute=True):
        services.blacklist_settings_set(customer=customer, action="prompt", block_anonymous=True)
    assert "CALL_REJECTED" in answer() and "pbx_blacklisted=anonymous" in answer()
    entry = customer.blacklist_entries.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_delete(customer=customer, entry_id=entry.pk)
    assert "pbx_blacklisted=true" not in answer()
    with django_capture_on_commit_callbacks(execute=True):
        billing.option_set(customer=customer, code=Option.BLACKLIST, enabled=False)
    assert "blacklist_" not in answer()


def test_another_customers_list_is_not_in_this_customers_answer(
    client,
    customer,
    other_customer,
    office,
    cache,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        billing.option_set(customer=customer, code=Option.BLACKLIST, enabled=True)
        services.entry_add(customer=other_customer, kind=NUMBER, value="+79161234567")
    assert "blacklist_" not in text(dialplan(client, "public", "74951112244"))


def test_a_customer_who_never_used_the_blacklist_costs_the_call_path_one_query(customer, office):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    number = office.numbers.get()
    with CaptureQueriesContext(connection) as unused:
        assert contribution.load_inbound(customer.pk, number) is None
    assert len(unused) == 1
    services.entry_add(customer=customer, kind=NUMBER, value="+79161234567")
    with CaptureQueriesContext(connection) as used:
        loaded = contribution.load_inbound(customer.pk, number)
    assert len(used) == 2
    assert loaded.patterns == tuple(caller_patterns([Entry(NUMBER, "79161234567")]))
