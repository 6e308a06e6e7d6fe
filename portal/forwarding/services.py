"""Write path of call forwarding: a rule per employee and condition, checked when it is saved.

Refused at save time: a target of another customer, the employee itself, a forward that
closes a loop among employees (A -> B -> A, any conditions), an outside number that is not a
valid number or whose destination class the customer's outbound call policy does not open
(opt-in classes — international, premium, satellite — are refused here: a forward has no
phone whose `toll_allow` could open them; emergency numbers are never a target). The
dialplan re-checks the class at every call (the forward goes through the customer's own
dialplan). Every change is announced, so the next call follows it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from pbx import destinations, render
from portal.billing import callpolicy
from portal.directory.models import Employee, PhoneNumber
from portal.events import announce_config_change
from portal.forwarding import rules
from portal.forwarding.models import ForwardingRule


class ForwardingError(ValueError):
    """A rule that cannot be saved; the message is for the user."""


def check_number(customer, number: str) -> str:
    """The outside number as E.164, or ForwardingError saying why it cannot be a target."""
    settings = _render_settings()
    home = list(
        PhoneNumber.objects.filter(customer=customer)
        .order_by("e164")
        .values_list("e164", flat=True)[:50]
    )
    text = (number or "").strip().replace(" ", "").replace("-", "")
    found = destinations.classify(
        text, region=settings.region, home_numbers=home, prefixes=settings.prefixes
    )
    if found is None or render.e164(found.number, settings.region) != found.number:
        raise ForwardingError(_("Это не номер телефона."))
    if found.emergency:
        raise ForwardingError(_("На экстренные номера переадресация не делается."))
    policy = callpolicy.outbound_policy(customer)
    if found.cls in destinations.OPT_IN or not destinations.allowed(found.cls, policy.allowed):
        raise ForwardingError(_("Звонки на такие номера закрыты политикой исходящих звонков."))
    return found.number


def _render_settings():
    from portal.switch.xmldata import render_settings

    return render_settings()


def rule_save(
    *,
    customer,
    employee: Employee,
    when: str,
    target_employee: Employee | None = None,
    target_number: str = "",
    ring_seconds: int = 20,
    enabled: bool = True,
) -> ForwardingRule:
    """Create or replace `employee`'s rule for `when`."""
    if when not in ForwardingRule.When.values:
        raise ForwardingError(_("Неизвестное условие переадресации."))
    if employee.customer_id != customer.pk:
        raise ForwardingError(_("Нет такого сотрудника."))
    if (target_employee is None) == (not target_number):
        raise ForwardingError(_("Укажите либо сотрудника, либо внешний номер."))
    if not 5 <= int(ring_seconds) <= 60:
        raise ForwardingError(_("Ждать ответа: от 5 до 60 секунд."))
    number = ""
    if target_employee is not None:
        if target_employee.customer_id != customer.pk:
            raise ForwardingError(_("Нет такого сотрудника."))
        if target_employee.pk == employee.pk:
            raise ForwardingError(_("Нельзя переадресовать звонки самому себе."))
    else:
        number = check_number(customer, target_number)
    with transaction.atomic():
        # One customer's rules change one at a time: the loop check sees every saved rule.
        list(Employee.objects.select_for_update().filter(pk=employee.pk))
        if target_employee is not None and enabled:
            edges = ForwardingRule.objects.filter(
                customer=customer, enabled=True, target_employee__isnull=False
            ).exclude(employee=employee, when=when)
            pairs = list(edges.values_list("employee_id", "target_employee_id"))
            if rules.creates_loop(pairs, employee.pk, target_employee.pk):
                raise ForwardingError(
                    _("Так звонок пойдёт по кругу: %(a)s → %(b)s → … → %(a)s.")
                    % {"a": employee.extension, "b": target_employee.extension}
                )
        rule, _created = ForwardingRule.objects.update_or_create(
            employee=employee,
            when=when,
            defaults={
                "customer": customer,
                "target_employee": target_employee,
                "target_number": number,
                "ring_seconds": int(ring_seconds),
                "enabled": enabled,
            },
        )
        announce_config_change(customer_id=customer.pk, what="forwarding")
    return rule


def rule_delete(*, customer, rule: ForwardingRule) -> None:
    if rule.customer_id != customer.pk:
        raise ForwardingError(_("Нет такого правила."))
    with transaction.atomic():
        rule.delete()
        announce_config_change(customer_id=customer.pk, what="forwarding")
