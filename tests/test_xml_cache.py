"""The mod_xml_curl answer cache (pbx/xmlcache.py): hits, and a change visible on the next
lookup, on both stores (Redis when it runs here, this process's memory otherwise)."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pbx import xmlcache, xmlserve
from portal.billing import services as billing
from portal.billing.models import Option
from portal.directory import services as directory
from portal.directory.models import PhoneNumber
from portal.switch.models import ConfigChange
from portal.tenants.models import Customer
from tests import factories
from tests.test_xml_curl import (  # noqa: F401  (xml_settings is an autouse fixture)
    basic,
    callcenter,
    dialplan,
    domain,
    is_not_found,
    sip_auth,
    xml_settings,
)

REDIS = os.environ.get("REDIS_URL", "")


@pytest.fixture(params=["redis", "local"])
def cache(request, settings):
    if request.param == "redis":
        if not REDIS:
            pytest.skip("REDIS_URL is not set: the Redis store is tested where Redis runs")
        settings.XML_CACHE_URL = REDIS
    else:
        settings.XML_CACHE_URL = ""
    xmlcache.reset_store()
    xmlcache.store().clear()
    yield xmlcache.store()
    xmlcache.store().clear()
    xmlcache.reset_store()


@pytest.fixture
def office(customer):
    dept = factories.department(customer)
    factories.employee(customer, dept, extension="101", name="Анна")
    factories.employee(customer, dept, extension="102", name="Борис")
    factories.number(customer, "+74951112233", kind=PhoneNumber.Kind.MULTICHANNEL, department=dept)
    factories.number(customer, "+74951112244", kind=PhoneNumber.Kind.REGULAR, department=dept)
    return dept


def queries(fn) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result


def text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_a_repeated_lookup_is_answered_from_the_cache(client, customer, office, cache):
    lookups = [
        lambda: sip_auth(client, "101", domain(customer)),
        lambda: dialplan(client, "public", "74951112233"),
        lambda: dialplan(client, "public", "74951112244"),
        lambda: dialplan(client, f"customer_{customer.pk}", "102"),
        lambda: callcenter(client),
    ]
    for lookup in lookups:
        rendered = [queries(lookup) for _ in range(3)]
        answers = {text(r) for _, r in rendered}
        assert len(answers) == 1
        # Redis: no query at all once cached; memory: the one generation query.
        cached = 0 if isinstance(cache, xmlcache.RedisStore) else 1
        assert rendered[-1][0] == cached
        assert rendered[0][0] > cached


def test_an_employee_change_is_in_the_next_registration(
    client, customer, office, cache, django_capture_on_commit_callbacks
):
    assert "Анна" in text(sip_auth(client, "101", domain(customer)))
    employee = customer.employees.get(extension="101")
    with django_capture_on_commit_callbacks(execute=True):
        directory.employee_update(customer=customer, employee_id=employee.pk, name="Вера")
    answer = text(sip_auth(client, "101", domain(customer)))
    assert "Вера" in answer and "Анна" not in answer
    with django_capture_on_commit_callbacks(execute=True):
        directory.employee_update(customer=customer, employee_id=employee.pk, is_active=False)
    assert is_not_found(sip_auth(client, "101", domain(customer)))


def test_a_new_number_is_routed_on_the_next_call(
    client, customer, office, cache, django_capture_on_commit_callbacks
):
    assert "UNALLOCATED_NUMBER" in text(dialplan(client, "public", "74951119999"))
    assert "UNALLOCATED_NUMBER" in text(dialplan(client, "public", "74951119999"))
    factories.platform_numbers("+74951119999")
    with django_capture_on_commit_callbacks(execute=True):
        directory.number_create(
            customer=customer, e164="+74951119999", kind=PhoneNumber.Kind.MULTICHANNEL
        )
    assert "UNALLOCATED_NUMBER" not in text(dialplan(client, "public", "74951119999"))


def test_an_option_of_the_numbers_owner_changes_its_public_dialplan(
    client, customer, office, cache, django_capture_on_commit_callbacks
):
    for _ in range(3):  # the owner is learnt on the first render, a hit by the third
        assert "record_session" not in text(dialplan(client, "public", "74951112244"))
    with django_capture_on_commit_callbacks(execute=True):
        billing.option_set(customer=customer, code=Option.CALL_RECORDING, enabled=True)
    assert "record_session" in text(dialplan(client, "public", "74951112244"))


def test_a_suspended_customer_is_refused_on_the_next_lookup(
    client, customer, office, cache, django_capture_on_commit_callbacks
):
    assert not is_not_found(sip_auth(client, "101", domain(customer)))
    assert "callcenter" in text(dialplan(client, "public", "74951112233"))
    with django_capture_on_commit_callbacks(execute=True):
        customer.status = Customer.Status.SUSPENDED
        customer.save()
    assert is_not_found(sip_auth(client, "101", domain(customer)))
    assert "callcenter" not in text(dialplan(client, "public", "74951112233"))


def test_a_new_department_queue_is_in_the_next_callcenter_load(
    client, customer, office, cache, django_capture_on_commit_callbacks
):
    before = text(callcenter(client))
    factories.platform_numbers("+74951118888")
    with django_capture_on_commit_callbacks(execute=True):
        dept = directory.department_create(customer=customer, name="Склад")
        directory.number_create(
            customer=customer,
            e164="+74951118888",
            kind=PhoneNumber.Kind.MULTICHANNEL,
            department=dept.pk,
        )
    after = text(callcenter(client))
    assert f"c{customer.pk}_d{dept.pk}@default" in after and after != before


def test_another_customers_change_keeps_this_customers_entries(
    client, customer, other_customer, office, cache, django_capture_on_commit_callbacks
):
    if not isinstance(cache, xmlcache.RedisStore):
        pytest.skip("the in-memory store has one generation for all customers")
    sip_auth(client, "101", domain(customer))
    with django_capture_on_commit_callbacks(execute=True):
        directory.employee_create(customer=other_customer, extension="101", name="Чужой")
    count, _ = queries(lambda: sip_auth(client, "101", domain(customer)))
    assert count == 0


def test_a_change_made_by_another_process_is_seen(client, customer, office, cache):
    """Another process announces through the shared store (Redis) or the ConfigChange table."""
    assert "Анна" in text(sip_auth(client, "101", domain(customer)))
    customer.employees.filter(extension="101").update(name="Галина")
    assert "Анна" in text(sip_auth(client, "101", domain(customer)))  # nobody announced it
    ConfigChange.objects.create(customer=customer, what="employee")
    if isinstance(cache, xmlcache.RedisStore):
        other = xmlcache.RedisStore(cache.url, cache.ttl, prefix=cache.prefix.split(":")[0])
        other.bump(xmlcache.scopes_for_change(customer.pk, "employee"))
    assert "Галина" in text(sip_auth(client, "101", domain(customer)))


def test_a_damaged_entry_is_rendered_again(client, customer, office, cache):
    first = text(sip_auth(client, "101", domain(customer)))
    key = xmlcache.Lookup("user", (str(customer.pk), "101"), customer.pk).key
    cache.set(key, b"\xff\xfe not an entry")
    assert text(sip_auth(client, "101", domain(customer))) == first
    cache.set(key, b"c1=forged\n<document/>")
    assert text(sip_auth(client, "101", domain(customer))) == first


def test_an_unreachable_cache_means_rendering_never_an_error(client, customer, office, settings):
    settings.XML_CACHE_URL = "redis://127.0.0.1:9/0"  # discard port: connection refused
    xmlcache.reset_store()
    answer = text(sip_auth(client, "101", domain(customer)))
    assert "Анна" in answer
    assert "callcenter" in text(dialplan(client, "public", "74951112233"))
    xmlcache.invalidate(customer.pk, "employee")  # logged, not raised


def test_hostile_lookups_never_share_an_entry(client, customer, other_customer, office, cache):
    """Destinations that look like key separators or other kinds stay apart."""
    factories.employee(other_customer, extension="101", name="Чужой")
    mine = text(sip_auth(client, "101", domain(customer)))
    theirs = text(sip_auth(client, "101", domain(other_customer)))
    assert "Анна" in mine and "Чужой" in theirs and "Анна" not in theirs
    tricky = [f"{customer.pk}:101", "user:1:101", "74951112233:x", "7" * 500]
    for destination in tricky:
        answer = text(dialplan(client, "public", destination))
        assert "callcenter" not in answer
    assert not xmlcache.Lookup("public", ("7" * 500,)).cacheable


def test_the_directory_user_is_cacheable_in_freeswitch(client, customer, office, settings):
    settings.FREESWITCH_DIRECTORY_CACHE_MS = 300000
    assert 'cacheable="300000"' in text(sip_auth(client, "101", domain(customer)))
    xmlcache.store().clear()
    settings.FREESWITCH_DIRECTORY_CACHE_MS = 0
    assert "cacheable" not in text(sip_auth(client, "101", domain(customer)))


# --------------------------------------------------------------------------- the ASGI path


def call_asgi(body: bytes, *, auth: str | None = None, method: str = "POST"):
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if auth is not None:
        headers.append((b"authorization", auth.encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": xmlserve.PATH,
        "headers": headers,
        "client": ("127.0.0.1", 5555),
    }
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
    sent = []

    async def receive():
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    asyncio.run(xmlserve.app(scope, receive, send))
    start, body_msg = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body_msg["body"].decode()


def form(**fields) -> bytes:
    from urllib.parse import urlencode

    return urlencode({"hostname": "fs1", **fields}).encode()


@pytest.mark.django_db(transaction=True)
def test_the_asgi_path_answers_as_the_django_view(client, cache):
    customer = factories.customer()
    factories.employee(customer, extension="101", name="Анна")
    fields = {
        "section": "directory",
        "key_name": "name",
        "key_value": domain(customer),
        "key": "id",
        "user": "101",
        "domain": domain(customer),
        "action": "sip_auth",
    }
    status, headers, body = call_asgi(form(**fields), auth=basic())
    assert status == 200 and headers["content-type"].startswith("text/xml")
    assert body == text(sip_auth(client, "101", domain(customer)))
    again = call_asgi(form(**fields), auth=basic())
    assert again[2] == body


@pytest.mark.django_db(transaction=True)
def test_the_asgi_path_refuses_like_the_view(settings, cache):
    fields = form(section="directory", user="101", domain="c1.pbx.example.com")
    assert call_asgi(fields)[0] == 401
    status, headers, _ = call_asgi(fields, auth=basic(password="wrong"))
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert call_asgi(fields, auth="Basic !!!")[0] == 401
    assert call_asgi(fields, auth=basic(), method="GET")[0] == 405
    assert call_asgi(b"x=" + b"a" * (2 * 1024 * 1024), auth=basic())[0] == 413
    for blank in ("", "  "):  # a blank password is no password, on both paths
        settings.FREESWITCH_XML_CURL_PASSWORD = blank
        status, _, body = call_asgi(fields, auth=basic(password=blank))
        assert status == 403 and "FREESWITCH_XML_CURL_PASSWORD" in body


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_the_same_lookup_renders_once(cache):
    """Fifty calls to one number right after a change wait for one render, not fifty."""
    if not isinstance(cache, xmlcache.RedisStore):
        pytest.skip("the in-memory store renders on a worker thread per lookup")
    customer = factories.customer()
    dept = factories.department(customer)
    factories.employee(customer, dept, extension="101")
    factories.number(customer, "+74951112244", kind=PhoneNumber.Kind.REGULAR, department=dept)
    lookup = xmlcache.Lookup("public", ("74951112244",))

    async def burst() -> list[str]:
        return await asyncio.gather(*(xmlcache.aanswer(lookup) for _ in range(50)))

    before = xmlcache.STATS["render"]
    answers = asyncio.run(burst())
    assert len(set(answers)) == 1 and "user/101@" in answers[0]
    assert xmlcache.STATS["render"] - before == 1
    # the first render learnt the owner; the next one keeps it, then every lookup is a hit
    asyncio.run(xmlcache.aanswer(lookup))
    hits = xmlcache.STATS["hit"]
    asyncio.run(burst())
    assert xmlcache.STATS["hit"] - hits == 50


@pytest.mark.django_db(transaction=True)
def test_a_worker_warms_up_before_its_first_request(cache):
    """The ASGI lifespan startup renders one lookup of each kind (caching nothing) and then
    reports the worker ready."""
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message["type"])

    before = xmlcache.STATS["render"]
    asyncio.run(xmlserve.lifespan({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert xmlcache.STATS["render"] - before == 4
    if isinstance(cache, xmlcache.RedisStore):
        assert not list(cache.sync.scan_iter(cache.prefix + "*"))


def test_the_one_round_trip_hit_accepts_only_entries_with_every_token_current(cache):
    if not isinstance(cache, xmlcache.RedisStore):
        pytest.skip("the script runs in Redis")
    lookup = xmlcache.Lookup("user", ("7", "101"), 7)
    tokens = cache.tokens(["c7", "numbers"])

    def hit(raw: bytes):
        cache.set(lookup.key, raw)
        return asyncio.run(cache.ahit(lookup))

    good = xmlcache.encode_entry({"c7": tokens["c7"]}, "<document/>")
    assert hit(good) == "<document/>"
    both = xmlcache.encode_entry(tokens, "<both/>")
    assert hit(both) == "<both/>"
    assert hit(b"c7=" + tokens["c7"].encode() + b"0\n<stale/>") is None  # another token
    assert hit(b"c7=\n<empty/>") is None
    assert hit(b"\n<no scopes/>") is None
    assert hit(b"c7" + tokens["c7"].encode() + b"<no newline/>") is None
    other = xmlcache.encode_entry({"numbers": tokens["numbers"]}, "<lacks c7/>")
    assert hit(other) is None  # the lookup's own scope must be in the entry
    cache.bump(["c7"])
    assert hit(good) is None


# --------------------------------------------------------------------------- mod_json_cdr


def call_router(path: str, body: bytes, *, auth: str | None, method: str = "POST"):
    """Through the portal's ASGI app (portal.asgi), as FreeSWITCH reaches it."""
    from portal.asgi import application

    headers = [(b"content-type", b"application/json")]
    if auth is not None:
        headers.append((b"authorization", auth.encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
        "root_path": "",
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start, body_msg = sent
    return start["status"], body_msg["body"].decode()


@pytest.mark.django_db(transaction=True)
def test_cdrs_reach_the_cdr_view_without_the_middleware_stack(settings):
    """mod_json_cdr's POST is served by the same view (its own auth, 400s, idempotence),
    just not through sessions/CSRF/locale: two per call cost more than the view."""
    from portal.calls.models import CallRecord
    from tests.test_cdr_http import raw_json
    from tests.test_cdr_ingest import json_cdr_from_event, plain_event

    settings.FREESWITCH_CDR_USER, settings.FREESWITCH_CDR_PASSWORD = "freeswitch", "cdr-pw-123456"
    customer = factories.customer()
    event = plain_event("02d-originate-answer-park-kill.txt")
    event["variable_pbx_customer"] = str(customer.pk)
    doc = raw_json(json_cdr_from_event(event))
    auth = "Basic " + base64.b64encode(b"freeswitch:cdr-pw-123456").decode()
    assert call_router("/freeswitch/cdr/fs1/", doc, auth=auth)[0] == 200
    assert call_router("/freeswitch/cdr/fs1/", doc, auth=auth)[0] == 200  # a retry: one row
    assert CallRecord.objects.filter(customer=customer).count() == 1
    assert call_router("/freeswitch/cdr/fs1/", doc, auth=None)[0] == 401
    wrong = "Basic " + base64.b64encode(b"freeswitch:nope").decode()
    assert call_router("/freeswitch/cdr/fs1/", doc, auth=wrong)[0] == 401
    status, message = call_router("/freeswitch/cdr/fs1/", b"[1, 2]", auth=auth)
    assert status == 400 and "must be an object" in message
    assert call_router("/freeswitch/cdr/fs1/", b"", auth=auth, method="GET")[0] == 405
    assert call_router("/freeswitch/cdr/a/b/c/", doc, auth=auth)[0] == 404
