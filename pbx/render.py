"""FreeSWITCH XML rendered from the database: directory, dialplan, callcenter.conf.

Pure functions: they take model instances (already loaded, with the related rows passed in
explicitly) or plain data and return the XML text that mod_xml_curl expects. No queries, no
HTTP, no ESL. `portal.switch.xmldata` loads the rows, `pbx.views` serves the answer.

Naming (fixed, derived from ids only, never from names a customer typed):
- SIP domain of a customer: `c<customer_id>.<PBX_SIP_DOMAIN>` (`c12.pbx.example.com`). Phones
  register as `<extension>@c12.pbx.example.com`, so extensions only need to be unique within a
  customer and one customer's `101` is never another's.
- Dialplan context of a customer's phones: `customer_<customer_id>` (the directory sets
  `user_context`). Calls from the PSTN trunk arrive in `public`.
- mod_callcenter queue of a department: `c<customer_id>_d<department_id>@default`;
  agent of an employee: `c<customer_id>_e<employee_id>`.

Channel variables set on calls (read by call control and the CDR intake): `pbx_customer`,
`pbx_number` (PhoneNumber id), `pbx_number_e164`, `pbx_department`, `pbx_employee` (on the
phone's leg, from the directory), `pbx_flow` (which outbound-socket flow handles the call),
`pbx_recording` (path of the recording when the call-recording option is on).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import phonenumbers

from pbx import causes, destinations, dialplan
from pbx.destinations import EmergencyRoute, OutboundPolicy
from pbx.dialplan import Contribution, DialledCall, InboundCall, QueueEntry
from pbx.xmlbuild import (
    DIAL_STRING,
    NOT_FOUND,
    RenderError,
    action,
    db_id,
    document,
    fs_safe_secret,
    param,
    serialise,
    sip_display_name,
    sub,
    variable,
)

log = logging.getLogger(__name__)

# Option codes (portal.billing.models.Option) that change the rendered XML. Kept as strings
# so this module imports no Django models.
CALLBACK = "callback"
AUTO_REDIAL = "auto_redial"
INTEGRATED_NUMBER = "integrated_number"
CALLER_ID = "caller_id"
CALL_RECORDING = "call_recording"

# PhoneNumber.Kind values.
MULTICHANNEL = "multichannel"
REGULAR = "regular"
ACCESS = "access"
RETURN = "return"
FICTIVE = "fictive"

# `pbx_flow` values: the outbound-socket flows of the call-control service.
FLOW_QUEUE = "queue"  # informational: the caller is in a callcenter queue
FLOW_FICTIVE_ACCESS = "fictive_access"
FLOW_FICTIVE_RETURN = "fictive_return"
FLOW_FICTIVE = "fictive"
FLOW_REDIAL_OFFER = "redial_offer"
FLOW_OUTBOUND = "outbound"
FLOW_EMERGENCY = "emergency"  # never billed (portal.billing.services.call_charge)
# Hangup causes of a call between phones that are offered auto-redial (portal.redial.rules).
REDIAL_CAUSES = causes.BUSY | causes.UNREACHABLE
SOCKET_FLOWS = {ACCESS: FLOW_FICTIVE_ACCESS, RETURN: FLOW_FICTIVE_RETURN, FICTIVE: FLOW_FICTIVE}

PUBLIC_CONTEXT = "public"
QUEUE_EXIT = "queue_exit"  # destination the queue transfers to when the member leaves it
# Destination the `limit` application transfers a call to when a call limit is reached.
LIMIT_EXCEEDED = "pbx_limit_exceeded"
# `limit hash` realms: concurrent outside calls of a customer / of one phone, calls per minute.
LIMIT_REALM_CUSTOMER = "pbx_out"
LIMIT_REALM_PHONE = "pbx_out_phone"
LIMIT_REALM_RATE = "pbx_out_rate"
# Prompts (portal.prompts.catalog keys) of refused outside calls.
PROMPT_BARRED = "call_barred"
PROMPT_LIMIT = "call_limit_reached"
PROMPT_PAID_BLOCKED = {"spend_cap": "spend_cap_reached", "balance": "balance_too_low"}
RING_SECONDS = 30
# A number we can call back: international digits, optionally with "+" (not "anonymous",
# "unknown", "0000000000" or an internal extension).
CALLABLE_NUMBER = r"^\+?[1-9][0-9]{6,14}$"

_CONTEXT = re.compile(r"customer_([1-9][0-9]{0,17})\Z")
_DOMAIN_LABEL = re.compile(r"c([1-9][0-9]{0,17})\Z")
_EXTENSION = re.compile(r"[1-9][0-9]{1,5}\Z")
_DIALED = re.compile(r"\+?[0-9]{3,16}\Z")
_HOST = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
_LANGUAGES = {"ru", "en"}
_GATEWAY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


@dataclass(frozen=True)
class RenderSettings:
    """Platform-wide facts the XML depends on (from Django settings; see portal.switch.xmldata)."""

    sip_domain: str = "pbx.local"
    socket_host: str = "127.0.0.1"
    socket_port: int = 8084
    region: str = "RU"
    #: FreeSWITCH keeps a directory user this long (ms, `cacheable`); 0: asks every time
    directory_cache_ms: int = 0
    #: the PSTN gateway of outside calls
    gateway: str = "pstn"
    #: `PBX_EMERGENCY_ROUTE`: `<gateway>` or `<gateway>/<number>` (pbx.destinations)
    emergency_route: str = "pstn"
    #: the platform's destination prefix table (pbx.destinations.PLATFORM_PREFIXES + setting)
    prefixes: Mapping[str, str] = field(
        default_factory=lambda: dict(destinations.PLATFORM_PREFIXES)
    )

    def __post_init__(self):
        if not _HOST.match(self.sip_domain):
            raise RenderError(f"bad PBX_SIP_DOMAIN {self.sip_domain!r}")
        if not _HOST.match(self.socket_host):
            raise RenderError(f"bad CALLCONTROL_SOCKET_HOST {self.socket_host!r}")
        if not 0 < int(self.socket_port) < 65536:
            raise RenderError(f"bad CALLCONTROL_SOCKET_PORT {self.socket_port!r}")
        if not _GATEWAY.match(self.gateway):
            raise RenderError(f"bad PBX_PSTN_GATEWAY {self.gateway!r}")
        try:
            EmergencyRoute.parse(self.emergency_route)
        except ValueError as exc:
            raise RenderError(str(exc)) from None

    @property
    def socket_data(self) -> str:
        return f"{self.socket_host}:{int(self.socket_port)} async full"


# --------------------------------------------------------------------------- naming


def sip_domain(customer_id: int, base: str) -> str:
    return f"c{db_id(customer_id)}.{base}"


def customer_id_from_domain(domain: str, base: str) -> int | None:
    """`c12.pbx.example.com` -> 12; anything else (another base, junk) -> None."""
    label, dot, rest = (domain or "").strip().lower().partition(".")
    match = _DOMAIN_LABEL.match(label)
    if not dot or rest != base.lower() or not match:
        return None
    return int(match.group(1))


def customer_context(customer_id: int) -> str:
    return f"customer_{db_id(customer_id)}"


def customer_id_from_context(context: str) -> int | None:
    match = _CONTEXT.match(context or "")
    return int(match.group(1)) if match else None


def queue_name(customer_id: int, department_id: int, *, offer: bool = True) -> str:
    """A department's mod_callcenter queue. With the callback option on, a department has a
    twin queue without the offer (`..._plain`) for callers we could not call back (anonymous
    or withheld numbers): same agents, no "press 1" announcement."""
    suffix = "" if offer else "_plain"
    return f"c{db_id(customer_id)}_d{db_id(department_id)}{suffix}@default"


def agent_name(customer_id: int, employee_id: int) -> str:
    return f"c{db_id(customer_id)}_e{db_id(employee_id)}"


def valid_extension(value: object) -> str | None:
    text = str(value or "")
    return text if _EXTENSION.match(text) else None


def e164(value: object, region: str = "RU") -> str | None:
    """A valid E.164 number (`+74951234567`) or None. Only digits and one leading `+` in."""
    text = str(value or "")
    if not _DIALED.match(text):
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def exact(dialed: str) -> str:
    """Dialplan regex matching exactly `dialed` (digits, optional leading +)."""
    if not _DIALED.match(dialed) and not _EXTENSION.match(dialed):
        raise RenderError(f"not a dialable number: {dialed!r}")
    return "^" + re.escape(dialed) + "$"


def _language(value: object) -> str:
    return value if value in _LANGUAGES else "ru"


def recording_path(customer_id: int, number_id: int | None = None) -> str:
    """Where `record_session` writes: ids and the call's uuid under the recordings root."""
    where = f"c{db_id(customer_id)}"
    if number_id is not None:
        where += f"/n{db_id(number_id)}"
    return f"$${{pbx_recordings_dir}}/{where}/${{uuid}}.wav"


# --------------------------------------------------------------------------- directory


def outbound_number(employee, numbers: Sequence, options: Iterable[str]) -> str | None:
    """The number an employee presents outside (and to callers called back).

    With the caller-ID (АОН) option on for the customer and switched on for the employee: the
    multichannel number of the employee's department. Otherwise the customer's first regular or
    multichannel number (lowest E.164 first). Numbers are E.164-checked again; bad ones are
    skipped.
    """
    options = set(options)
    numbers = sorted(numbers, key=lambda n: n.e164)
    if CALLER_ID in options and getattr(employee, "caller_id_option", False):
        for number in numbers:
            if (
                number.kind == MULTICHANNEL
                and number.department_id is not None
                and number.department_id == employee.department_id
                and e164(number.e164)
            ):
                return e164(number.e164)
    for number in numbers:
        if number.kind in (REGULAR, MULTICHANNEL) and e164(number.e164):
            return e164(number.e164)
    return None


def _domain_element(section, customer_id: int, base: str):
    domain = sub(section, "domain", name=sip_domain(customer_id, base))
    params = sub(domain, "params")
    param(params, "dial-string", DIAL_STRING)
    variables = sub(domain, "variables")
    variable(variables, "pbx_customer", db_id(customer_id))
    return domain


def _user_element(
    users,
    customer,
    employee,
    numbers: Sequence,
    options: Iterable[str],
    policy: OutboundPolicy | None = None,
    barred: Iterable[str] = (),
):
    extension = valid_extension(employee.extension)
    if extension is None:
        raise RenderError(f"employee {employee.pk}: bad extension")
    password = fs_safe_secret(employee.sip_password)
    user = sub(users, "user", id=extension)
    params = sub(user, "params")
    param(params, "password", password)
    variables = sub(user, "variables")
    variable(variables, "user_context", customer_context(customer.pk))
    variable(variables, "pbx_customer", db_id(customer.pk))
    variable(variables, "pbx_employee", db_id(employee.pk))
    if employee.department_id:
        variable(variables, "pbx_department", db_id(employee.department_id))
    variable(variables, "effective_caller_id_name", sip_display_name(employee.name) or extension)
    variable(variables, "effective_caller_id_number", extension)
    presented = outbound_number(employee, numbers, options)
    if presented:
        variable(variables, "outbound_caller_id_number", presented)
    # The opt-in destination classes this phone may call (the customer dialplan checks it).
    variable(variables, "toll_allow", (policy or OutboundPolicy()).toll_allow(barred))
    return user


def render_directory_domain(
    customer,
    employees: Iterable,
    *,
    numbers: Sequence = (),
    options: Iterable[str] = (),
    policy: OutboundPolicy | None = None,
    barred: Mapping[int, Iterable[str]] | None = None,
    settings: RenderSettings,
) -> str:
    """The customer's SIP domain with every active employee as a user.

    An employee whose data cannot be rendered safely (e.g. a SIP password with `$`) is left
    out rather than breaking the whole domain.
    """
    options = frozenset(options)
    root, section = document("directory")
    domain = _domain_element(section, customer.pk, settings.sip_domain)
    users = sub(sub(sub(domain, "groups"), "group", name="default"), "users")
    for employee in employees:
        if not employee.is_active:
            continue
        try:
            _user_element(
                users,
                customer,
                employee,
                numbers,
                options,
                policy,
                (barred or {}).get(employee.pk, ()),
            )
        except RenderError as exc:  # checks run before the element is added
            log.warning(
                "directory: customer %s employee %s left out: %s", customer.pk, employee.pk, exc
            )
    return serialise(root)


def render_directory_user(
    customer,
    employee,
    *,
    numbers: Sequence = (),
    options: Iterable[str] = (),
    policy: OutboundPolicy | None = None,
    barred: Iterable[str] = (),
    settings: RenderSettings,
) -> str:
    """The customer's domain holding exactly one user (the answer to a user lookup)."""
    if not employee.is_active:
        return NOT_FOUND
    root, section = document("directory")
    domain = _domain_element(section, customer.pk, settings.sip_domain)
    users = sub(sub(sub(domain, "groups"), "group", name="default"), "users")
    try:
        user = _user_element(users, customer, employee, numbers, frozenset(options), policy, barred)
    except RenderError as exc:
        log.warning(
            "directory: customer %s employee %s not served: %s", customer.pk, employee.pk, exc
        )
        return NOT_FOUND
    if settings.directory_cache_ms > 0:
        # Flushed by every config change (`xml_flush_cache` over ESL).
        user.set("cacheable", str(int(settings.directory_cache_ms)))
    return serialise(root)


# --------------------------------------------------------------------------- dialplan


def _context(section, name: str):
    return sub(section, "context", name=name)


def _set(condition, name: str, value: str):
    action(condition, "set", f"{name}={value}")


def _record(condition, customer_id: int, number_id: int | None = None):
    _set(condition, "RECORD_STEREO", "true")
    _set(condition, "pbx_recording", recording_path(customer_id, number_id))
    action(condition, "record_session", "${pbx_recording}")


def _unavailable(condition, cause: str = "NORMAL_TEMPORARY_FAILURE"):
    action(condition, "answer")
    action(condition, "sleep", "500")
    action(condition, "playback", "$${pbx_unavailable_playback}")  # tone + prompt
    action(condition, "hangup", cause)


def _dial_employees(
    call: InboundCall | DialledCall, employees: Sequence, features: Sequence[Contribution]
) -> str:
    """Simultaneous ring of the employees: each one's phones, or where a feature says (call
    forwarding), its dial string."""
    legs = []
    for employee in employees:
        extension = valid_extension(employee.extension)
        if extension is None:
            continue
        dial = next(
            (d for f in features if (d := f.employee_dial(call, employee)) is not None), None
        )
        legs.append(dial or f"user/{extension}@{call.domain}")
    return ",".join(legs)


@dataclass
class PublicCall:
    """What the public dialplan needs for one incoming call to a customer's number."""

    number: object  # PhoneNumber
    customer: object  # Customer
    employees: list = field(default_factory=list)  # active employees of number.department
    options: frozenset[str] = frozenset()
    # The features' dialplan contributions (pbx.dialplan; None: every installed one) and what
    # each loaded for this call.
    features: Sequence[Contribution] | None = None
    data: Mapping[str, object] = field(default_factory=dict)


def render_public_dialplan(
    destination: str, call: PublicCall | None, *, settings: RenderSettings
) -> str:
    """The `public` context for a call from the trunk to `destination`.

    Unknown numbers and numbers of customers who are not active are refused inside the answer
    (so FreeSWITCH does not fall back to the static "temporarily unavailable" dialplan, which
    is meant for portal outages only).
    """
    root, section = document("dialplan")
    context = _context(section, PUBLIC_CONTEXT)
    if not _DIALED.match(destination or ""):
        extension = sub(context, "extension", name="unallocated")
        condition = sub(extension, "condition")
        action(condition, "hangup", "UNALLOCATED_NUMBER")
        return serialise(root)
    if call is None:
        extension = sub(context, "extension", name="unallocated")
        condition = sub(
            extension, "condition", field="destination_number", expression=exact(destination)
        )
        action(condition, "hangup", "UNALLOCATED_NUMBER")
        return serialise(root)

    number, customer, options = call.number, call.customer, frozenset(call.options)
    number_e164 = e164(number.e164, settings.region)
    active = customer.status == "active" and number_e164 is not None
    domain = sip_domain(customer.pk, settings.sip_domain)
    inbound = InboundCall(
        customer=customer,
        number=number,
        options=options,
        settings=settings,
        context=context,
        domain=domain,
        destination=destination,
        employees=list(call.employees),
        data=call.data,
        features=_features(call.features),
    )
    if active:
        for feature in inbound.features:
            feature.inbound_screen(inbound)
    extension = sub(context, "extension", name=f"n{db_id(number.pk)}")
    condition = sub(
        extension, "condition", field="destination_number", expression=exact(destination)
    )
    inbound.extension, inbound.condition = extension, condition
    if not active:
        _unavailable(condition)
        return serialise(root)

    _set(condition, "pbx_customer", db_id(customer.pk))
    _set(condition, "pbx_number", db_id(number.pk))
    _set(condition, "pbx_number_e164", number_e164)
    if number.department_id:
        _set(condition, "pbx_department", db_id(number.department_id))
    _set(condition, "hangup_after_bridge", "true")
    kind = number.kind
    # The fictive flows record every call themselves (portal/fictive/telephony.py): not twice.
    if CALL_RECORDING in options and kind not in SOCKET_FLOWS:
        _record(condition, customer.pk, number.pk)

    if kind in (MULTICHANNEL, REGULAR):
        for feature in inbound.features:
            feature.inbound_start(inbound)
        if any(feature.inbound_route(inbound) for feature in inbound.features):
            return serialise(root)
    if kind in SOCKET_FLOWS:
        _set(condition, "pbx_flow", SOCKET_FLOWS[kind])
        action(condition, "socket", settings.socket_data)
        action(condition, "hangup", "NORMAL_TEMPORARY_FAILURE")  # call control unreachable
    elif kind == MULTICHANNEL and number.department_id:
        enter_queue(inbound, number.department_id)
    elif kind == REGULAR and number.department_id:
        extensions = [valid_extension(e.extension) for e in call.employees if e.is_active]
        extensions = [ext for ext in extensions if ext]
        if INTEGRATED_NUMBER in options:
            # The employee's answered leg must say which number was called (portal/integrated/telephony.py).
            action(condition, "export", f"pbx_customer={db_id(customer.pk)}")
            action(condition, "export", f"pbx_number={db_id(number.pk)}")
        phones = [e for e in call.employees if e.is_active and valid_extension(e.extension)]
        inbound.employees = phones
        # Auto-redial for a caller from outside: a number that rings one phone, busy or
        # unreachable, hands the call to the redial flow (a hunt group has the queue callback).
        redial = AUTO_REDIAL in options and len(phones) == 1
        if extensions:
            _set(condition, "call_timeout", str(RING_SECONDS))
            if redial:
                _set(condition, "continue_on_fail", ",".join(sorted(REDIAL_CAUSES)))
                _set(condition, "pbx_redial_callee", db_id(phones[0].pk))
            else:
                _set(condition, "continue_on_fail", "true")
            action(condition, "bridge", _dial_employees(inbound, phones, inbound.features))
        if redial:
            _set(condition, "pbx_flow", FLOW_REDIAL_OFFER)
            action(condition, "socket", settings.socket_data)
        for feature in inbound.features:
            feature.after_bridge(inbound)
        action(condition, "hangup", "NO_ANSWER" if extensions else "SUBSCRIBER_ABSENT")
    else:
        action(condition, "hangup", "NO_ROUTE_DESTINATION")
    return serialise(root)


def _features(features: Sequence[Contribution] | None) -> tuple[Contribution, ...]:
    """The contributions to render with: the given ones, or every installed one."""
    return dialplan.contributions() if features is None else tuple(features)


def enter_queue(call: InboundCall | DialledCall, department_id: int) -> None:
    """The caller enters the callcenter queue of the department (a multichannel number, a
    voice-menu key): answered, tagged, and either a feature renders the entry (the callback
    offer, pbx.dialplan `queue_entry`) or the plain queue; the call ends when the queue does."""
    condition, customer = call.condition, call.customer
    _set(condition, "pbx_flow", FLOW_QUEUE)
    _set(condition, "cc_export_vars", "pbx_customer,pbx_number,pbx_department")
    action(condition, "answer")
    entry = QueueEntry(
        customer=customer,
        department_id=department_id,
        options=call.options,
        settings=call.settings,
        extension=call.extension,
        condition=condition,
    )
    if not any(feature.queue_entry(entry) for feature in call.features):
        action(condition, "callcenter", queue_name(customer.pk, department_id))
        action(condition, "hangup", "NORMAL_CLEARING")


def dial_employees(call: InboundCall | DialledCall, employees: Sequence) -> str:
    """The dial string ringing these employees at once (`,`), each where the features say."""
    return _dial_employees(call, employees, call.features)


def _prompt(customer, key: str) -> str:
    return f"$${{pbx_sounds_dir}}/{_language(getattr(customer, 'language', 'ru'))}/{key}.wav"


def _refuse(condition, customer, prompt: str, cause: str, *, anti: bool = False):
    """Refuse an outside call with a prompt, in early media: the caller's leg is never
    answered, so a refusal is never billed."""
    action(condition, "pre_answer", anti=anti)
    action(condition, "sleep", "300", anti=anti)
    # The special information tone first (it needs no file: a refusal is never silent where
    # the prompts were not generated), then the prompt that says why.
    playback = f"file_string://$${{pbx_unavailable_tone}}!{_prompt(customer, prompt)}"
    action(condition, "playback", playback, anti=anti)
    action(condition, "hangup", cause, anti=anti)


def _limit(condition, realm: str, resource: str, maximum: str, customer_id: int):
    """`limit hash`: over the limit the call is transferred to LIMIT_EXCEEDED (a prompt).
    mod_hash counts per node and releases a call's slot when it hangs up."""
    action(
        condition,
        "limit",
        f"hash {realm} {resource} {maximum} {LIMIT_EXCEEDED} XML {customer_context(customer_id)}",
    )


def _emergency(context, customer, destination: str, settings: RenderSettings):
    """An emergency number: straight to the emergency route, whatever the customer's state,
    policy, limits or balance; tagged `pbx_flow=emergency` on both legs so it is never billed."""
    route = EmergencyRoute.parse(settings.emergency_route)
    if not destinations.is_emergency(destination, settings.region):
        raise RenderError(f"not an emergency number: {destination!r}")
    extension = sub(context, "extension", name="emergency")
    expression = "^" + re.escape(destination) + "$"  # digits only (is_emergency)
    sub(extension, "condition", field="destination_number", expression=expression)
    presented = sub(
        extension,
        "condition",
        field="${outbound_caller_id_number}",
        expression=r"^\+[1-9][0-9]{6,14}$",
        **{"break": "never"},
    )
    _set(presented, "effective_caller_id_number", "${outbound_caller_id_number}")
    condition = sub(extension, "condition")
    _set(condition, "pbx_customer", db_id(customer.pk))
    action(condition, "export", f"pbx_flow={FLOW_EMERGENCY}")
    _set(condition, "pbx_destination_class", destinations.EMERGENCY)
    _set(condition, "hangup_after_bridge", "true")
    action(condition, "bridge", route.dial_string(destination))
    action(condition, "hangup", "NORMAL_CLEARING")


def render_customer_dialplan(
    customer,
    destination: str,
    *,
    target=None,
    options: Iterable[str] = (),
    policy: OutboundPolicy | None = None,
    home_numbers: Iterable[str] = (),
    settings: RenderSettings,
    features: Sequence[Contribution] | None = None,
    data: Mapping[str, object] | None = None,
) -> str:
    """The `customer_<id>` context: what the customer's phones may dial.

    - an emergency number (pbx.destinations): the emergency route, always; an active extension
      of the customer wins over the short codes 101-104 (never over 112);
    - an extension of the same customer (`target`, an active Employee): ring its phones;
    - what a feature renders for the destination (pbx.dialplan: a conference room, ...);
    - `queue_exit` (the public dialplan transfers here after the queue): with the callback
      option on and the caller having pressed 1, hand the call to the callback flow;
    - a valid number outside: its destination class decides (`policy`). A class the customer
      has not switched on is refused; an opt-in class (international, premium, satellite)
      also needs the phone's `toll_allow` (directory); with paid calls blocked (the daily spend
      cap reached, the balance too low) every outside call is refused with a prompt. Otherwise
      the call passes the `limit`s (concurrent calls of the customer and of the phone, calls
      per minute) and goes out through the trunk presenting `outbound_caller_id_number`;
    - anything else: UNALLOCATED_NUMBER.

    Only state that changes through an announced config change is rendered here (the answer
    is cached, pbx/xmlcache.py): the class switches, the limits and the "paid calls blocked"
    flag, which `portal.billing.callpolicy` flips (and announces) when the spend of the day
    reaches the cap, the balance falls below the minimum, a payment arrives or a day ends.
    The spend and the balance themselves never are.
    """
    options = frozenset(options)
    policy = policy or OutboundPolicy()
    root, section = document("dialplan")
    context = _context(section, customer_context(customer.pk))
    domain = sip_domain(customer.pk, settings.sip_domain)
    destination = destination or ""
    dialled = DialledCall(
        customer=customer,
        destination=destination,
        options=options,
        settings=settings,
        context=context,
        domain=domain,
        data=data or {},
        features=_features(features),
    )
    features = dialled.features

    if destination == QUEUE_EXIT:
        # Back from a queue with the caller still on the line (a key pressed): a feature
        # decides on ${cc_exit_key} (the callback offer), else the call ends.
        extension = sub(context, "extension", name=QUEUE_EXIT)
        sub(extension, "condition", field="destination_number", expression=f"^{QUEUE_EXIT}$")
        dialled.extension = extension
        if not any(feature.queue_exit(dialled) for feature in features):
            action(sub(extension, "condition"), "hangup", "NORMAL_CLEARING")
        return serialise(root)

    if destination == LIMIT_EXCEEDED:
        extension = sub(context, "extension", name=LIMIT_EXCEEDED)
        condition = sub(
            extension, "condition", field="destination_number", expression=f"^{LIMIT_EXCEEDED}$"
        )
        _refuse(condition, customer, PROMPT_LIMIT, "NORMAL_CIRCUIT_CONGESTION")
        return serialise(root)

    own_extension = (
        target is not None and target.is_active and valid_extension(target.extension) == destination
    )
    if destinations.is_emergency(destination, settings.region) and (
        not own_extension or destination in destinations.UNIVERSAL_EMERGENCY
    ):
        _emergency(context, customer, destination, settings)
        return serialise(root)

    if customer.status != "active":
        extension = sub(context, "extension", name="suspended")
        _unavailable(sub(extension, "condition"))
        return serialise(root)

    if own_extension:
        extension = sub(context, "extension", name=f"e{db_id(target.pk)}")
        condition = sub(
            extension, "condition", field="destination_number", expression=exact(destination)
        )
        _set(condition, "pbx_customer", db_id(customer.pk))
        _set(condition, "hangup_after_bridge", "true")
        _set(condition, "call_timeout", str(RING_SECONDS))
        if CALL_RECORDING in options:
            _record(condition, customer.pk)
        if AUTO_REDIAL in options:
            # Busy or unreachable: the caller is offered auto-redial by the redial flow
            # (portal/redial/telephony.py); any other failure ends the call with its cause.
            _set(condition, "continue_on_fail", ",".join(sorted(REDIAL_CAUSES)))
            _set(condition, "pbx_redial_callee", db_id(target.pk))
        dialled.target, dialled.employees, dialled.condition = target, [target], condition
        action(condition, "bridge", _dial_employees(dialled, [target], features))
        if AUTO_REDIAL in options:
            _set(condition, "pbx_flow", FLOW_REDIAL_OFFER)
            action(condition, "socket", settings.socket_data)
        for feature in features:
            feature.after_bridge(dialled)
        action(condition, "hangup", "NO_ANSWER")
        return serialise(root)

    if any(feature.dialled(dialled) for feature in features):
        return serialise(root)

    outside = None
    if not valid_extension(destination):
        outside = destinations.classify(
            destination,
            region=settings.region,
            home_numbers=home_numbers,
            prefixes=settings.prefixes,
        )
    if outside is not None and outside.emergency:  # the checks above route every one
        outside = None
    if outside is not None and e164(outside.number, settings.region) != outside.number:
        outside = None  # belt and braces: only a valid E.164 ever reaches the dial string
    if outside is not None:
        cls = outside.cls
        if not destinations.allowed(cls, policy.allowed):
            extension = sub(context, "extension", name="barred")
            condition = sub(
                extension, "condition", field="destination_number", expression=exact(destination)
            )
            _set(condition, "pbx_customer", db_id(customer.pk))
            _set(condition, "pbx_destination_class", cls)
            _refuse(condition, customer, PROMPT_BARRED, "OUTGOING_CALL_BARRED")
            return serialise(root)
        if policy.paid_blocked:
            extension = sub(context, "extension", name="paid_blocked")
            condition = sub(
                extension, "condition", field="destination_number", expression=exact(destination)
            )
            _set(condition, "pbx_customer", db_id(customer.pk))
            _set(condition, "pbx_destination_class", cls)
            _set(condition, "pbx_paid_blocked", policy.paid_blocked)
            prompt = PROMPT_PAID_BLOCKED[policy.paid_blocked]
            _refuse(condition, customer, prompt, "CALL_REJECTED")
            return serialise(root)

        extension = sub(context, "extension", name="outbound")
        sub(extension, "condition", field="destination_number", expression=exact(destination))
        if cls in destinations.OPT_IN:
            # Switched on for the customer; the phone must have it too (directory toll_allow).
            phone = sub(
                extension, "condition", field="${toll_allow}", expression=f"^(.*,)?{cls}(,.*)?$"
            )
            _refuse(phone, customer, PROMPT_BARRED, "OUTGOING_CALL_BARRED", anti=True)
        condition = sub(
            extension,
            "condition",
            field="${outbound_caller_id_number}",
            expression=r"^\+[1-9][0-9]{6,14}$",
        )
        _set(condition, "pbx_customer", db_id(customer.pk))
        _set(condition, "pbx_flow", FLOW_OUTBOUND)
        _set(condition, "pbx_destination_class", cls)
        _set(condition, "hangup_after_bridge", "true")
        cid = db_id(customer.pk)
        _limit(condition, LIMIT_REALM_RATE, f"c{cid}", f"{policy.calls_per_minute}/60", customer.pk)
        _limit(condition, LIMIT_REALM_CUSTOMER, f"c{cid}", str(policy.max_calls), customer.pk)
        _limit(
            condition,
            LIMIT_REALM_PHONE,
            f"c{cid}_e${{pbx_employee}}",
            str(policy.max_calls_per_phone),
            customer.pk,
        )
        _set(condition, "effective_caller_id_number", "${outbound_caller_id_number}")
        if CALL_RECORDING in options:
            _record(condition, customer.pk)
        action(condition, "bridge", f"sofia/gateway/{settings.gateway}/{outside.number}")
        action(condition, "hangup", "NORMAL_CLEARING")
        action(condition, "hangup", "CALL_REJECTED", anti=True)  # nothing to present
        return serialise(root)

    extension = sub(context, "extension", name="unallocated")
    action(sub(extension, "condition"), "hangup", "UNALLOCATED_NUMBER")
    return serialise(root)


# --------------------------------------------------------------------------- callcenter


@dataclass(frozen=True)
class Agent:
    customer_id: int
    employee_id: int
    extension: str


@dataclass(frozen=True)
class Queue:
    customer_id: int
    department_id: int
    callback: bool = False
    announce_interval: int = 30
    language: str = "ru"
    agents: tuple[Agent, ...] = ()
    # The "press 1" offer the customer's callers hear: the file `portal.prompts` chose (the
    # customer's own recording, else the generated prompt, in the customer's language).
    # Empty: the generated prompt under $${pbx_sounds_dir}.
    offer_sound: str = ""
    # What each feature's `load_queues` gave for this queue's department (pbx.dialplan).
    data: Mapping[str, object] = field(default_factory=dict, compare=False)


_SOUND_PATH = re.compile(r"/[A-Za-z0-9_./-]+\Z")


def _offer_sound(queue: Queue) -> str:
    path = queue.offer_sound or ""
    if _SOUND_PATH.match(path) and "/../" not in f"{path}/":
        return path
    if path:
        log.warning(
            "queue c%s_d%s: unsafe offer path %r", queue.customer_id, queue.department_id, path
        )
    return f"$${{pbx_sounds_dir}}/{_language(queue.language)}/callback_offer.wav"


def render_callcenter_config(
    queues: Iterable[Queue],
    *,
    settings: RenderSettings,
    features: Sequence[Contribution] | None = None,
) -> str:
    """callcenter.conf: one queue per department that has a multichannel number, its employees
    as agents (`user/<ext>@<customer domain>`) and a tier per (agent, queue).

    The callback option shows as the queue's periodic announcement ("press 1 to be called
    back") every `announce_interval` seconds; without it the queue has no announcement.
    """
    features = _features(features)
    root, section = document("configuration")
    config = sub(section, "configuration", name="callcenter.conf", description="CallCenter")
    settings_el = sub(config, "settings")
    param(settings_el, "truncate-agents-on-load", "true")
    param(settings_el, "truncate-tiers-on-load", "true")
    param(settings_el, "agent-originate-timeout", str(RING_SECONDS))
    queues_el = sub(config, "queues")
    agents_el = sub(config, "agents")
    tiers_el = sub(config, "tiers")
    seen_agents: set[str] = set()
    for queue in queues:
        names = [queue_name(queue.customer_id, queue.department_id)]
        if queue.callback:
            names.append(queue_name(queue.customer_id, queue.department_id, offer=False))
        for name in names:
            params = {"strategy": "longest-idle-agent", "moh-sound": "$${pbx_hold_music}"}
            if queue.callback and name == names[0]:
                interval = max(10, min(600, int(queue.announce_interval)))
                params["announce-sound"] = _offer_sound(queue)
                params["announce-frequency"] = str(interval)
            params.update(
                {
                    "time-base-score": "system",
                    "max-wait-time": "0",
                    "max-wait-time-with-no-agent": "0",
                    "tier-rules-apply": "false",
                    "discard-abandoned-after": "60",
                    "abandoned-resume-allowed": "false",
                }
            )
            for feature in features:
                feature.queue_params(queue, params)
            q = sub(queues_el, "queue", name=name)
            for key, value in params.items():
                param(q, key, value)
        domain = sip_domain(queue.customer_id, settings.sip_domain)
        for agent in queue.agents:
            extension = valid_extension(agent.extension)
            if extension is None or agent.customer_id != queue.customer_id:
                continue
            name_a = agent_name(agent.customer_id, agent.employee_id)
            if name_a not in seen_agents:
                seen_agents.add(name_a)
                sub(
                    agents_el,
                    "agent",
                    name=name_a,
                    type="callback",
                    contact=f"user/{extension}@{domain}",
                    status="Available",
                    max_no_answer="3",
                    wrap_up_time="5",
                    reject_delay_time="10",
                    busy_delay_time="30",
                    no_answer_delay_time="10",
                )
            for name in names:
                sub(tiers_el, "tier", agent=name_a, queue=name, level="1", position="1")
    return serialise(root)


def render_not_found() -> str:
    return NOT_FOUND
