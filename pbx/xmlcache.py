"""Rendered mod_xml_curl answers, cached and invalidated exactly when their data changes.

FreeSWITCH asks the portal on every REGISTER and every call (`pbx/views.py`); rendering costs
a few queries, so answers are kept, keyed by what was asked (`Lookup`):

    directory user 101 of customer 12   -> "user:12:101"      depends on  c12
    dialplan of customer_12 for "102"   -> "customer:12:102"  depends on  c12
    public dialplan for "74951234567"   -> "public:+7495..."  depends on  numbers, c<owner>
    callcenter.conf (or one queue)      -> "callcenter:..."   depends on  all

Each scope has a *generation token*. A change of customer 12's configuration (every
`portal.events.config_changed`, fired after commit) replaces the tokens of `c12`, `all` and,
for numbers, `numbers`. An entry stores the tokens it was rendered under and is used only while
they are all still current, so a change is visible to the very next lookup. Tokens are read
*before* rendering: a change that commits while we render leaves the entry already outdated.
Tokens are random (never a counter), so a token that vanished (Redis restarted or evicted it)
can never match an old entry again.

Two stores: Redis (`XML_CACHE_URL`, defaults to `REDIS_URL`; shared by every worker and by
the processes that make changes) or, without Redis, this process's memory, whose only
generation is the newest `ConfigChange` id (the table every process writes): one indexed query
per lookup instead of several joins. A store that fails is skipped: the lookup renders from the
database, as without a cache, and never answers an error because of the cache.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

ALL = "all"
NUMBERS = "numbers"
# Directory lookups that ask for one user and which we answer; others (voicemail, presence
# publishing...) are not ours to serve.
USER_ACTIONS = frozenset({"", "sip_auth", "user_call", "message-count", "reverse-auth-lookup"})
LOCAL_MAX_ENTRIES = 50_000
_FIELD_MAX = 200  # a key part longer than this is not something we serve


def customer_scope(customer_id: int) -> str:
    return f"c{int(customer_id)}"


def scopes_for_change(customer_id: int | None, what: str) -> tuple[str, ...]:
    """The generation scopes a config change of `customer_id` outdates."""
    if customer_id is None:  # unknown owner: everything
        return (ALL, NUMBERS)
    scopes = [ALL, customer_scope(customer_id)]
    if what in ("number", "customer"):
        scopes.append(NUMBERS)
    return tuple(scopes)


@dataclass(frozen=True)
class Lookup:
    """One mod_xml_curl request, reduced to what the answer depends on.

    `kind` is one of user, domain, public, customer, callcenter, or none (we serve nothing:
    the "not found" answer, which needs no database)."""

    kind: str
    args: tuple[str, ...] = ()
    customer_id: int | None = None

    @property
    def key(self) -> str:
        return ":".join((self.kind, *self.args))

    @property
    def scopes(self) -> tuple[str, ...]:
        """Scopes known before rendering (the public dialplan adds its number's owner)."""
        if self.kind == "callcenter":
            return (ALL,)
        if self.kind == "public":
            return (NUMBERS,)
        if self.customer_id is not None:
            return (customer_scope(self.customer_id),)
        return ()

    @property
    def cacheable(self) -> bool:
        return self.kind != "none" and all(len(a) <= _FIELD_MAX for a in self.args)


NONE = Lookup("none")


def lookup_from_post(post: Mapping[str, str]) -> Lookup:
    """What a mod_xml_curl form (`section`, `key_name`, `key_value`, `user`, `domain`,
    `Hunt-*`/`Caller-*`, `CC-Queue`...) asks for. Pure: no database."""
    from pbx import render
    from pbx.host import xml_source

    render_settings = xml_source().render_settings

    section = post.get("section", "")
    if section == "directory":
        action = post.get("action", "")
        if action not in USER_ACTIONS or post.get("key", "") not in ("", "id"):
            return NONE
        if post.get("key_name", "name") != "name" or post.get("purpose", ""):
            return NONE  # purpose=gateways etc.: we define no gateways here
        domain = post.get("domain") or post.get("key_value", "")
        customer_id = render.customer_id_from_domain(domain, render_settings().sip_domain)
        if customer_id is None:
            return NONE
        user = post.get("user")
        if user is None:
            return Lookup("domain", (str(customer_id),), customer_id)
        extension = render.valid_extension(user)
        if extension is None:
            return NONE
        return Lookup("user", (str(customer_id), extension), customer_id)
    if section == "dialplan":
        context = post.get("Hunt-Context") or post.get("Caller-Context", "")
        destination = post.get("Hunt-Destination-Number") or post.get(
            "Caller-Destination-Number", ""
        )
        if context == render.PUBLIC_CONTEXT:
            return Lookup("public", (destination,))
        customer_id = render.customer_id_from_context(context)
        if customer_id is None:
            return NONE
        return Lookup("customer", (str(customer_id), destination), customer_id)
    if section == "configuration":
        if post.get("key_name", "name") != "name" or post.get("key_value", "") != (
            "callcenter.conf"
        ):
            return NONE
        return Lookup("callcenter", (post.get("CC-Queue", ""),))
    return NONE


# --------------------------------------------------------------------------- entries


def encode_entry(tokens: Mapping[str, str], xml: str) -> bytes:
    head = ",".join(f"{scope}={token}" for scope, token in sorted(tokens.items()))
    return f"{head}\n{xml}".encode()


def decode_entry(raw: bytes) -> tuple[dict[str, str], str] | None:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    head, sep, xml = text.partition("\n")
    if not sep:
        return None
    tokens = {}
    for item in filter(None, head.split(",")):
        scope, eq, token = item.partition("=")
        if not eq:
            return None
        tokens[scope] = token
    return tokens, xml


def new_token() -> str:
    return secrets.token_hex(8)


# --------------------------------------------------------------------------- stores


# A hit in one round trip: the entry, then the token of every scope it names, compared in
# Redis. ARGV[1] is the token key prefix, ARGV[2..] the scopes the lookup needs in any case.
# (It reads keys it is not given in KEYS: fine on one Redis, not on Redis Cluster.)
HIT_SCRIPT = """
local entry = redis.call('GET', KEYS[1])
if not entry then return nil end
local newline = string.find(entry, '\\n', 1, true)
if not newline or newline == 1 then return nil end
local head = string.sub(entry, 1, newline - 1)
local seen = {}
for item in string.gmatch(head, '[^,]+') do
  local eq = string.find(item, '=', 1, true)
  if not eq then return nil end
  local scope = string.sub(item, 1, eq - 1)
  local token = string.sub(item, eq + 1)
  if token == '' or redis.call('GET', ARGV[1] .. scope) ~= token then return nil end
  seen[scope] = true
end
for i = 2, #ARGV do
  if not seen[ARGV[i]] then return nil end
end
return string.sub(entry, newline + 1)
"""


class RedisStore:
    """Entries and generation tokens in Redis, shared by every process."""

    def __init__(self, url: str, ttl: int, prefix: str = "pbx") -> None:
        import redis

        self.url = url
        self.ttl = ttl
        self.prefix = f"{prefix}:xml:"
        self.gen_prefix = f"{prefix}:xmlgen:"
        options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
        self.sync = redis.Redis.from_url(url, **options)
        self._async_options = options
        self._async: dict[int, object] = {}  # one client per event loop
        self._scripts: dict[int, object] = {}

    def _aclient(self):
        import asyncio

        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async.get(id(loop))
        if client is None:
            client = redis.asyncio.Redis.from_url(self.url, **self._async_options)
            self._async[id(loop)] = client
        return client

    @staticmethod
    def _tokens(scopes: list[str], values: list) -> tuple[dict[str, str], dict[str, str]]:
        tokens, missing = {}, {}
        for scope, value in zip(scopes, values, strict=True):
            if value is None:
                missing[scope] = tokens[scope] = new_token()
            else:
                tokens[scope] = value.decode()
        return tokens, missing

    def tokens(self, scopes: Iterable[str]) -> dict[str, str]:
        scopes = list(scopes)
        if not scopes:
            return {}
        tokens, missing = self._tokens(
            scopes, self.sync.mget([self.gen_prefix + s for s in scopes])
        )
        if missing:  # first use (or evicted): create it, unless another process just did
            pipe = self.sync.pipeline(transaction=False)
            for scope, token in missing.items():
                pipe.set(self.gen_prefix + scope, token, nx=True)
            pipe.mget([self.gen_prefix + s for s in missing])
            *_, current = pipe.execute()
            tokens.update({s: v.decode() for s, v in zip(missing, current, strict=True) if v})
        return tokens

    async def atokens(self, scopes: Iterable[str]) -> dict[str, str]:
        scopes = list(scopes)
        if not scopes:
            return {}
        client = self._aclient()
        values = await client.mget([self.gen_prefix + s for s in scopes])
        tokens, missing = self._tokens(scopes, values)
        if missing:
            pipe = client.pipeline(transaction=False)
            for scope, token in missing.items():
                pipe.set(self.gen_prefix + scope, token, nx=True)
            pipe.mget([self.gen_prefix + s for s in missing])
            *_, current = await pipe.execute()
            tokens.update({s: v.decode() for s, v in zip(missing, current, strict=True) if v})
        return tokens

    async def ahit(self, lookup: Lookup) -> str | None:
        """The cached answer if it is still valid, in one round trip (HIT_SCRIPT), or None."""
        client = self._aclient()
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(HIT_SCRIPT)
        found = await script(
            keys=[self.prefix + lookup.key], args=[self.gen_prefix, *lookup.scopes]
        )
        return found.decode() if found is not None else None

    def bump(self, scopes: Iterable[str]) -> None:
        self.sync.mset({self.gen_prefix + s: new_token() for s in scopes})

    def get(self, key: str) -> bytes | None:
        return self.sync.get(self.prefix + key)

    async def aget(self, key: str) -> bytes | None:
        return await self._aclient().get(self.prefix + key)

    def set(self, key: str, value: bytes) -> None:
        self.sync.set(self.prefix + key, value, ex=self.ttl)

    def clear(self) -> None:
        """Drop every entry and token (`manage.py serve` does at start: the database may
        not be the one the entries were rendered from)."""
        for pattern in (self.prefix + "*", self.gen_prefix + "*"):
            keys = list(self.sync.scan_iter(pattern, count=1000))
            if keys:
                self.sync.delete(*keys)


class LocalStore:
    """Entries in this process's memory (bounded, least recently used out first); the one
    generation is the newest ConfigChange id, which every process's changes advance."""

    def __init__(self, max_entries: int = LOCAL_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def tokens(self, scopes: Iterable[str]) -> dict[str, str]:
        from pbx.host import xml_source

        return {ALL: str(xml_source().newest_generation())}

    def bump(self, scopes: Iterable[str]) -> None:
        """Nothing to do: the ConfigChange row of the change is the new generation."""

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_store: RedisStore | LocalStore | None = None
_store_lock = threading.Lock()


def store() -> RedisStore | LocalStore:
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                url = getattr(settings, "XML_CACHE_URL", "")
                ttl = int(getattr(settings, "XML_CACHE_TTL", 3600))
                prefix = getattr(settings, "XML_CACHE_PREFIX", "pbx")
                _store = RedisStore(url, ttl, prefix) if url else LocalStore()
    return _store


def reset_store() -> None:
    """Forget the store (tests change settings; a forked worker must not share sockets)."""
    global _store
    _store = None


# --------------------------------------------------------------------------- the answer


#: What this process did since it started: answers from the cache, renders from the database.
STATS: Counter[str] = Counter()


def _render(lookup: Lookup) -> tuple[str, tuple[str, ...]]:
    """(XML, extra scopes it turned out to depend on), from the database."""
    from pbx.host import xml_source

    STATS["render"] += 1
    return xml_source().render_lookup(lookup)


def _valid(entry: bytes | None, current: Mapping[str, str]) -> str | None:
    if entry is None:
        return None
    decoded = decode_entry(entry)
    if decoded is None:
        return None
    tokens, xml = decoded
    if not tokens or any(current.get(scope) != token for scope, token in tokens.items()):
        return None
    return xml


def _extra_scopes(entry: bytes | None, known: Iterable[str]) -> list[str]:
    decoded = decode_entry(entry) if entry is not None else None
    if decoded is None:
        return []
    return [scope for scope in decoded[0] if scope not in known]


def answer(lookup: Lookup) -> str:
    """The XML for `lookup`, from the cache when every scope it depends on is unchanged."""
    if not lookup.cacheable:
        return _render(lookup)[0]
    try:
        cache = store()
        entry = cache.get(lookup.key)
        scopes = list(lookup.scopes) + _extra_scopes(entry, lookup.scopes)
        current = cache.tokens(scopes)
        xml = _valid(entry, current)
        if xml is not None:
            STATS["hit"] += 1
            return xml
    except Exception as exc:  # any cache failure means: render
        log.warning("xml cache unavailable (%s); rendering from the database", exc)
        return _render(lookup)[0]
    return _render_and_keep(cache, lookup, current)


def _render_and_keep(cache, lookup: Lookup, current: dict[str, str]) -> str:
    """Render and keep the answer under the tokens read before rendering."""
    xml, extra = _render(lookup)
    try:
        if isinstance(cache, LocalStore):
            cache.set(lookup.key, encode_entry({ALL: current[ALL]}, xml))
            return xml
        # A scope learnt while rendering (a public number's owner) had its token read only
        # now, possibly after a change we did not see: keep the entry with no valid token for
        # it. It records the dependency, so the next lookup reads that token first.
        tokens = {s: current.get(s, "") for s in (*lookup.scopes, *extra)}
        if tokens:
            cache.set(lookup.key, encode_entry(tokens, xml))
    except Exception as exc:
        log.warning("xml cache: could not keep %s (%s)", lookup.key, exc)
    return xml


async def aanswer(lookup: Lookup) -> str:
    """`answer` for an event loop: a Redis hit never leaves the loop; a miss (and the
    in-memory store, which reads the database) renders on a worker thread."""
    from asgiref.sync import sync_to_async

    cache = None
    if lookup.cacheable:
        try:
            cache = store()
        except Exception as exc:
            log.warning("xml cache unavailable (%s); rendering from the database", exc)
    if not isinstance(cache, RedisStore):
        return await sync_to_async(_answer_in_thread, thread_sensitive=False)(lookup)
    try:
        xml = await cache.ahit(lookup)
        if xml is not None:
            STATS["hit"] += 1
            return xml
        entry = await cache.aget(lookup.key)
        scopes = list(lookup.scopes) + _extra_scopes(entry, lookup.scopes)
        current = await cache.atokens(scopes)
    except Exception as exc:
        log.warning("xml cache unavailable (%s); rendering from the database", exc)
        return await sync_to_async(_render_in_thread, thread_sensitive=False)(lookup)
    xml = _valid(entry, current)  # became valid between the two reads
    if xml is not None:
        STATS["hit"] += 1
        return xml
    # One render per key and generation in this process: a burst of calls to one number after
    # a change (or a restart) waits for that render instead of each running its own. The
    # finished render stays shared for a moment: lookups that read the same tokens while it
    # ran (on a busy box, most of the burst) take its answer; a change gives new tokens.
    loop = asyncio.get_running_loop()
    pending = _inflight.setdefault(id(loop), {})
    flight = (lookup.key, tuple(sorted(current.items())))
    running = pending.get(flight)
    if running is not None:
        return await asyncio.shield(running)
    future = loop.create_future()
    pending[flight] = future
    try:
        xml = await sync_to_async(_keep_in_thread, thread_sensitive=False)(cache, lookup, current)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs it as unhandled
        raise
    else:
        future.set_result(xml)
        return xml
    finally:
        if future.done() and not future.exception():
            loop.call_later(SHARE_FINISHED_RENDER, pending.pop, flight, None)
        else:
            pending.pop(flight, None)


#: seconds a finished render answers lookups that read the same generation tokens
SHARE_FINISHED_RENDER = 2.0
_inflight: dict[int, dict[tuple, asyncio.Future]] = {}


def warm_up() -> None:
    """Pay the first-request costs (imports, query compilation, the database pool, the cache
    connection) before the first call does: a cold worker answering a burst of calls took
    over a second per lookup. Renders one lookup of each kind for a customer that does not
    exist, so nothing is cached."""
    nobody = 999_999_999_999_999_999
    lookups = [
        Lookup("user", (str(nobody), "100"), nobody),
        Lookup("customer", (str(nobody), "100"), nobody),
        Lookup("public", ("70000000000",)),
        Lookup("callcenter", (f"c{nobody}_d{nobody}@default",)),
    ]
    for lookup in lookups:
        _with_connection_returned(lambda lk: _render(lk)[0], lookup)
    try:
        store().tokens([ALL])
    except Exception as exc:
        log.warning("xml cache unavailable at start (%s); lookups render until it is back", exc)


async def awarm_up() -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(warm_up, thread_sensitive=False)()
    cache = store()
    if isinstance(cache, RedisStore):
        try:
            await cache.atokens([ALL])
        except Exception as exc:
            log.warning("xml cache unavailable at start (%s)", exc)


def _with_connection_returned(func, *args):
    from django.db import close_old_connections, connections

    close_old_connections()
    try:
        return func(*args)
    finally:
        # A worker thread's connection goes back to the pool (or is closed) at once: threads
        # must never each keep one of their own.
        connections.close_all()


def _answer_in_thread(lookup: Lookup) -> str:
    return _with_connection_returned(answer, lookup)


def _render_in_thread(lookup: Lookup) -> str:
    return _with_connection_returned(lambda lk: _render(lk)[0], lookup)


def _keep_in_thread(cache, lookup: Lookup, current: dict[str, str]) -> str:
    return _with_connection_returned(_render_and_keep, cache, lookup, current)


def invalidate(customer_id: int | None, what: str) -> None:
    """Outdate every answer that depends on `customer_id`'s configuration (after commit)."""
    try:
        store().bump(scopes_for_change(customer_id, what))
    except Exception as exc:
        log.error(
            "xml cache: could not invalidate customer %s (%s): %s; entries expire after "
            "XML_CACHE_TTL",
            customer_id,
            what,
            exc,
        )


def on_config_changed(sender, *, customer_id=None, what="", **kwargs) -> None:
    invalidate(customer_id, what)
