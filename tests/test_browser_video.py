"""The video assistant in two real browsers (Debian's Chromium, fake camera and microphone):
a specialist and a customer on a phone, over the portal running under Daphne (websockets)."""

from __future__ import annotations

import io
import os
import re
import urllib.request
from urllib.parse import parse_qs

import pytest
from PIL import Image

from portal.billing import catalog
from portal.billing import services as billing
from portal.billing.models import Option
from portal.video.models import VideoMessage, VideoSession, VideoSettings
from tests import factories
from tests.asgi_server import AsgiServer
from tests.browser import AVAILABLE, FAKE_MEDIA, launch
from tests.callcontrol_process import ROOT
from tests.http_boundary import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

PASSWORD = "specialist-pass-2026"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not AVAILABLE, reason="needs Debian's chromium"),
]


@pytest.fixture(scope="module")
def playwright():
    with playwright_sync.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright):
    browser = launch(playwright, *FAKE_MEDIA)
    yield browser
    browser.close()


@pytest.fixture
def office(http_boundary, tmp_path):
    catalog.ensure()
    customer = factories.customer()
    specialist = factories.user(customer, username="anna", first_name="Анна")
    specialist.set_password(PASSWORD)
    specialist.save()
    billing.option_set(customer=customer, code=Option.VIDEO_ASSISTANT, enabled=True)
    server = AsgiServer(
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_FROM_NUMBER=TWILIO_FROM,
        TWILIO_API_BASE=http_boundary.url,
        MEDIA_ROOT=str(tmp_path / "media"),
    ).start()
    VideoSettings.objects.create(customer=customer, website=f"{server.url}/login/?thanks=1")
    yield customer, server
    server.stop()


def log_in(page, server) -> None:
    page.goto(f"{server.url}/login/")
    page.get_by_label("Логин").fill("anna")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page).to_have_url(re.compile(r"/pbx/$"))


def create_session(page, server, http_boundary) -> str:
    """The specialist sends the link; returns it as the customer's SMS has it."""
    page.goto(f"{server.url}/pbx/video/")
    page.get_by_label("Имя клиента").fill("Иван Петров")
    page.get_by_label("Телефон для SMS").fill("+7 916 555-44-33")
    page.get_by_role("button", name="Отправить ссылку").click()
    expect(page).to_have_url(re.compile(r"/pbx/video/\d+/$"))
    sms = [parse_qs(b.decode()) for p, _, b in http_boundary.requests if "Messages.json" in p]
    assert sms and sms[-1]["To"] == ["+79165554433"]
    return re.search(r"(http://\S+/v/\S+/)", sms[-1]["Body"][0]).group(1)


def photo(path, color) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return str(path)


def frames(page, selector: str) -> None:
    page.wait_for_function(f"document.querySelector('{selector}').videoWidth > 0", timeout=20000)


def drag(page, start, end) -> None:
    box = page.locator("#overlay").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=4)
    page.mouse.up()


def shapes(page) -> list:
    return page.evaluate("JSON.parse(document.getElementById('overlay').dataset.shapes || '[]')")


def test_a_video_call_from_a_link_with_annotations_freeze_chat_and_end(
    browser, office, http_boundary, tmp_path
):
    customer, server = office
    specialist_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    client_ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="ru-RU"
    )
    spec = specialist_ctx.new_page()
    log_in(spec, server)
    link = create_session(spec, server, http_boundary)

    cli = client_ctx.new_page()
    cli.goto(link)
    expect(cli.locator("body")).not_to_have_attribute("data-video-ready", "yes")  # no call yet
    # Without accepting the policy there is no call.
    cli.get_by_role("button", name="Продолжить").click()
    expect(cli.get_by_text("Чтобы продолжить, примите политику")).to_be_visible()
    assert not VideoSession.objects.get().consent_at
    cli.get_by_label("Я принимаю политику конфиденциальности").check()
    cli.get_by_role("button", name="Продолжить").click()
    expect(cli.locator("body")).to_have_attribute("data-video-ready", "yes")
    cli.get_by_role("button", name="Продолжить звонок").click()
    cli.get_by_role("button", name="Не делиться").click()  # declines location
    expect(cli.locator("#call")).to_be_visible()

    expect(spec.locator("body")).to_have_attribute("data-video-ready", "yes")
    spec.get_by_role("button", name="Начать видеозвонок").click()
    frames(spec, "#remote")  # the specialist sees the customer's camera
    frames(cli, "#remote")  # and the customer the specialist's
    expect(spec.locator("#call")).to_have_attribute("data-connection", "connected")

    # Annotations land at the same normalised place on the other, differently sized screen.
    spec.get_by_role("button", name="Прямоугольник").click()
    drag(spec, (0.2, 0.3), (0.6, 0.7))
    spec.get_by_role("button", name="Стрелка").click()
    drag(spec, (0.8, 0.2), (0.5, 0.5))
    cli.wait_for_function("JSON.parse(overlay.dataset.shapes || '[]').length === 2")
    ours, theirs = shapes(spec), shapes(cli)
    assert ours == theirs
    assert [s["kind"] for s in theirs] == ["rect", "arrow"]
    (x1, y1), (x2, y2) = theirs[0]["points"]
    assert abs(x1 - 0.2) < 0.02 and abs(y1 - 0.3) < 0.02 and abs(x2 - 0.6) < 0.02
    assert abs(y2 - 0.7) < 0.02

    # Freeze: the same still on both sides.
    spec.get_by_role("button", name="Стоп-кадр").click()
    expect(cli.locator("#frozen")).to_be_visible()
    assert cli.locator("#frozen").get_attribute("src") == spec.locator("#frozen").get_attribute(
        "src"
    )
    assert cli.locator("#frozen").get_attribute("src").startswith("data:image/jpeg;base64,")

    # Chat with a photo, both ways, live.
    cli.locator("#chat-form input[name=text]").fill("Вот счётчик")
    cli.locator("#chat-form input[name=photo]").set_input_files(photo(tmp_path / "a.png", "red"))
    cli.get_by_role("button", name="Отправить", exact=True).click()
    expect(spec.locator('#messages li[data-author="client"] img')).to_be_visible()
    expect(spec.locator('#messages li[data-author="client"]')).to_contain_text("Вот счётчик")
    spec.locator("#chat-form input[name=text]").fill("Нажмите красную кнопку")
    spec.locator("#chat-form input[name=photo]").set_input_files(photo(tmp_path / "b.png", "blue"))
    spec.get_by_role("button", name="Отправить", exact=True).click()
    expect(cli.locator('#messages li[data-author="specialist"] img')).to_be_visible()
    img = cli.locator('#messages li[data-author="specialist"] img')
    assert cli.evaluate("(img) => img.naturalWidth", img.element_handle()) == 64

    # The customer ends the call and lands on the customer's website.
    cli.get_by_role("button", name="Завершить звонок").click()
    expect(cli).to_have_url(re.compile(r"/login/\?thanks=1$"))
    expect(spec.locator("#call")).to_have_attribute("data-ended", "yes")

    session = VideoSession.objects.get()
    assert session.status == "ended" and session.consent_at and session.location_refused
    assert session.started_at and session.ended_at and session.annotations == 2
    assert VideoMessage.objects.filter(session=session).count() == 2
    listing = spec.goto(f"{server.url}/pbx/video/")
    assert listing.ok
    row = spec.locator(f'tr[data-session="{session.pk}"]')
    expect(row).to_contain_text("Иван Петров")
    expect(row).to_contain_text("отказ")
    specialist_ctx.close()
    client_ctx.close()


def test_a_refused_camera_is_explained_and_can_be_retried(playwright, office, http_boundary):
    _, server = office
    browser = launch(playwright, "--use-fake-device-for-media-stream")  # no fake-ui: denied
    try:
        spec = browser.new_context(locale="ru-RU").new_page()
        log_in(spec, server)
        link = create_session(spec, server, http_boundary)
        cli = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU").new_page()
        cli.goto(link)
        cli.get_by_label("Я принимаю политику конфиденциальности").check()
        cli.get_by_role("button", name="Продолжить").click()
        expect(cli.locator("body")).to_have_attribute("data-video-ready", "yes")
        cli.get_by_role("button", name="Продолжить звонок").click()
        cli.get_by_role("button", name="Не делиться").click()
        expect(cli.locator("#camera-error")).to_contain_text("Нет доступа к камере")
        expect(cli.get_by_role("button", name="Повторить")).to_be_visible()
        expect(cli.locator("#call")).to_be_hidden()
    finally:
        browser.close()


# -- issue 19 ----------------------------------------------------------------------------------------

ARTIFACTS = ROOT / "var" / "artifacts" / "browser"  # git-ignored (var/): screenshots of the pages


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"video-{name}.png"), full_page=True)


def test_the_link_survives_a_preview_and_the_chat_survives_a_reload_and_a_server_restart(
    browser, office, http_boundary
):
    customer, server = office
    spec = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU").new_page()
    log_in(spec, server)
    link = create_session(spec, server, http_boundary)
    expect(spec.locator("#link-url")).to_have_value(link)  # the specialist sees the link
    expect(spec.locator("#session-status")).to_have_text("ссылка отправлена")
    shot(spec, "console-link")

    # A mail scanner fetches the link before the customer does: a plain GET, another client.
    with urllib.request.urlopen(link, timeout=10) as preview:
        assert preview.status == 200 and "Политика конфиденциальности" in preview.read().decode()
    assert VideoSession.objects.get().browser_hash == ""

    phone = browser.new_context(
        viewport={"width": 375, "height": 740}, is_mobile=True, locale="ru-RU"
    )
    cli = phone.new_page()
    cli.goto(link)
    expect(cli.locator("#brand")).to_have_text(customer.name)  # the company, not the portal
    expect(cli.get_by_text("Настроить АТС")).to_have_count(0)
    shot(cli, "customer-policy-375")
    cli.get_by_label("Я принимаю политику конфиденциальности").check()
    cli.get_by_role("button", name="Продолжить").click()

    def join_the_call() -> None:
        expect(cli.locator("body")).to_have_attribute("data-video-ready", "yes")
        cli.get_by_role("button", name="Продолжить звонок").click()
        cli.get_by_role("button", name="Не делиться").click()
        expect(cli.locator("#call")).to_be_visible()

    join_the_call()
    spec.get_by_role("button", name="Начать видеозвонок").click()
    expect(spec.locator("#call")).to_have_attribute("data-connection", "connected", timeout=20000)
    expect(spec.locator("#session-status")).to_have_text("идёт звонок")  # not "ссылка открыта"

    cli.locator("#chat-form input[name=text]").fill("Вот счётчик")
    cli.get_by_role("button", name="Отправить", exact=True).click()
    theirs = spec.locator('#messages li[data-author="client"]')
    expect(theirs.locator(".msg-who")).to_have_text("Иван Петров")
    expect(theirs.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    spec.locator("#chat-form input[name=text]").fill("Нажмите красную кнопку")
    spec.get_by_role("button", name="Отправить", exact=True).click()
    expect(cli.locator('#messages li[data-author="specialist"] .msg-who')).to_have_text(
        "Специалист Анна"
    )
    expect(cli.locator('#messages li[data-author="client"] .msg-who')).to_have_text("Вы")
    shot(cli, "customer-chat-375")
    shot(spec, "console-chat")

    # The customer reloads the page: the same browser is let back in, the history is there.
    cli.reload()
    join_the_call()
    expect(cli.locator("#messages li")).to_have_count(2)
    expect(cli.locator("#messages li").first).to_contain_text("Вот счётчик")
    expect(cli.locator("#messages li").nth(1)).to_contain_text("Нажмите красную кнопку")
    expect(spec.locator("#call")).to_have_attribute("data-connection", "connected", timeout=20000)

    # The server drops every websocket (a restart): both pages reconnect and chat live again.
    assert spec.locator("#call").get_attribute("data-ws") == "open"
    spec_connects = int(spec.locator("#call").get_attribute("data-connects"))
    server.stop()
    expect(spec.locator("#call")).to_have_attribute("data-ws", re.compile(r"^closed:"))
    shot(spec, "console-server-gone")
    server.start()
    for page in (spec, cli):
        expect(page.locator("#call")).to_have_attribute("data-ws", "open", timeout=30000)
    assert int(spec.locator("#call").get_attribute("data-connects")) > spec_connects
    spec.locator("#chat-form input[name=text]").fill("Связь вернулась")
    spec.get_by_role("button", name="Отправить", exact=True).click()
    expect(cli.locator("#messages li").nth(2)).to_contain_text("Связь вернулась")  # live
    expect(cli.locator("#messages li")).to_have_count(3)
    shot(cli, "customer-after-restart-375")
    spec.context.close()
    phone.close()
