"""The mod_xml_curl endpoint: FreeSWITCH asks, the portal renders from the database.

FreeSWITCH POSTs form fields (`section`, `tag_name`, `key_name`, `key_value`, `hostname`, and
the request's parameters: `action`/`user`/`domain`/`key`/`purpose` for the directory,
`Hunt-Context`/`Hunt-Destination-Number` and the `Caller-*`/`variable_*` headers for the
dialplan, `CC-Queue` for mod_callcenter's `queue load/reload`) with HTTP basic auth.

Every answer is a complete `freeswitch/xml` document; anything we do not serve gets the
"not found" result, on which FreeSWITCH falls back to the files in freeswitch_conf/.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pbx import xmldata
from pbx.xmlbuild import NOT_FOUND

log = logging.getLogger(__name__)
REALM = "freeswitch-xml"
# Directory lookups that ask for one user and which we answer; others (voicemail, presence
# publishing...) are not ours to serve.
USER_ACTIONS = {"", "sip_auth", "user_call", "message-count", "reverse-auth-lookup"}


def _xml(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/xml; charset=utf-8")


def _credentials(request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _authorised(request, user: str, password: str) -> bool:
    given = _credentials(request) or ("", "")
    user_ok = hmac.compare_digest(given[0].encode(), user.encode())
    password_ok = hmac.compare_digest(given[1].encode(), password.encode())
    return given != ("", "") and user_ok and password_ok


def answer(post) -> str:
    """The XML for one mod_xml_curl request (its form fields as a mapping)."""
    section = post.get("section", "")
    if section == "directory":
        action = post.get("action", "")
        key = post.get("key", "")
        if action not in USER_ACTIONS or key not in ("", "id"):
            return NOT_FOUND
        domain = post.get("domain") or post.get("key_value", "")
        if post.get("key_name", "name") != "name":
            return NOT_FOUND
        user = post.get("user")
        return xmldata.directory_xml(domain, user, purpose=post.get("purpose", ""))
    if section == "dialplan":
        context = post.get("Hunt-Context") or post.get("Caller-Context", "")
        destination = post.get("Hunt-Destination-Number") or post.get(
            "Caller-Destination-Number", ""
        )
        return xmldata.dialplan_xml(context, destination)
    if section == "configuration":
        if post.get("key_name", "name") != "name":
            return NOT_FOUND
        return xmldata.configuration_xml(
            post.get("key_value", ""), cc_queue=post.get("CC-Queue", "")
        )
    return NOT_FOUND


@csrf_exempt
@require_POST
def xml_curl(request):
    user = settings.FREESWITCH_XML_CURL_USER or "freeswitch"
    password = settings.FREESWITCH_XML_CURL_PASSWORD or ""
    if not password:
        log.error(
            "mod_xml_curl request refused: FREESWITCH_XML_CURL_PASSWORD is not set, so "
            "FreeSWITCH falls back to its static files (no users, 'unavailable' dialplan)"
        )
        return HttpResponse(
            "XML endpoint disabled: FREESWITCH_XML_CURL_PASSWORD is not set.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    if not _authorised(request, user, password):
        log.warning(
            "mod_xml_curl request with bad credentials from %s", request.META.get("REMOTE_ADDR")
        )
        response = HttpResponse(
            "Authentication required.\n", status=401, content_type="text/plain; charset=utf-8"
        )
        response["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        return response
    return _xml(answer(request.POST))
