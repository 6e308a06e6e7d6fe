"""Call forwarding services on the database: rules checked when saved (loops, other tenants,
the outbound call policy), and the dialplan FreeSWITCH gets for them."""

from __future__ import annotations

import pytest

from portal.billing.models import Option
from portal.billing.services import option_set
from portal.forwarding import services
from portal.forwarding.models import ForwardingRule
from portal.switch.xmldata import customer_dialplan_xml, public_dialplan_xml
from tests import factories


@pytest.fixture
def staff(customer):
    dept = factories.department(customer, name="Продажи")
    a = factories.employee(customer, dept, extension="101")
    b = factories.employee(customer, dept, extension="102")
    c = factories.employee(customer, dept, extension="103")
    factories.number(customer, "+74951112233", kind="regular", department=dept)
    return a, b, c


def test_a_loop_among_employees_is_refused_when_saved(customer, staff):
    a, b, c = staff
    services.rule_save(customer=customer, employee=a, when="always", target_employee=b)
    services.rule_save(customer=customer, employee=b, when="busy", target_employee=c)
    with pytest.raises(services.ForwardingError, match="по кругу"):
        services.rule_save(customer=customer, employee=c, when="no_answer", target_employee=a)
    with pytest.raises(services.ForwardingError):
        services.rule_save(customer=customer, employee=a, when="busy", target_employee=a)
    # replacing the rule that made the path breaks the loop
    services.rule_save(customer=customer, employee=b, when="busy", target_number="+79161234567")
    services.rule_save(customer=customer, employee=c, when="no_answer", target_employee=a)
    assert ForwardingRule.objects.count() == 3


def test_a_target_of_another_customer_is_refused(customer, other_customer, staff):
    a, _b, _c = staff
    stranger = factories.employee(other_customer, extension="555")
    with pytest.raises(services.ForwardingError):
        services.rule_save(customer=customer, employee=a, when="always", target_employee=stranger)
    with pytest.raises(services.ForwardingError):
        services.rule_save(
            customer=other_customer, employee=a, when="always", target_number="+79161234567"
        )
    assert not ForwardingRule.objects.exists()


@pytest.mark.parametrize(
    "number,ok",
    [
        ("+79161234567", True),  # mobile
        ("89161234567", True),  # national format, stored as E.164
        ("112", False),  # emergency
        ("+442079460000", False),  # international: opt-in class
        ("+7916", False),  # not a number
        ("${x}", False),
    ],
)
def test_outside_numbers_must_pass_the_outbound_policy(customer, staff, number, ok):
    a, _b, _c = staff
    if ok:
        rule = services.rule_save(
            customer=customer, employee=a, when="always", target_number=number
        )
        assert rule.target_number == "+79161234567"
    else:
        with pytest.raises(services.ForwardingError):
            services.rule_save(customer=customer, employee=a, when="always", target_number=number)


def test_the_dialplan_follows_the_rules_and_stops_with_the_option_off(customer, staff):
    a, b, _c = staff
    services.rule_save(customer=customer, employee=a, when="always", target_employee=b)
    domain = f"c{customer.pk}."
    assert "pbx_forwarded" not in customer_dialplan_xml(customer.pk, "101")  # option off
    option_set(customer=customer, code=Option.CALL_FORWARDING, enabled=True)
    xml = customer_dialplan_xml(customer.pk, "101")
    assert f'data="[pbx_forwarded={a.pk}]user/102@{domain}' in xml
    public = public_dialplan_xml("+74951112233")
    assert f"[pbx_forwarded={a.pk}]user/102@{domain}" in public
    option_set(customer=customer, code=Option.CALL_FORWARDING, enabled=False)
    assert "pbx_forwarded" not in customer_dialplan_xml(customer.pk, "101")


def test_a_mobile_forward_presents_the_customers_number_and_goes_through_its_own_dialplan(
    customer, staff
):
    a, _b, _c = staff
    option_set(customer=customer, code=Option.CALL_FORWARDING, enabled=True)
    services.rule_save(customer=customer, employee=a, when="always", target_number="+79161234567")
    xml = customer_dialplan_xml(customer.pk, "101")
    assert (
        f"[pbx_forwarded={a.pk},pbx_employee={a.pk},outbound_caller_id_number=+74951112233]"
        f"loopback/+79161234567/customer_{customer.pk}"
    ) in xml
    # the loopback's leg meets the customer's outbound extension: policy, limits, billing
    outbound = customer_dialplan_xml(customer.pk, "+79161234567")
    assert 'name="outbound"' in outbound and "pbx_flow=outbound" in outbound


def test_conditional_rules_render_the_forwarding_leg(customer, staff):
    a, b, _c = staff
    option_set(customer=customer, code=Option.CALL_FORWARDING, enabled=True)
    services.rule_save(customer=customer, employee=a, when="busy", target_employee=b)
    services.rule_save(
        customer=customer, employee=a, when="no_answer", target_employee=b, ring_seconds=10
    )
    xml = customer_dialplan_xml(customer.pk, "101")
    assert f"loopback/pbx_fwd_{a.pk}/customer_{customer.pk}" in xml
    leg = customer_dialplan_xml(customer.pk, f"pbx_fwd_{a.pk}")
    assert "call_timeout=10" in leg and "user/101@" in leg and "${originate_disposition}" in leg
    busy = customer_dialplan_xml(customer.pk, f"pbx_fwd_{a.pk}_USER_BUSY")
    assert f"[pbx_forwarded={a.pk}]user/102@" in busy
    # another customer's employee id in the name is not served
    other = factories.customer(name="Другой")
    option_set(customer=other, code=Option.CALL_FORWARDING, enabled=True)
    assert "bridge" not in customer_dialplan_xml(other.pk, f"pbx_fwd_{a.pk}")


def test_deleting_a_rule_of_another_customer_is_refused(customer, other_customer, staff):
    a, b, _c = staff
    rule = services.rule_save(customer=customer, employee=a, when="always", target_employee=b)
    with pytest.raises(services.ForwardingError):
        services.rule_delete(customer=other_customer, rule=rule)
    assert ForwardingRule.objects.filter(pk=rule.pk).exists()


def test_the_dialplan_answer_costs_the_same_queries_for_3_or_20_forwarded_employees(customer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.billing.models import Option as O

    option_set(customer=customer, code=O.CALL_FORWARDING, enabled=True)
    option_set(customer=customer, code=O.VOICEMAIL, enabled=True)
    dept = factories.department(customer, name="Большой")
    factories.number(customer, "+74951112299", kind="regular", department=dept)
    target = factories.employee(customer, extension="500")

    def grow(count: int) -> int:
        while dept.employees.count() < count:
            e = factories.employee(customer, dept)
            services.rule_save(customer=customer, employee=e, when="busy", target_employee=target)
            services.rule_save(
                customer=customer, employee=e, when="no_answer", target_number="+79161234567"
            )
        with CaptureQueriesContext(connection) as queries:
            xml = public_dialplan_xml("+74951112299")
        assert xml.count("loopback/pbx_fwd_") == count
        return len(queries)

    assert grow(3) == grow(20)
