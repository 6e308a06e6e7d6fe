"""The mod_xml_curl endpoint as a bare ASGI app: the hot path of every REGISTER and call.

`portal.asgi` sends `POST /freeswitch/xml/` here instead of through Django's request handling
(sessions, CSRF, messages, locale... cost 11-14 ms per request on a loaded 2-core box, against
well under a millisecond for this app). It does exactly what `pbx.views.xml_curl` does, with
the same checks and answers: basic auth against FREESWITCH_XML_CURL_*, the form fields
FreeSWITCH posts, and the answer from `pbx.xmlcache` (a Redis hit never leaves the event loop;
rendering runs on a worker thread with a pooled database connection).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from django.conf import settings

from pbx import xmlcache
from pbx.machineauth import basic_auth_ok, configured

log = logging.getLogger(__name__)

PATH = "/freeswitch/xml/"
REALM = "freeswitch-xml"
MAX_BODY = 1024 * 1024  # FreeSWITCH's forms are a few KB; anything near this is not FreeSWITCH
XML_TYPE = "text/xml; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


def refusal(authorization: str, remote: str) -> tuple[int, str, dict[str, str]] | None:
    """None if the request may be answered, else (status, text, extra headers)."""
    user = settings.FREESWITCH_XML_CURL_USER or "freeswitch"
    password = settings.FREESWITCH_XML_CURL_PASSWORD or ""
    if not configured(password):
        log.error(
            "mod_xml_curl request refused: FREESWITCH_XML_CURL_PASSWORD is not set, so "
            "FreeSWITCH falls back to its static files (no users, 'unavailable' dialplan)"
        )
        return 403, "XML endpoint disabled: FREESWITCH_XML_CURL_PASSWORD is not set.\n", {}
    if not basic_auth_ok(authorization, user, password):
        log.warning("mod_xml_curl request with bad credentials from %s", remote)
        return 401, "Authentication required.\n", {"WWW-Authenticate": f'Basic realm="{REALM}"'}
    return None


def parse_form(body: bytes) -> dict[str, str]:
    """FreeSWITCH's urlencoded form; for a repeated field the last value wins (as Django's
    QueryDict.get)."""
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


async def _respond(send: Send, status: int, body: str, content_type: str, extra=None) -> None:
    payload = body.encode()
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int = MAX_BODY) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def app(scope: dict, receive: Receive, send: Send) -> None:
    """ASGI application for `POST /freeswitch/xml/` (anything else: 405)."""
    if scope["method"] != "POST":
        await _respond(send, 405, "Method not allowed.\n", TEXT_TYPE, {"Allow": "POST"})
        return
    headers = dict(scope.get("headers") or ())
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    client = scope.get("client") or ("", 0)
    refused = refusal(authorization, str(client[0]))
    if refused is not None:
        status, text, extra = refused
        await _respond(send, status, text, TEXT_TYPE, extra)
        return
    try:
        body = await _read_body(receive)
    except _TooLarge:
        await _respond(send, 413, "Request too large.\n", TEXT_TYPE)
        return
    if body is None:
        return
    try:
        xml = await xmlcache.aanswer(xmlcache.lookup_from_post(parse_form(body)))
    except Exception:
        log.exception("mod_xml_curl: answer failed")
        await _respond(send, 500, "Internal error.\n", TEXT_TYPE)
        return
    await _respond(send, 200, xml, XML_TYPE)


async def lifespan(scope: dict, receive: Receive, send: Send) -> None:
    """ASGI lifespan: warm this worker up before it takes requests (pbx.xmlcache.awarm_up);
    a failure is logged and the worker starts anyway (lookups then render as usual)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await xmlcache.awarm_up()
            except Exception:
                log.exception("mod_xml_curl warm-up failed; starting cold")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


CDR_PREFIX = "/freeswitch/cdr/"
CDR_MAX_BODY = 16 * 1024 * 1024  # mod_json_cdr's response-max-bytes order of magnitude


async def bare_django_view(scope: dict, receive: Receive, send: Send) -> None:
    """Serve a machine-to-machine Django view (mod_json_cdr's POSTs) without the middleware
    stack: no session, CSRF, locale or messages, which cost more than the view itself at two
    CDRs per call. The view checks its own credentials; it runs on a worker thread whose
    database connection goes back to the pool at once."""
    import io

    from asgiref.sync import sync_to_async
    from django.core.handlers.asgi import ASGIRequest
    from django.urls import Resolver404, resolve

    try:
        body = await _read_body(receive, CDR_MAX_BODY)
    except _TooLarge:
        await _respond(send, 413, "Request too large.\n", TEXT_TYPE)
        return
    if body is None:
        return
    try:
        match = resolve(scope["path"])
    except Resolver404:
        await _respond(send, 404, "Not found.\n", TEXT_TYPE)
        return
    request = ASGIRequest(scope, io.BytesIO(body))

    def call():
        return xmlcache._with_connection_returned(
            lambda: match.func(request, *match.args, **match.kwargs)
        )

    try:
        response = await sync_to_async(call, thread_sensitive=False)()
    except Exception:
        log.exception("%s failed", scope["path"])
        await _respond(send, 500, "Internal error.\n", TEXT_TYPE)
        return
    headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in response.items()]
    headers.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


def route(django_app):
    """Wrap the portal's app: the mod_xml_curl path goes to `app`, lifespan events warm the
    worker up, the rest goes to Django (HTTP) and Channels (websockets)."""

    async def router(scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == PATH:
            await app(scope, receive, send)
        elif scope["type"] == "http" and scope.get("path", "").startswith(CDR_PREFIX):
            await bare_django_view(scope, receive, send)
        elif scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return router
