"""HTTP CDR intake: mod_json_cdr POSTs here (`/freeswitch/cdr/` or `/freeswitch/cdr/<node>/`).

json_cdr.conf.xml on a node:
    <param name="url" value="https://portal.example/freeswitch/cdr/fs1/"/>
    <param name="auth-scheme" value="basic"/>
    <param name="cred" value="freeswitch:$${cdr_password}"/>
    <param name="encode" value="false"/>   (raw JSON; "true" and "base64" are accepted too)
FreeSWITCH appends `?uuid=<Unique-ID>` and retries on any non-2xx answer.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pbx.machineauth import basic_auth_ok, configured
from portal.calls.services import SOURCE_HTTP, cdr_ingest, json_cdr_parse

log = logging.getLogger(__name__)
REALM = "freeswitch-cdr"


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


# Numbers a CDR may carry (FreeSWITCH sends whole seconds as strings): anything not finite or
# outside these bounds is refused at the door, never handed on to int()/datetime/the database.
EPOCH_VARIABLES = ("start_epoch", "answer_epoch", "end_epoch")
SECONDS_VARIABLES = ("duration", "billsec")
MAX_EPOCH = 4102444800  # 2100-01-01
MAX_CALL_SECONDS = 31 * 86400


def refuse_hostile(doc: dict) -> None:
    """ValueError (a 400) for a NUL anywhere in the document or an out-of-range number in the
    variables that become call fields."""
    stack: list = [doc]
    while stack:  # iterative: a deep document must not exhaust the stack here either
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            raise ValueError("NUL character in the document")
    variables = doc.get("variables")
    if not isinstance(variables, dict):
        return
    for names, bound in ((EPOCH_VARIABLES, MAX_EPOCH), (SECONDS_VARIABLES, MAX_CALL_SECONDS)):
        for name in names:
            value = variables.get(name)
            if value in (None, ""):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} is not a number") from None
            if not (math.isfinite(number) and 0 <= number <= bound):
                raise ValueError(f"{name} out of range (0..{bound})")


@csrf_exempt
@require_POST
def cdr_intake(request, node: str = ""):
    user = getattr(settings, "FREESWITCH_CDR_USER", "freeswitch") or "freeswitch"
    password = getattr(settings, "FREESWITCH_CDR_PASSWORD", "") or ""
    if not configured(password):
        return _text(403, "CDR intake is disabled: FREESWITCH_CDR_PASSWORD is not set.")
    if not basic_auth_ok(request.headers.get("Authorization", ""), user, password):
        response = _text(401, "Authentication required.")
        response["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        return response
    try:
        doc = json_cdr_parse(request.body, request.content_type or "")
        refuse_hostile(doc)
    except RequestDataTooBig:
        return _text(413, "CDR too large.")
    except RecursionError:
        return _text(400, "Bad CDR: JSON nested too deeply")
    except ValueError as exc:
        log.warning("rejected CDR from %s: %s", request.META.get("REMOTE_ADDR"), exc)
        return _text(400, f"Bad CDR: {exc}")
    try:
        record = cdr_ingest(doc, source=SOURCE_HTTP, node=node, uuid=request.GET.get("uuid", ""))
    except ValidationError as exc:
        return _text(400, f"Bad CDR: {'; '.join(exc.messages)}")
    return _text(200, f"OK {record.uuid}")
