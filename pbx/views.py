"""The mod_xml_curl endpoint: FreeSWITCH asks, the portal answers from its cache or database.

FreeSWITCH POSTs form fields (`section`, `tag_name`, `key_name`, `key_value`, `hostname`, and
the request's parameters: `action`/`user`/`domain`/`key`/`purpose` for the directory,
`Hunt-Context`/`Hunt-Destination-Number` and the `Caller-*`/`variable_*` headers for the
dialplan, `CC-Queue` for mod_callcenter's `queue load/reload`) with HTTP basic auth.

Every answer is a complete `freeswitch/xml` document; anything we do not serve gets the
"not found" result, on which FreeSWITCH falls back to the files in freeswitch_conf/.

Under ASGI (`portal.asgi`) this URL is served by `pbx.xmlserve.app`, which skips Django's
middleware; this view is the same endpoint for WSGI and the test client, and both share the
checks (`pbx.xmlserve.refusal`) and the answer (`pbx.xmlcache`).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pbx import xmlcache, xmlserve


def answer(post: Mapping[str, str]) -> str:
    """The XML for one mod_xml_curl request (its form fields as a mapping)."""
    return xmlcache.answer(xmlcache.lookup_from_post(post))


@csrf_exempt
@require_POST
def xml_curl(request):
    refused = xmlserve.refusal(
        request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR", "")
    )
    if refused is not None:
        status, text, extra = refused
        response = HttpResponse(text, status=status, content_type=xmlserve.TEXT_TYPE)
        for name, value in extra.items():
            response[name] = value
        return response
    response = HttpResponse(answer(request.POST), content_type=xmlserve.XML_TYPE)
    response["Cache-Control"] = "no-store"
    return response
