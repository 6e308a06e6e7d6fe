"""The voice-menu pages: building a menu, its prompts, keys, schedules and numbers; the
simulator's JSON; and the hostile twins (another customer's ids, read-only staff, CSRF)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from portal.billing import services as billing
from portal.billing.models import Option
from portal.menus import services
from portal.menus.models import Menu, MenuOption, MenuPrompt, NumberRoute, Schedule
from portal.prompts import catalog
from portal.switch.models import ConfigChange
from portal.tenants.models import User
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def prompts_dir(settings, tmp_path):
    settings.PROMPTS_DIR = tmp_path / "prompts"
    return settings.PROMPTS_DIR


@pytest.fixture
def office(customer):
    sales = factories.department(customer, "Продажи")
    anna = factories.employee(customer, sales, extension="101", name="Анна")
    main = services.menu_save(customer=customer, name="Главное")
    sub = services.menu_save(customer=customer, name="Поддержка")
    return {"sales": sales, "anna": anna, "main": main, "sub": sub}


def save(client, menu, **fields):
    data = {"name": menu.name, "timeout_seconds": "5", "max_retries": "2", "default": "hangup"}
    data.update(fields)
    return client.post(f"/pbx/menus/{menu.pk}/save/", data)


def test_a_customer_builds_a_two_level_menu_and_sees_it_as_a_tree(admin_client, office):
    main, sub = office["main"], office["sub"]
    r = save(
        admin_client,
        main,
        key_1=f"dept:{office['sales'].pk}",
        key_1_label="Отдел продаж",
        key_2=f"menu:{sub.pk}",
        key_star="number",
        key_star_number="+74951234567",
        key_hash="repeat",
    )
    assert r.status_code == 302
    save(admin_client, sub, key_1=f"emp:{office['anna'].pk}", key_0=f"menu:{main.pk}")
    assert dict(main.options.values_list("key", "target")) == {
        "1": f"dept:{office['sales'].pk}",
        "2": f"menu:{sub.pk}",
        "*": "number:+74951234567",
        "#": "repeat",
    }
    html = admin_client.get(f"/pbx/menus/{main.pk}/").content.decode()
    tree = html[html.index("data-tree") :]
    assert "Отдел «Продажи»" in tree and "Поддержка" in tree and "Сотрудник Анна (101)" in tree
    assert "Внешний номер +74951234567" in tree
    assert "Нет приветствия" in html  # no greeting yet: named before any caller hears silence


def test_an_emptied_key_is_removed(admin_client, office):
    main = office["main"]
    save(admin_client, main, key_1="hangup")
    save(admin_client, main)
    assert not main.options.exists()


def test_a_destination_of_another_customer_is_a_404_and_nothing_is_saved(
    admin_client, office, other_customer
):
    theirs = factories.department(other_customer, "Чужой")
    their_menu = services.menu_save(customer=other_customer, name="Чужое")
    for target in (f"dept:{theirs.pk}", f"menu:{their_menu.pk}"):
        assert save(admin_client, office["main"], key_1=target).status_code == 404
    assert not MenuOption.objects.filter(menu=office["main"]).exists()
    assert admin_client.get(f"/pbx/menus/{their_menu.pk}/").status_code == 404
    assert save(admin_client, their_menu, key_1="hangup").status_code == 404


def test_a_bad_outside_number_is_refused_with_a_message(admin_client, office):
    r = save(admin_client, office["main"], key_1="number", key_1_number="12${x}")
    assert r.status_code == 302
    assert not office["main"].options.exists()
    page = admin_client.get(r.url).content.decode()
    assert "Внешний номер: укажите его полностью" in page


def test_menus_that_only_lead_round_each_other_are_flagged(admin_client, office):
    main, sub = office["main"], office["sub"]
    save(admin_client, main, key_1=f"menu:{sub.pk}", default=f"menu:{sub.pk}")
    save(admin_client, sub, key_1=f"menu:{main.pk}", default=f"menu:{main.pk}")
    html = admin_client.get(f"/pbx/menus/{main.pk}/").content.decode()
    assert "Из меню нельзя выйти" in html


def test_voicemail_is_offered_disabled_with_a_reason_while_there_is_no_box(admin_client, office):
    html = admin_client.get(f"/pbx/menus/{office['main'].pk}/").content.decode()
    assert "Голосовая почта — недоступна" in html
    assert save(admin_client, office["main"], key_1="voicemail:1").status_code == 302
    assert not office["main"].options.exists()


def test_a_spoken_greeting_is_generated_and_can_be_listened_to(admin_client, office, prompts_dir):
    main = office["main"]
    r = admin_client.post(
        f"/pbx/menus/{main.pk}/prompts/greeting/ru/", {"text": "Здравствуйте! Нажмите один."}
    )
    assert r.status_code == 302
    prompt = MenuPrompt.objects.get(menu=main, kind="greeting", language="ru")
    assert prompt.file_path.startswith(
        f"customers/{main.customer_id}/menus/m{main.pk}-greeting-ru-"
    )
    audio = admin_client.get(f"/pbx/menus/{main.pk}/prompts/greeting/ru.wav")
    assert audio.status_code == 200 and audio["Content-Type"] == "audio/wav"
    assert b"".join(audio.streaming_content)[:4] == b"RIFF"
    html = admin_client.get(f"/pbx/menus/{main.pk}/").content.decode()
    assert f'src="/pbx/menus/{main.pk}/prompts/greeting/ru.wav"' in html
    assert "Нет приветствия" not in html
    # removed: the file goes too (after commit)
    path = prompts_dir / prompt.file_path
    assert path.is_file()


def test_another_customers_prompt_cannot_be_heard(client, office, other_customer):
    services.prompt_speak(
        customer=office["main"].customer,
        menu=office["main"],
        kind="greeting",
        language="ru",
        text="Да",
    )
    client.force_login(factories.user(other_customer))
    assert client.get(f"/pbx/menus/{office['main'].pk}/prompts/greeting/ru.wav").status_code == 404


def test_staff_may_look_and_try_the_menu_but_not_change_it(client, customer, office):
    client.force_login(factories.user(customer, role=User.Role.DEPARTMENT_STAFF))
    assert client.get(f"/pbx/menus/{office['main'].pk}/").status_code == 200
    assert save(client, office["main"], key_1="hangup").status_code == 403
    assert client.post("/pbx/menus/new/", {"name": "x"}).status_code == 403
    r = client.post(
        f"/pbx/menus/{office['main'].pk}/test/step/", "{}", content_type="application/json"
    )
    assert r.status_code == 200


def test_changes_need_the_csrf_token(admin_user, office):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post("/pbx/menus/new/", {"name": "Без токена"}).status_code == 403
    assert not Menu.objects.filter(name="Без токена").exists()


# -- the simulator ----------------------------------------------------------------------------


def step(client, menu, **body):
    r = client.post(
        f"/pbx/menus/{menu.pk}/test/step/", json.dumps(body), content_type="application/json"
    )
    return r.status_code, (r.json() if r["Content-Type"] == "application/json" else None)


def test_the_simulator_walks_the_same_machine_the_switch_runs(admin_client, office):
    main, sub = office["main"], office["sub"]
    save(admin_client, main, key_1=f"dept:{office['sales'].pk}", key_2=f"menu:{sub.pk}")
    save(admin_client, sub, key_1=f"emp:{office['anna'].pk}", max_retries="0")
    code, data = step(admin_client, main)
    assert code == 200 and data["action"] == "ask" and data["menu"]["name"] == "Главное"
    assert [o["key"] for o in data["menu"]["options"]] == ["1", "2"]
    assert data["prompts"][0]["url"] == "/pbx/prompts/audio/default/ru/menu_default_greeting.wav"
    code, data = step(admin_client, main, state=data["state"], digits="2")
    assert data["menu"]["name"] == "Поддержка" and data["state"]["visited"] == [main.pk, sub.pk]
    code, wrong = step(admin_client, main, state=data["state"], digits="5")
    assert wrong["action"] == "end"  # no retries left: the default, hang up
    assert wrong["prompts"][0]["text"] == catalog.get("goodbye").text("ru")
    code, data = step(admin_client, main, state=data["state"], digits="1")
    assert data == {
        "state": data["state"],
        "action": "go",
        "destination": "Сотрудник Анна (101)",
        "prompts": [],
    }


def test_the_simulator_honours_the_time_of_the_call(admin_client, customer, office):
    schedule = services.schedule_save(
        customer=customer,
        name="Будни",
        time_zone="Europe/Moscow",
        spans=[
            (d, __import__("datetime").time(9), __import__("datetime").time(18)) for d in range(5)
        ],
    )
    services.option_set(
        customer=customer,
        menu=office["main"],
        key="1",
        target=f"dept:{office['sales'].pk}",
        schedule_id=schedule.pk,
        closed_target="hangup",
    )
    _, data = step(admin_client, office["main"])
    _, day = step(
        admin_client, office["main"], state=data["state"], digits="1", at="2026-12-07T10:00"
    )
    _, night = step(
        admin_client, office["main"], state=data["state"], digits="1", at="2026-12-07T22:00"
    )
    assert day["action"] == "go" and day["destination"] == "Отдел «Продажи»"
    assert night["action"] == "end"


def test_the_simulator_refuses_junk_and_other_customers_menus(admin_client, office, other_customer):
    theirs = services.menu_save(customer=other_customer, name="Чужое")
    assert step(admin_client, theirs)[0] == 404
    state = {"menu": theirs.pk, "retries": 0, "visited": [theirs.pk]}
    assert step(admin_client, office["main"], state=state, digits="1")[0] == 404
    assert step(admin_client, office["main"], state={"menu": "x"}, digits="1")[0] == 400
    assert (
        step(admin_client, office["main"], state={"menu": office["main"].pk}, digits=["1"])[0]
        == 400
    )


# -- schedules and numbers --------------------------------------------------------------------


def test_a_schedule_with_weekly_hours_and_a_holiday(admin_client, customer):
    r = admin_client.post("/pbx/menus/schedules/new/", {"name": "Офис"})
    schedule = Schedule.objects.get(customer=customer, name="Офис")
    assert r.url == f"/pbx/menus/schedules/{schedule.pk}/"
    data = {"name": "Офис", "time_zone": "Asia/Almaty", "opens_0": "10:00", "closes_0": "19:00"}
    admin_client.post(r.url, data)
    assert list(schedule.spans.values_list("weekday", flat=True)) == [0]
    schedule.refresh_from_db()
    assert schedule.time_zone == "Asia/Almaty"
    admin_client.post(r.url, {"exception_date": "2027-01-01", "exception_note": "Новый год"})
    html = admin_client.get(r.url).content.decode()
    assert "Новый год" in html and "выходной" in html
    bad = admin_client.post(r.url, {"name": "Офис", "time_zone": "Mars/Base"})
    assert bad.status_code == 302
    schedule.refresh_from_db()
    assert schedule.time_zone == "Asia/Almaty"


def test_another_customers_schedule_is_a_404(admin_client, other_customer):
    theirs = services.schedule_save(customer=other_customer, name="Их", time_zone="UTC")
    assert admin_client.get(f"/pbx/menus/schedules/{theirs.pk}/").status_code == 404
    assert admin_client.post(f"/pbx/menus/schedules/{theirs.pk}/delete/").status_code == 404


def test_a_number_starts_with_a_menu_and_the_switch_is_told(
    admin_client, customer, office, django_capture_on_commit_callbacks
):
    number = factories.number(
        customer, "+74950001122", kind="multichannel", department=office["sales"]
    )
    before = ConfigChange.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        r = admin_client.post(
            f"/pbx/menus/numbers/{number.pk}/", {"target": f"menu:{office['main'].pk}"}
        )
    assert r.status_code == 302
    route = NumberRoute.objects.get(number=number)
    assert route.target == f"menu:{office['main'].pk}"
    assert ConfigChange.objects.count() > before
    html = admin_client.get("/pbx/menus/").content.decode()
    assert "Меню «Главное»" in html[html.index('data-number="+74950001122"') :]
    admin_client.post(f"/pbx/menus/numbers/{number.pk}/", {"target": ""})
    assert not NumberRoute.objects.filter(number=number).exists()


def test_another_customers_number_or_menu_cannot_be_routed(
    admin_client, customer, other_customer, office
):
    theirs = factories.number(other_customer, "+74950003344")
    assert (
        admin_client.post(f"/pbx/menus/numbers/{theirs.pk}/", {"target": "hangup"}).status_code
        == 404
    )
    ours = factories.number(customer, "+74950005566")
    their_menu = services.menu_save(customer=other_customer, name="Чужое")
    r = admin_client.post(f"/pbx/menus/numbers/{ours.pk}/", {"target": f"menu:{their_menu.pk}"})
    assert r.status_code == 404 and not NumberRoute.objects.exists()


def test_the_index_says_when_the_option_is_off(admin_client, customer):
    assert "не подключена" in admin_client.get("/pbx/menus/").content.decode()
    billing.option_set(customer=customer, code=Option.IVR, enabled=True)
    assert "Опция «Голосовое меню» подключена" in admin_client.get("/pbx/menus/").content.decode()


def test_the_builder_and_the_simulator_speak_english(admin_client, office):
    admin_client.cookies["django_language"] = "en"
    save(admin_client, office["main"], key_1=f"dept:{office['sales'].pk}")
    html = admin_client.get(f"/pbx/menus/{office['main'].pk}/").content.decode()
    assert "What the caller hears" in html and "Department “Продажи”" in html
    assert "No greeting: the caller will not know which keys to press." in html
    _, data = step(admin_client, office["main"])
    assert data["prompts"][0]["text"] == "Please choose an option."
    assert data["prompts"][0]["url"].endswith("/en/menu_default_greeting.wav")
    _, data = step(admin_client, office["main"], state=data["state"], digits="1")
    assert data["destination"] == "Department “Продажи”"
    index = admin_client.get("/pbx/menus/").content.decode()
    assert "Create the menu" in index and "No schedules yet." in index
    ivr = admin_client.get("/ivr/").content.decode()
    assert 'href="/pbx/menus/"' in ivr and "Menus, schedules and numbers" in ivr


def test_a_voicemail_box_is_offered_and_saved_once_the_voicemail_option_is_on(
    admin_client, customer, office
):
    from portal.voicemail.models import Mailbox

    box = Mailbox.objects.create(customer=customer, department=office["sales"])
    billing.option_set(customer=customer, code="voicemail", enabled=True)
    html = admin_client.get(f"/pbx/menus/{office['main'].pk}/").content.decode()
    assert f'value="voicemail:{box.pk}"' in html and "Голосовая почта — недоступна" not in html
    save(admin_client, office["main"], key_9=f"voicemail:{box.pk}")
    assert office["main"].options.get(key="9").target == f"voicemail:{box.pk}"
    _, data = step(admin_client, office["main"])
    _, out = step(admin_client, office["main"], state=data["state"], digits="9")
    assert out["action"] == "go" and out["destination"].startswith("Голосовая почта")
