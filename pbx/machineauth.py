"""HTTP basic auth of the endpoints FreeSWITCH calls (mod_xml_curl, mod_json_cdr): one check
for both, so they cannot drift apart.

A request passes only with exactly the configured user and password (compared in constant
time). A blank configured password (empty or spaces) never matches: the endpoint is disabled,
and the caller says so with a 403 rather than a 401.
"""

from __future__ import annotations

import base64
import binascii
import hmac


def credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic ...` header value, or None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def configured(password: str) -> bool:
    """Whether a configured password enables the endpoint at all."""
    return bool(password.strip())


def basic_auth_ok(header: str, user: str, password: str) -> bool:
    """Whether the header carries exactly `user`:`password`."""
    given = credentials(header) or ("", "")
    user_ok = hmac.compare_digest(given[0].encode(), user.encode())
    password_ok = hmac.compare_digest(given[1].encode(), password.encode())
    return configured(password) and given != ("", "") and user_ok and password_ok
