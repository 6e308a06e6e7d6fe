"""Reads for the mod_xml_curl endpoint: load the rows, hand them to `pbx.render`.

`pbx.xmlcache` reaches this module through the `PBX_XML_SOURCE` setting (pbx never imports
portal); the features' contributions (`pbx.dialplan`) load their own rows here too.

Every function runs a fixed number of queries whatever the number of employees, numbers or
queues (the endpoint is on the path of every REGISTER and every call).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Q

from pbx import destinations, dialplan, render
from pbx.render import RenderSettings
from pbx.xmlbuild import NOT_FOUND, RenderError
from pbx.xmlcache import Lookup, customer_scope
from portal.billing import callpolicy
from portal.billing.models import Option
from portal.billing.selectors import customers_with_option, options_enabled
from portal.directory.models import Department, Employee, PhoneNumber
from portal.switch.models import ConfigChange
from portal.tenants.models import Customer

ACTIVE = Customer.Status.ACTIVE
_QUEUE = re.compile(r"c([1-9][0-9]{0,17})_d([1-9][0-9]{0,17})(?:_plain)?@default\Z")
_PUBLIC_NUMBER_KINDS = [
    PhoneNumber.Kind.MULTICHANNEL,
    PhoneNumber.Kind.REGULAR,
    PhoneNumber.Kind.ACCESS,
    PhoneNumber.Kind.RETURN,
    PhoneNumber.Kind.FICTIVE,
]


def render_settings() -> RenderSettings:
    return RenderSettings(
        sip_domain=getattr(settings, "PBX_SIP_DOMAIN", "") or "pbx.local",
        socket_host=settings.CALLCONTROL_SOCKET_HOST,
        socket_port=settings.CALLCONTROL_SOCKET_PORT,
        region=getattr(settings, "PHONE_DEFAULT_REGION", "RU"),
        directory_cache_ms=int(getattr(settings, "FREESWITCH_DIRECTORY_CACHE_MS", 0)),
        gateway=getattr(settings, "PBX_PSTN_GATEWAY", "pstn"),
        emergency_route=callpolicy.emergency_route_setting(),
        prefixes=callpolicy.prefix_table(),
    )


def enabled_options(customer_id: int) -> frozenset[str]:
    """Codes of the options switched on now."""
    return options_enabled(customer_id)


def _presentable_numbers(customer_id: int, department_id: int | None) -> list[PhoneNumber]:
    """The numbers `render.outbound_number` chooses from: the department's multichannel
    numbers and the customer's first regular/multichannel number (two rows at most matter)."""
    kinds = [PhoneNumber.Kind.REGULAR, PhoneNumber.Kind.MULTICHANNEL]
    rows = PhoneNumber.objects.filter(customer_id=customer_id, kind__in=kinds).only(
        "id", "e164", "kind", "department_id"
    )
    wanted = Q(pk__in=rows.order_by("e164").values("pk")[:1])
    if department_id:
        wanted |= Q(department_id=department_id, kind=PhoneNumber.Kind.MULTICHANNEL)
    return list(rows.filter(wanted).order_by("e164")[:20])


# --------------------------------------------------------------------------- directory


def directory_xml(domain: str, user: str | None, *, purpose: str = "") -> str:
    conf = render_settings()
    customer_id = render.customer_id_from_domain(domain, conf.sip_domain)
    if customer_id is None or purpose:  # purpose=gateways etc.: we define no gateways here
        return NOT_FOUND
    if user is not None:
        extension = render.valid_extension(user)
        if extension is None:
            return NOT_FOUND
        employee = (
            Employee.objects.select_related("customer", "customer__call_policy")
            .filter(
                customer_id=customer_id,
                customer__status=ACTIVE,
                extension=extension,
                is_active=True,
            )
            .first()
        )
        if employee is None:
            return NOT_FOUND
        policy = callpolicy.outbound_policy(employee.customer)
        return render.render_directory_user(
            employee.customer,
            employee,
            numbers=_presentable_numbers(customer_id, employee.department_id),
            options=enabled_options(customer_id),
            policy=policy,
            barred=callpolicy.barred_classes(
                customer_id, employee_id=employee.pk, policy=policy
            ).get(employee.pk, ()),
            settings=conf,
        )
    customer = (
        Customer.objects.select_related("call_policy").filter(pk=customer_id, status=ACTIVE).first()
    )
    if customer is None:
        return NOT_FOUND
    numbers = list(
        PhoneNumber.objects.filter(
            customer_id=customer_id,
            kind__in=[PhoneNumber.Kind.REGULAR, PhoneNumber.Kind.MULTICHANNEL],
        ).order_by("e164")
    )
    employees = Employee.objects.filter(customer_id=customer_id, is_active=True).order_by(
        "extension"
    )
    policy = callpolicy.outbound_policy(customer)
    return render.render_directory_domain(
        customer,
        employees,
        numbers=numbers,
        options=enabled_options(customer_id),
        policy=policy,
        barred=callpolicy.barred_classes(customer_id, policy=policy),
        settings=conf,
    )


# --------------------------------------------------------------------------- dialplan


def public_dialplan_xml(destination: str) -> str:
    return public_dialplan(destination)[0]


def public_dialplan(destination: str) -> tuple[str, int | None]:
    """The public dialplan for `destination` and the id of the customer owning the number."""
    conf = render_settings()
    call = None
    number_e164 = render.e164(destination, conf.region)
    if number_e164:
        number = (
            PhoneNumber.objects.select_related("customer")
            .filter(e164=number_e164, kind__in=_PUBLIC_NUMBER_KINDS)
            .first()
        )
        if number is not None:
            employees = []
            if number.kind == PhoneNumber.Kind.REGULAR and number.department_id:
                employees = list(
                    Employee.objects.filter(
                        customer_id=number.customer_id,
                        department_id=number.department_id,
                        is_active=True,
                    ).order_by("extension")
                )
            options = enabled_options(number.customer_id)
            call = render.PublicCall(
                number=number,
                customer=number.customer,
                employees=employees,
                options=options,
                features=dialplan.contributions(),
                data=dialplan.load_inbound(number.customer_id, number, options),
            )
    owner = call.customer.pk if call is not None else None
    return render.render_public_dialplan(destination, call, settings=conf), owner


def customer_dialplan_xml(customer_id: int, destination: str) -> str:
    conf = render_settings()
    customer = Customer.objects.select_related("call_policy").filter(pk=customer_id).first()
    if customer is None:
        return NOT_FOUND
    target = None
    extension = render.valid_extension(destination)
    if extension:
        target = Employee.objects.filter(
            customer_id=customer_id, extension=extension, is_active=True
        ).first()
    home_numbers: list[str] = []
    if not extension and not destinations.is_emergency(destination, conf.region):
        # The customer's own numbers: their areas make a dialled number "local".
        home_numbers = list(
            PhoneNumber.objects.filter(customer_id=customer_id)
            .order_by("e164")
            .values_list("e164", flat=True)[:50]
        )
    options = enabled_options(customer_id)
    return render.render_customer_dialplan(
        customer,
        destination,
        target=target,
        options=options,
        policy=callpolicy.outbound_policy(customer),
        home_numbers=home_numbers,
        settings=conf,
        features=dialplan.contributions(),
        data=dialplan.load_dialled(customer_id, destination, options),
    )


def dialplan_xml(context: str, destination: str) -> str:
    if context == render.PUBLIC_CONTEXT:
        return public_dialplan_xml(destination)
    customer_id = render.customer_id_from_context(context)
    if customer_id is not None:
        return customer_dialplan_xml(customer_id, destination)
    return NOT_FOUND


# --------------------------------------------------------------------------- callcenter


def callcenter_queues(only: str = "") -> list[render.Queue] | None:
    """Queues of every active customer's departments that have a multichannel number, with
    their agents. `only` (mod_callcenter's CC-Queue on `queue load/reload`) narrows to one
    queue; a malformed name gives None."""
    departments = Department.objects.filter(
        numbers__kind=PhoneNumber.Kind.MULTICHANNEL, customer__status=ACTIVE
    )
    if only:
        match = _QUEUE.match(only)
        if not match:
            return None
        departments = departments.filter(customer_id=int(match[1]), pk=int(match[2]))
    rows = list(
        departments.values("id", "customer_id", "queue_announce_interval", "customer__language")
        .distinct()
        .order_by("customer_id", "id")
    )
    department_ids = [row["id"] for row in rows]
    agents: dict[int, list[render.Agent]] = {}
    for emp in (
        Employee.objects.filter(department_id__in=department_ids, is_active=True)
        .values("id", "customer_id", "department_id", "extension")
        .order_by("extension", "id")
    ):
        agents.setdefault(emp["department_id"], []).append(
            render.Agent(emp["customer_id"], emp["id"], emp["extension"])
        )
    callback_customers = customers_with_option(
        {row["customer_id"] for row in rows}, Option.CALLBACK
    )
    offers = _callback_offers(callback_customers)
    loaded = dialplan.load_queues(department_ids)
    return [
        render.Queue(
            customer_id=row["customer_id"],
            department_id=row["id"],
            callback=row["customer_id"] in callback_customers,
            announce_interval=row["queue_announce_interval"],
            language=row["customer__language"],
            agents=tuple(agents.get(row["id"], ())),
            offer_sound=offers.get(row["customer_id"], ""),
            data={
                name: (by_department or {}).get(row["id"]) for name, by_department in loaded.items()
            },
        )
        for row in rows
    ]


def _callback_offers(customer_ids: set[int]) -> dict[int, str]:
    """The queue offer ("press 1") each customer's callers hear: their own recording in their
    language, else the generated prompt in it (portal.prompts decides, as for every flow)."""
    from portal.prompts.selectors import prompt_path

    return {
        customer.pk: prompt_path(customer=customer, key="callback_offer")
        for customer in Customer.objects.filter(pk__in=customer_ids)
    }


def configuration_xml(name: str, *, cc_queue: str = "") -> str:
    if name != "callcenter.conf":
        return NOT_FOUND
    queues = callcenter_queues(cc_queue)
    if queues is None:
        return NOT_FOUND
    try:
        return render.render_callcenter_config(
            queues, settings=render_settings(), features=dialplan.contributions()
        )
    except RenderError:
        return NOT_FOUND


# --------------------------------------------------------------------------- one lookup


def render_lookup(lookup: Lookup) -> tuple[str, tuple[str, ...]]:
    """The answer to `lookup` from the database, and the scopes it depends on beyond
    `lookup.scopes` (the owner of a public number, known only once it is read)."""
    if lookup.kind == "user":
        return directory_xml(_domain(lookup), lookup.args[1]), ()
    if lookup.kind == "domain":
        return directory_xml(_domain(lookup), None), ()
    if lookup.kind == "customer":
        return customer_dialplan_xml(lookup.customer_id, lookup.args[1]), ()
    if lookup.kind == "public":
        xml, owner = public_dialplan(lookup.args[0])
        return xml, (customer_scope(owner),) if owner is not None else ()
    if lookup.kind == "callcenter":
        return configuration_xml("callcenter.conf", cc_queue=lookup.args[0]), ()
    return NOT_FOUND, ()


def _domain(lookup: Lookup) -> str:
    return render.sip_domain(lookup.customer_id, render_settings().sip_domain)


def newest_generation() -> int:
    """The newest configuration change: the one generation of a process-local cache."""
    return ConfigChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
