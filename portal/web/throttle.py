"""Throttling: one small atomic counter, in Redis when REDIS_URL is set, else in the database.

`hit(key, limit=, window=)` counts one attempt and says whether it is within the limit. The count
is a sliding-window estimate over two fixed windows (the previous window's count weighted by how
much of it still overlaps, plus the current one), so a burst across a window boundary cannot
double the limit. The increment is a single atomic operation (Redis `INCR` in a MULTI block, or
one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`), and the decision is made on the value the
increment returned: twenty concurrent requests get twenty different counts, never one stale
read (no count-then-insert). Refused attempts are counted too, so hammering a locked key keeps
it locked.

Settings (read with getattr, all optional): THROTTLE_PREFIX (key namespace; default
XML_CACHE_PREFIX + "-throttle", so a test run's processes share one), REDIS_URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

_redis_clients: dict[str, object] = {}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: float  # the sliding estimate, this attempt included
    retry_after: int  # seconds until the estimate drops under the limit (0 when allowed)

    @property
    def retry_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def _storage_key(key: str) -> str:
    """Keys may hold user input (usernames, IPs): stored hashed, bounded, with a readable head."""
    head = key.split(":", 1)[0][:40]
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    prefix = getattr(settings, "THROTTLE_PREFIX", "") or (
        getattr(settings, "XML_CACHE_PREFIX", "pbx") + "-throttle"
    )
    return f"{prefix}:{head}:{digest}"[:120]


def _redis():
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = _redis_clients[url] = redis.Redis.from_url(url)
    return client


def _db_add(key: str, window_start: int, window: int, delta: int) -> int:
    from portal.web.models import ThrottleCounter

    q = connection.ops.quote_name
    table = q(ThrottleCounter._meta.db_table)
    key_, start_, count_, expires_ = q("key"), q("window_start"), q("count"), q("expires_at")
    expires = timezone.now() + dt.timedelta(seconds=2 * window)
    # Only quoted names from the model's metadata are formatted in; values are parameters.
    sql = (
        f"INSERT INTO {table} ({key_}, {start_}, {count_}, {expires_}) "  # noqa: S608
        "VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT ({key_}, {start_}) DO UPDATE SET {count_} = {table}.{count_} + %s "
        f"RETURNING {count_}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, window_start, delta, expires, delta])
        return cursor.fetchone()[0]


def _db_get(key: str, window_start: int) -> int:
    from portal.web.models import ThrottleCounter

    row = ThrottleCounter.objects.filter(key=key, window_start=window_start).first()
    return row.count if row else 0


def _add(key: str, window_start: int, window: int, delta: int) -> tuple[int, int]:
    """Add `delta` to the current window; (current count, previous window's count)."""
    previous_start = window_start - window
    client = _redis()
    if client is not None:
        current, previous = f"{key}:{window_start}", f"{key}:{previous_start}"
        pipe = client.pipeline(transaction=True)
        pipe.incrby(current, delta)
        pipe.expire(current, 2 * window + 5)
        pipe.get(previous)
        count, _ok, before = pipe.execute()
        return int(count), int(before or 0)
    count = _db_add(key, window_start, window, delta)
    return count, _db_get(key, previous_start)


def _estimate(count: int, previous: int, now: float, window_start: int, window: int) -> float:
    overlap = 1 - (now - window_start) / window
    return previous * overlap + count


def hit(key: str, *, limit: int, window: int, now: float | None = None) -> Verdict:
    """Count one attempt on `key` and decide on it: at most `limit` per `window` seconds."""
    now = time.time() if now is None else now
    window_start = int(now // window * window)
    storage_key = _storage_key(key)
    count, previous = _add(storage_key, window_start, window, 1)
    estimate = _estimate(count, previous, now, window_start, window)
    if estimate <= limit:
        return Verdict(True, estimate, 0)
    # when does the estimate fall back to the limit: the previous window's weight runs out
    # first, then the current window becomes the previous one
    if count <= limit and previous:
        wait = (estimate - limit) / previous * window
    else:
        wait = window_start + window - now + max(0.0, (count - limit) / count) * window
    return Verdict(False, estimate, max(1, math.ceil(wait)))


def forgive(key: str, *, window: int, now: float | None = None) -> None:
    """Take one attempt back (a staff login that succeeded must not count against its IP)."""
    now = time.time() if now is None else now
    window_start = int(now // window * window)
    _add(_storage_key(key), window_start, window, -1)


def reset(key: str, *, window: int, now: float | None = None) -> None:
    """Forget `key` (both windows): a successful login clears the account's failures."""
    now = time.time() if now is None else now
    window_start = int(now // window * window)
    storage_key = _storage_key(key)
    client = _redis()
    if client is not None:
        client.delete(f"{storage_key}:{window_start}", f"{storage_key}:{window_start - window}")
        return
    from portal.web.models import ThrottleCounter

    ThrottleCounter.objects.filter(
        key=storage_key, window_start__in=[window_start, window_start - window]
    ).delete()


def purge_expired() -> int:
    """Delete database counters past their windows (Redis expires its own)."""
    from portal.web.models import ThrottleCounter

    deleted, _ = ThrottleCounter.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def client_ip(request) -> str:
    """The address the request came from, as the server saw it (REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR") or "unknown"
