"""All outbound HTTP of the notification transports goes through `http_post`.

Tests patch this one function (with autospec) or point it at a server on 127.0.0.1. Network
failures come back as `HttpError`; an HTTP status, whatever it is, comes back as a response,
and the transport decides what it means. Redirects are never followed (a webhook must not be
bounced to an address we would refuse to call directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

USER_AGENT = "cloud-pbx-notifications/1"


class HttpError(Exception):
    """The request did not get an HTTP response (DNS, connection refused, timeout, TLS)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def http_post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """POST `body` to `url`; basic auth if `auth` is given."""
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        response = requests.post(
            url,
            data=body,
            headers=all_headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise HttpError(f"timed out after {timeout:g} s") from exc
    except requests.RequestException as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}") from exc
    return HttpResponse(
        status=response.status_code, text=response.text[:10_000], headers=dict(response.headers)
    )
