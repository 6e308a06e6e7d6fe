"""POST /freeswitch/xml/: what mod_xml_curl sends, with HTTP basic auth, answered from the DB."""

from __future__ import annotations

import base64
import logging
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pbx.xmlbuild import NOT_FOUND, without_own_references
from portal.billing.models import Option, OptionPeriod
from portal.directory.models import PhoneNumber
from tests import factories

URL = "/freeswitch/xml/"
USER, PASSWORD = "freeswitch", "xml-secret-7c1"
BASE = "pbx.example.com"


@pytest.fixture(autouse=True)
def xml_settings(settings):
    settings.FREESWITCH_XML_CURL_USER = USER
    settings.FREESWITCH_XML_CURL_PASSWORD = PASSWORD
    settings.PBX_SIP_DOMAIN = BASE
    settings.CALLCONTROL_SOCKET_HOST = "127.0.0.1"
    settings.CALLCONTROL_SOCKET_PORT = 8084


def basic(user=USER, password=PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def ask(client, auth: str | None = None, **fields):
    """POST the way mod_xml_curl does (form-encoded, `hostname` and the section fields first)."""
    data = {"hostname": "fs1", "tag_name": "", "key_name": "", "key_value": "", **fields}
    extra = {"HTTP_AUTHORIZATION": basic() if auth is None else auth}
    return client.post(URL, data=data, **extra)


def parsed(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    text = response.content.decode()
    assert "$" not in without_own_references(text)
    return ET.fromstring(text)


def is_not_found(response) -> bool:
    return response.status_code == 200 and response.content.decode() == NOT_FOUND


def domain(cust) -> str:
    return f"c{cust.pk}.{BASE}"


def sip_auth(client, user, dom, **kw):
    fields = {
        "section": "directory",
        "tag_name": "domain",
        "key_name": "name",
        "key_value": dom,
        "key": "id",
        "user": user,
        "domain": dom,
        "action": "sip_auth",
        "sip_auth_username": user,
        "sip_auth_realm": dom,
    }
    return ask(client, **{**fields, **kw})


def switch_on(cust, code):
    OptionPeriod.objects.create(
        customer=cust, option=Option.objects.get(code=code), started_at=timezone.now()
    )


@pytest.fixture
def office(customer):
    dept = factories.department(customer, name="Продажи ${system(id)}")
    employees = [factories.employee(customer, dept, extension=str(101 + i)) for i in range(2)]
    multi = factories.number(
        customer, "+74951112233", kind=PhoneNumber.Kind.MULTICHANNEL, department=dept
    )
    regular = factories.number(
        customer, "+74951112244", kind=PhoneNumber.Kind.REGULAR, department=dept
    )
    return dept, employees, multi, regular


# --------------------------------------------------------------------------- authentication


@pytest.mark.django_db
def test_missing_or_wrong_credentials_get_401(client):
    for auth in ["", basic(password="nope"), basic(user="admin"), "Bearer x", "Basic !!!"]:
        response = ask(client, auth=auth, section="directory")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.django_db
def test_empty_password_setting_refuses_everything_and_says_why(client, settings, caplog):
    settings.FREESWITCH_XML_CURL_PASSWORD = ""
    with caplog.at_level(logging.ERROR, logger="pbx.views"):
        response = ask(client, auth=basic(password=""), section="directory")
    assert response.status_code == 403
    assert "FREESWITCH_XML_CURL_PASSWORD" in caplog.text


@pytest.mark.django_db
def test_only_post_is_served(client):
    assert client.get(URL, HTTP_AUTHORIZATION=basic()).status_code == 405


# --------------------------------------------------------------------------- directory


def test_sip_auth_returns_the_user_of_that_customer(client, customer, office):
    _, employees, _, _ = office
    root = parsed(sip_auth(client, "101", domain(customer)))
    assert root.find("section").get("name") == "directory"
    assert root.find("section/domain").get("name") == domain(customer)
    user = root.find(".//user")
    assert user.get("id") == "101"
    assert user.find("params/param[@name='password']").get("value") == employees[0].sip_password
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    assert variables["user_context"] == f"customer_{customer.pk}"
    assert variables["pbx_employee"] == str(employees[0].pk)


@pytest.mark.parametrize("action", ["user_call", "message-count", "reverse-auth-lookup", ""])
def test_other_user_lookups_are_answered_too(client, customer, office, action):
    response = (
        sip_auth(client, "102", domain(customer), action=action)
        if action
        else ask(
            client,
            section="directory",
            tag_name="domain",
            key_name="name",
            key_value=domain(customer),
            key="id",
            user="102",
            domain=domain(customer),
        )
    )
    assert parsed(response).find(".//user").get("id") == "102"


def test_another_customers_user_is_not_found_in_this_domain(
    client, customer, other_customer, office
):
    factories.employee(other_customer, extension="555")
    assert is_not_found(sip_auth(client, "555", domain(customer)))
    assert is_not_found(sip_auth(client, "101", domain(other_customer)))
    assert is_not_found(sip_auth(client, "101", f"c{customer.pk}.evil.example"))
    assert is_not_found(sip_auth(client, "101", BASE))


def test_unknown_users_actions_and_purposes_are_not_found(client, customer, office):
    dom = domain(customer)
    assert is_not_found(sip_auth(client, "199", dom))
    assert is_not_found(sip_auth(client, "${system(id)}", dom))
    assert is_not_found(sip_auth(client, "101", dom, action="voicemail-lookup"))
    assert is_not_found(sip_auth(client, "101", dom, key="number-alias"))
    assert is_not_found(
        ask(
            client,
            section="directory",
            tag_name="domain",
            key_name="name",
            key_value=dom,
            purpose="gateways",
        )
    )


def test_inactive_employee_and_suspended_customer_cannot_register(client, customer, office):
    _, employees, _, _ = office
    employees[0].is_active = False
    employees[0].save()
    assert is_not_found(sip_auth(client, "101", domain(customer)))
    customer.status = customer.Status.SUSPENDED
    customer.save()
    assert is_not_found(sip_auth(client, "102", domain(customer)))


def test_domain_lookup_without_user_lists_the_active_users(client, customer, office):
    response = ask(
        client,
        section="directory",
        tag_name="domain",
        key_name="name",
        key_value=domain(customer),
        domain=domain(customer),
    )
    assert [u.get("id") for u in parsed(response).iter("user")] == ["101", "102"]


# --------------------------------------------------------------------------- dialplan


def dialplan(client, context, destination):
    return ask(
        client,
        section="dialplan",
        tag_name="",
        **{
            "Hunt-Context": context,
            "Hunt-Destination-Number": destination,
            "Caller-Context": context,
            "Caller-Destination-Number": destination,
            "variable_sip_from_user": "${system(id)}",
        },
    )


def test_public_multichannel_number_goes_to_the_department_queue(client, customer, office):
    dept, _, multi, _ = office
    switch_on(customer, Option.CALLBACK)
    root = parsed(dialplan(client, "public", "74951112233"))
    steps = [(a.get("application"), a.get("data", "")) for a in root.iter("action")]
    assert ("set", f"pbx_customer={customer.pk}") in steps
    assert ("set", f"pbx_number={multi.pk}") in steps
    assert ("set", f"pbx_department={dept.pk}") in steps
    assert ("set", "cc_exit_keys=1") in steps
    assert ("callcenter", f"c{customer.pk}_d{dept.pk}@default") in steps
    assert not [s for s in steps if s[0] == "record_session"]


def test_call_recording_option_shows_in_the_dialplan(client, customer, office):
    switch_on(customer, Option.CALL_RECORDING)
    root = parsed(dialplan(client, "public", "+74951112244"))
    steps = [(a.get("application"), a.get("data", "")) for a in root.iter("action")]
    assert ("record_session", "${pbx_recording}") in steps
    assert ("bridge", f"user/101@{domain(customer)},user/102@{domain(customer)}") in steps


def test_unknown_public_number_is_unallocated(client, customer, office):
    root = parsed(dialplan(client, "public", "74990000000"))
    assert [a.get("data") for a in root.iter("action")] == ["UNALLOCATED_NUMBER"]


def test_customer_context_routes_extensions_of_that_customer_only(
    client, customer, other_customer, office
):
    factories.employee(other_customer, extension="555")
    root = parsed(dialplan(client, f"customer_{customer.pk}", "102"))
    assert root.find("section/context").get("name") == f"customer_{customer.pk}"
    assert ("bridge", f"user/102@{domain(customer)}") in [
        (a.get("application"), a.get("data")) for a in root.iter("action")
    ]
    root = parsed(dialplan(client, f"customer_{customer.pk}", "555"))
    assert [a.get("data") for a in root.iter("action")] == ["UNALLOCATED_NUMBER"]


def test_unknown_contexts_are_not_found(client, customer):
    for context in ["default", "customer_x", f"customer_{customer.pk + 1000}", ""]:
        assert is_not_found(dialplan(client, context, "101"))


# --------------------------------------------------------------------------- configuration


def callcenter(client, **kw):
    return ask(
        client,
        section="configuration",
        tag_name="configuration",
        key_name="name",
        key_value="callcenter.conf",
        **kw,
    )


def test_callcenter_conf_lists_queues_agents_and_tiers(client, customer, other_customer, office):
    dept, employees, _, _ = office
    other_dept = factories.department(other_customer)
    factories.employee(other_customer, other_dept, extension="101")
    factories.number(
        other_customer, "+74951112255", kind=PhoneNumber.Kind.MULTICHANNEL, department=other_dept
    )
    factories.department(customer, name="Без номера")  # no multichannel number: no queue
    switch_on(customer, Option.CALLBACK)
    root = parsed(callcenter(client))
    queues = [q.get("name") for q in root.iter("queue")]
    assert queues == [
        f"c{customer.pk}_d{dept.pk}@default",
        # callback on: the twin without the offer, for callers we cannot call back
        f"c{customer.pk}_d{dept.pk}_plain@default",
        f"c{other_customer.pk}_d{other_dept.pk}@default",
    ]
    plain = next(q for q in root.iter("queue") if q.get("name").endswith("_plain@default"))
    assert "announce-sound" not in {p.get("name") for p in plain.iter("param")}
    first = {p.get("name"): p.get("value") for p in next(root.iter("queue")).iter("param")}
    assert first["announce-frequency"] == str(dept.queue_announce_interval)
    assert {a.get("name") for a in root.iter("agent")} >= {
        f"c{customer.pk}_e{e.pk}" for e in employees
    }

    for asked in (f"c{customer.pk}_d{dept.pk}@default", f"c{customer.pk}_d{dept.pk}_plain@default"):
        one = parsed(callcenter(client, **{"CC-Queue": asked}))
        pair = [f"c{customer.pk}_d{dept.pk}@default", f"c{customer.pk}_d{dept.pk}_plain@default"]
        assert [q.get("name") for q in one.iter("queue")] == pair
        assert {t.get("queue") for t in one.iter("tier")} == set(pair)


def test_other_configuration_and_sections_are_not_found(client, customer):
    for name in ["sofia.conf", "event_socket.conf", "", "callcenter.conf.xml"]:
        assert is_not_found(ask(client, section="configuration", key_name="name", key_value=name))
    assert is_not_found(callcenter(client, **{"CC-Queue": "support@default"}))
    for section in ["phrases", "languages", "chatplan", "", "result"]:
        assert is_not_found(ask(client, section=section))


# --------------------------------------------------------------------------- query counts


def count_queries(fn) -> int:
    """Queries of a render (the answer cache is emptied first)."""
    from pbx import xmlcache

    xmlcache.store().clear()
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_the_number_of_employees(client, customer, office):
    dept, _, _, _ = office
    switch_on(customer, Option.CALLBACK)
    requests = [
        lambda: sip_auth(client, "101", domain(customer)),
        lambda: ask(
            client,
            section="directory",
            key_name="name",
            key_value=domain(customer),
            domain=domain(customer),
        ),
        lambda: dialplan(client, "public", "74951112233"),
        lambda: dialplan(client, "public", "74951112244"),
        lambda: dialplan(client, f"customer_{customer.pk}", "102"),
        lambda: callcenter(client),
    ]
    before = [count_queries(r) for r in requests]  # rendered: the cache is cleared first
    for i in range(30):
        factories.employee(customer, dept, extension=str(300 + i))
    other = factories.department(customer)
    factories.number(customer, "+74951112266", kind=PhoneNumber.Kind.MULTICHANNEL, department=other)
    factories.employee(customer, other, extension="400")
    after = [count_queries(r) for r in requests]
    assert before == after
    *per_call, callcenter_conf = after
    assert max(per_call) <= 5  # on the path of every REGISTER and call (features' reads gated)
    # every queue of every customer in one answer, asked on a queue reload, not per call: the
    # callback offer's and the hold music's reads on top of queues, agents and options
    assert callcenter_conf <= 8
