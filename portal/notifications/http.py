"""All outbound HTTP of the notification transports goes through `http_post`.

Tests patch this one function (with autospec) or point it at a server on 127.0.0.1. Network
failures come back as `HttpError`; an HTTP status, whatever it is, comes back as a response,
and the transport decides what it means. Redirects are never followed (a webhook must not be
bounced to an address we would refuse to call directly).

Customers' URLs (webhooks) are read by one strict parser (`parse_http_url`) that refuses
anything two URL parsers could read differently: userinfo (`user@`), backslashes, spaces and
control characters, percent-escapes in the host, odd IPv4 spellings (`127.1`, `0x7f.0.0.1`),
and any URL on which urllib3 (what actually connects) disagrees with `urlsplit`. The name is
then resolved once (`resolve_checked`): every address must be public unless private targets are
allowed, and `http_post(..., connect_to=address)` connects to that checked address, never
looking the name up again (no DNS rebinding between the check and the connection). The Host
header and TLS (SNI, certificate) still use the name.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
from urllib3.util import parse_url

USER_AGENT = "cloud-pbx-notifications/1"
MAX_URL_LENGTH = 2000
MAX_RESPONSE_BYTES = 64 * 1024
DNS_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class HttpError(Exception):
    """The request did not get an HTTP response (DNS, connection refused, timeout, TLS)."""


class UrlRefused(ValueError):
    """A URL we will not call; the message says why (in English: it goes to delivery logs)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class HttpTarget:
    """A URL split the one way we connect by: host without brackets, explicit port."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _check_host(host: str) -> str:
    if not host:
        raise UrlRefused("no host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not all(DNS_LABEL_RE.match(label) for label in labels):
        raise UrlRefused(f"not a host name: {host!r}")
    if labels[-1].isdigit() or re.fullmatch(r"0x[0-9a-f]*", labels[-1]):
        # 127.1, 2130706433, 0x7f.0.0.1: resolvers read these as IPv4 addresses
        raise UrlRefused(f"ambiguous numeric host {host!r}")
    return host.rstrip(".")


def parse_http_url(url: str) -> HttpTarget:
    """The target of an http(s) URL, or `UrlRefused`. Refuses every URL that the HTTP client
    could read differently from this check (see the module docstring)."""
    if not isinstance(url, str) or not url:
        raise UrlRefused("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused("URL too long")
    if any(not ("\x21" <= ch <= "\x7e") for ch in url):
        raise UrlRefused("spaces, control or non-ASCII characters in the URL")
    if "\\" in url:
        raise UrlRefused("backslash in the URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise UrlRefused(f"not an http(s) URL: {url!r}")
    if "@" in parts.netloc:
        raise UrlRefused("user name or password in the URL")
    if "%" in parts.netloc:
        raise UrlRefused("percent-escapes in the host")
    try:
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    except ValueError:
        raise UrlRefused(f"bad port in {url!r}") from None
    if not 0 < port < 65536:
        raise UrlRefused(f"bad port in {url!r}")
    host = _check_host(parts.hostname.lower())
    try:
        other = parse_url(url)
    except Exception:
        raise UrlRefused("the HTTP client cannot parse this URL") from None
    other_host = (other.host or "").strip("[]").lower().rstrip(".")
    if (
        (other.scheme or "").lower() != scheme
        or other.auth
        or other_host != host
        or (other.port or port) != port
    ):
        raise UrlRefused("the HTTP client would read this URL differently")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return HttpTarget(scheme=scheme, host=host, port=port, path=path)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_checked(target: HttpTarget, *, allow_private: bool) -> str:
    """Resolve the target's host once and check every address it has; the first address is the
    one to connect to. `UrlRefused` when any address is not public (unless `allow_private`),
    `HttpError` when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise HttpError(f"cannot resolve {target.host}: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise HttpError(f"cannot resolve {target.host}: no address")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise UrlRefused(
                    f"{target.host} resolves to non-public address "
                    f"{ipaddress.ip_address(address.split('%', 1)[0])} "
                    "(WEBHOOK_ALLOW_PRIVATE is off)"
                )
    return addresses[0]


def _pool(target: HttpTarget, connect_to: str, timeout: float) -> urllib3.HTTPConnectionPool:
    options = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        import certifi

        return urllib3.HTTPSConnectionPool(
            connect_to,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    return urllib3.HTTPConnectionPool(connect_to, target.port, **options)


def http_post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 10.0,
    connect_to: str | None = None,
) -> HttpResponse:
    """POST `body` to `url`; basic auth if `auth` is given. `connect_to`: the address (from
    `resolve_checked`) to connect to instead of looking the URL's host up again."""
    try:
        target = parse_http_url(url)
    except UrlRefused as exc:
        raise HttpError(f"refused URL: {exc}") from exc
    all_headers = {"User-Agent": USER_AGENT, "Host": target.host_header, **(headers or {})}
    if auth:
        all_headers.update(urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}"))
    pool = _pool(target, connect_to or target.host, timeout)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=all_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            raw = response.read(MAX_RESPONSE_BYTES)
        finally:
            response.release_conn()
    except (TimeoutError, urllib3.exceptions.TimeoutError) as exc:
        raise HttpError(f"timed out after {timeout:g} s") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        pool.close()
    text = raw.decode("utf-8", errors="replace")
    return HttpResponse(status=response.status, text=text[:10_000], headers=dict(response.headers))
