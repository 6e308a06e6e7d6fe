"""Toll fraud on a real FreeSWITCH, driven by sipp: a registered phone dials out through the
`pstn` gateway to a sipp far end. A premium or satellite destination never leaves the gateway
until the customer opens its class, a national number does, 112 always does, and the per-phone
concurrent-call limit refuses call N+1.

Runs whenever `freeswitch` and `sipp` are on PATH (tests/realswitch.py), else skipped.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.conf import settings

from portal.billing import callpolicy
from portal.billing import services as billing
from tests import factories, realswitch
from tests.callcontrol_process import database_url

reason = realswitch.unavailable()
pytestmark = [
    pytest.mark.skipif(reason is not None, reason=reason or ""),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "phone-out-secret-42"
NATIONAL = "74957654321"
PREMIUM = "78095551234"  # RU 8-809: premium rate
SATELLITE = "+881612345678"  # Iridium


@pytest.fixture
def stack(tmp_path):
    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    factories.employee(customer, extension="101", sip_password=PASSWORD)
    factories.number(customer, "+74951112244")  # the caller ID it presents
    far_end = realswitch.Answerer(tmp_path, "pstn")
    phone = realswitch.Answerer(tmp_path, "phone")
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    fs = realswitch.FreeSwitch(tmp_path / "fs", portal_port=portal.port, pstn_port=far_end.port)
    portal.fs = fs
    domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
    try:
        portal.start()
        fs.start()
        assert realswitch.register(
            fs, tmp_path, user="101", password=PASSWORD, domain=domain, contact_port=phone.port
        )
        yield {
            "customer": customer,
            "fs": fs,
            "far_end": far_end,
            "work": tmp_path,
            "domain": domain,
        }
    finally:
        fs.stop()
        portal.stop()
        far_end.stop()
        phone.stop()


def dial(stack, number: str, **kw) -> realswitch.CallStats:
    return realswitch.phone_call(
        stack["fs"],
        stack["work"],
        user="101",
        password=PASSWORD,
        domain=stack["domain"],
        number=number,
        **kw,
    )


def reached(far_end: realswitch.Answerer, wait: float = 3) -> int:
    """INVITEs the far end has seen so far (OPTIONS pings not counted: they end at once)."""
    time.sleep(wait)  # its statistics are written once a second
    counts = far_end.counts()
    return counts["SuccessfulCall(C)"] + counts["FailedCall(C)"]


def test_a_national_call_leaves_through_the_gateway(stack):
    result = dial(stack, NATIONAL)
    assert (result.successful, result.failed) == (1, 0)
    assert "sofia/gateway/pstn/+" + NATIONAL in stack["fs"].log_file.read_text()


@pytest.mark.parametrize("number", [PREMIUM, SATELLITE])
def test_premium_and_satellite_never_leave_the_gateway_until_opened(stack, number):
    before = reached(stack["far_end"], wait=0)
    result = dial(stack, number)
    assert result.successful == 0
    log = stack["fs"].log_file.read_text()
    assert f"sofia/gateway/pstn/+{number.lstrip('+')}" not in log
    assert "OUTGOING_CALL_BARRED" in log
    assert "tone_stream://%(274,0,913.8)" in log  # not silence, even without prompt files
    assert reached(stack["far_end"]) == before
    cls = "premium" if number == PREMIUM else "satellite"
    callpolicy.call_policy_update(customer=stack["customer"], classes={cls: True})
    assert dial(stack, number).successful == 1  # the next call sees the change


def test_112_is_always_routed(stack):
    callpolicy.call_policy_update(customer=stack["customer"], classes={"international": False})
    result = dial(stack, "112")
    assert result.successful == 1
    assert "sofia/gateway/pstn/112" in stack["fs"].log_file.read_text()


def test_the_phone_limit_refuses_call_n_plus_1(stack):
    callpolicy.call_policy_update(customer=stack["customer"], limits={"max_calls_per_phone": 2})
    # three calls at once, each talking 4 s: two go out, the third is refused
    result = dial(stack, NATIONAL, calls=3, rate=20, talk_ms=4000)
    assert (result.successful, result.failed) == (2, 1)


def test_the_customer_limit_holds_across_two_nodes(tmp_path):
    """Two nodes, a phone on each, a limit of one outside call per customer: while a call is
    up on the first node, the second node refuses one (mod_hash adds the peers' counts)."""
    import threading

    customer = factories.customer()
    billing.payment_record(customer=customer, amount=Decimal("1000"), reference="e2e")
    factories.employee(customer, extension="101", sip_password=PASSWORD)
    factories.employee(customer, extension="102", sip_password=PASSWORD)
    factories.number(customer, "+74951112244")
    callpolicy.call_policy_update(customer=customer, limits={"max_calls": 1})
    far_end = realswitch.Answerer(tmp_path, "pstn")
    phones = [realswitch.Answerer(tmp_path, "a"), realswitch.Answerer(tmp_path, "b")]
    portal = realswitch.Portal(tmp_path, database_url(), redis_url=settings.REDIS_URL)
    nodes = [
        realswitch.FreeSwitch(tmp_path / name, portal_port=portal.port, pstn_port=far_end.port)
        for name in ("fs1", "fs2")
    ]
    for node, peer in zip(nodes, reversed(nodes), strict=True):
        peers = node.workdir / "peers"
        peers.mkdir()
        (peers / "peer.xml").write_text(
            f'<remote name="peer" host="127.0.0.1" port="{peer.esl_port}" '
            'password="$${esl_password}" interval="500"/>\n'
        )
        node.extra_env["PBX_LIMIT_PEERS"] = str(peers / "*.xml")
    portal.extra_env["FREESWITCH_NODES"] = ",".join(
        f"fs{i}=127.0.0.1:{n.esl_port}" for i, n in enumerate(nodes, 1)
    )
    domain = f"c{customer.pk}.{realswitch.SIP_DOMAIN}"
    try:
        portal.start()
        for node, ext, phone in zip(nodes, ("101", "102"), phones, strict=True):
            node.start()
            assert realswitch.register(
                node, tmp_path, user=ext, password=PASSWORD, domain=domain, contact_port=phone.port
            )
        first: list[realswitch.CallStats] = []

        def long_call() -> None:
            first.append(
                realswitch.phone_call(
                    nodes[0],
                    tmp_path,
                    user="101",
                    password=PASSWORD,
                    domain=domain,
                    number=NATIONAL,
                    talk_ms=6000,
                )
            )

        talking = threading.Thread(target=long_call)
        talking.start()
        time.sleep(3)  # up on fs1, and fs2 has pulled fs1's counts
        second = realswitch.phone_call(
            nodes[1], tmp_path, user="102", password=PASSWORD, domain=domain, number=NATIONAL
        )
        talking.join()
        assert first[0].successful == 1
        assert second.successful == 0
        assert "pbx_limit_exceeded" in nodes[1].log_file.read_text()
        time.sleep(1.5)  # fs2 pulls fs1's counts twice a second
        after = realswitch.phone_call(
            nodes[1], tmp_path, user="102", password=PASSWORD, domain=domain, number=NATIONAL
        )
        assert after.successful == 1  # the first call ended: the limit is free again
    finally:
        for node in nodes:
            node.stop()
        portal.stop()
        for answerer in (far_end, *phones):
            answerer.stop()
