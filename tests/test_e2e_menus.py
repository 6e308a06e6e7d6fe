"""Voice menus end to end: the real call-control process against the ESL double.

The public dialplan hands a call to a number that starts with a menu to our outbound socket
(portal/menus/dialplan.py: pbx_flow=menu, pbx_menu_route, with pbx_customer, pbx_number and
pbx_number_e164 set before); the double plays the caller's keypad (one string per
play_and_get_digits, "" for silence) and records every application the flow runs.
"""

from __future__ import annotations

import pytest

from portal.billing import services as billing
from portal.billing.models import Option
from portal.menus import services
from tests import factories
from tests.callcontrol_process import CallControl
from tests.esl_double import EslDouble

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "menus-esl-pass"
NUMBER = "+74957770011"
CALLER = "+79161234567"


class Office:
    def __init__(self, prompts_dir):
        self.customer = factories.customer()
        self.sales = factories.department(self.customer, "Продажи")
        self.anna = factories.employee(self.customer, self.sales, extension="101")
        self.number = factories.number(
            self.customer, NUMBER, kind="multichannel", department=self.sales
        )
        c = self.customer
        self.main = services.menu_save(customer=c, name="Главное", max_retries=1)
        self.sub = services.menu_save(customer=c, name="Поддержка", direct_dial=True)
        services.option_set(customer=c, menu=self.main, key="1", target=f"dept:{self.sales.pk}")
        services.option_set(customer=c, menu=self.main, key="2", target=f"menu:{self.sub.pk}")
        services.option_set(customer=c, menu=self.main, key="#", target="number:+74951234567")
        services.option_set(customer=c, menu=self.sub, key="1", target=f"emp:{self.anna.pk}")
        services.option_set(customer=c, menu=self.sub, key="*", target=f"menu:{self.main.pk}")
        self.greeting = services.prompt_speak(
            customer=c, menu=self.main, kind="greeting", language="ru", text="Здравствуйте"
        )
        self.route = services.number_route_set(
            customer=c, number=self.number, target=f"menu:{self.main.pk}"
        )
        billing.option_set(customer=c, code=Option.IVR, enabled=True)

    def channel_vars(self) -> dict[str, str]:
        return {
            "pbx_customer": str(self.customer.pk),
            "pbx_number": str(self.number.pk),
            "pbx_number_e164": NUMBER,
            "hangup_after_bridge": "true",
            "pbx_flow": "menu",
            "pbx_menu_route": str(self.route.pk),
        }


@pytest.fixture
def prompts_dir(settings, tmp_path):
    settings.PROMPTS_DIR = tmp_path / "prompts"
    return settings.PROMPTS_DIR


@pytest.fixture
def office(prompts_dir):
    return Office(prompts_dir)


@pytest.fixture
def switch():
    with EslDouble(password=PASSWORD, time_factor=0.01) as fs:
        yield fs


@pytest.fixture
def service(switch, office, prompts_dir):
    cc = CallControl(esl_port=switch.port, password=PASSWORD, PROMPTS_DIR=str(prompts_dir)).start()
    switch.wait_for_command("event plain", timeout=10)
    yield cc
    cc.stop()


def call(switch, service, office, digits):
    session = switch.place_outbound_session(
        "127.0.0.1",
        service.socket_port,
        office.channel_vars(),
        caller=CALLER.lstrip("+"),
        destination=NUMBER.lstrip("+"),
        digits=list(digits),
    )
    # A transfer hands the call back to the dialplan (the double keeps the channel up): the
    # flow's last line says the session is over.
    service.wait_for_line(f"menu {session.uuid}", timeout=20)  # ended or refused
    if not session.wait_closed(timeout=0.5):
        switch.hangup(session.uuid)
    return session


def asked(session) -> list[str]:
    return [arg for app, arg in session.executed if app == "play_and_get_digits"]


def ended(session) -> tuple[str, str]:
    return [(app, arg) for app, arg in session.executed if app in ("transfer", "hangup")][-1]


def test_two_levels_of_keys_lead_the_caller_to_the_employee(switch, service, office):
    session = call(switch, service, office, ["2", "1"])
    ctx = f"customer_{office.customer.pk}"
    assert session.executed[0] == ("answer", "")
    first, second = asked(session)
    # the menu's own spoken greeting, one key, no terminator (* and # are keys)
    assert f"/menus/m{office.main.pk}-greeting-ru-" in first
    assert first.startswith("1 1 1 5000 none ") and first.endswith(" pbx_ivr_digits .+ 2000")
    # the submenu allows direct dialling: up to 3 digits; no greeting of its own
    assert second.startswith("1 3 1 5000 none ") and "menu_default_greeting.wav" in second
    assert ended(session) == ("transfer", f"101 XML {ctx}")


def test_a_department_key_enters_the_dialplans_queue_extension(switch, service, office):
    session = call(switch, service, office, ["1"])
    assert ended(session) == (
        "transfer",
        f"menu_dept_{office.sales.pk} XML customer_{office.customer.pk}",
    )


def test_an_extension_dialled_directly_in_the_submenu(switch, service, office):
    session = call(switch, service, office, ["2", "101"])
    assert ended(session) == ("transfer", f"101 XML customer_{office.customer.pk}")


def test_an_outside_number_goes_through_the_customers_context_showing_the_called_number(
    switch, service, office
):
    session = call(switch, service, office, ["#"])
    assert ("set", f"outbound_caller_id_number={NUMBER}") in session.executed
    assert ended(session) == ("transfer", f"+74951234567 XML customer_{office.customer.pk}")


def test_silence_and_a_wrong_key_are_answered_then_the_default_says_goodbye(
    switch, service, office
):
    session = call(switch, service, office, ["", "7"])
    first, second = asked(session)
    assert "menu_no_input.wav" in second  # the retry explains, then greets again
    plays = [arg for app, arg in session.executed if app == "playback"]
    assert "goodbye.wav" in plays[-1]
    assert ended(session) == ("hangup", "NORMAL_CLEARING")


def test_star_goes_back_up_from_the_submenu(switch, service, office):
    session = call(switch, service, office, ["2", "*", "1"])
    assert len(asked(session)) == 3
    assert f"/menus/m{office.main.pk}-greeting-ru-" in asked(session)[2]
    assert ended(session)[1].startswith("menu_dept_")


def test_with_the_option_switched_off_the_call_is_refused(switch, service, office):
    billing.option_set(customer=office.customer, code=Option.IVR, enabled=False)
    session = call(switch, service, office, ["1"])
    assert not asked(session)
    assert ended(session) == ("hangup", "SERVICE_UNAVAILABLE")


def test_a_route_of_another_customer_is_refused(switch, service, office, other_customer):
    their_number = factories.number(other_customer, "+74957770099", kind="regular")
    their_menu = services.menu_save(customer=other_customer, name="Чужое")
    theirs = services.number_route_set(
        customer=other_customer, number=their_number, target=f"menu:{their_menu.pk}"
    )
    variables = {**office.channel_vars(), "pbx_menu_route": str(theirs.pk)}
    session = switch.place_outbound_session(
        "127.0.0.1", service.socket_port, variables, caller="79161234567", digits=["1"]
    )
    service.wait_for_line(f"menu {session.uuid} refused", timeout=20)
    assert session.wait_closed(timeout=20)
    assert not asked(session)
    assert ended(session) == ("hangup", "SERVICE_UNAVAILABLE")
