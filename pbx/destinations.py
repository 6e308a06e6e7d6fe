"""Where an outside call goes: destination classes, the platform's prefix table, emergency numbers.

Pure (phonenumbers only, no Django): `pbx.render` uses it to write the customer dialplan,
call control and the portal's services use it to re-check a number before dialling it.

Classes:

- `emergency`: 112 anywhere, and the platform region's emergency short numbers (RU: 101-104,
  01-04). Always routed to the emergency route, never blocked, never billed.
- `local`: a fixed-line number of the home country in the same area as one of the customer's
  own numbers; `national`: any other fixed-line (or toll-free) number of the home country;
  `mobile`: a mobile number of the home country.
- `special`: other numbers of the home country (VoIP, personal, UAN, pager, voicemail).
- `international`: a number of another country; `premium`: premium-rate and shared-cost
  numbers (anywhere) and the prefixes the table marks so; `satellite`: Inmarsat (+870),
  Iridium and other GMSS (+881), Thuraya (+882 16).
- `blocked`: prefixes the platform never connects.

Premium, satellite and international are off by default (`OPT_IN`): a customer switches them on,
and may keep single employees off them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, shortnumberinfo

EMERGENCY = "emergency"
LOCAL = "local"
NATIONAL = "national"
MOBILE = "mobile"
SPECIAL = "special"
INTERNATIONAL = "international"
PREMIUM = "premium"
SATELLITE = "satellite"
BLOCKED = "blocked"

#: classes a customer may switch on or off, in the order the settings page shows them
SWITCHABLE = (INTERNATIONAL, PREMIUM, SATELLITE, SPECIAL)
#: classes that are off until the customer switches them on (and then per employee)
OPT_IN = frozenset({INTERNATIONAL, PREMIUM, SATELLITE})
#: what a customer without a policy of its own may call
DEFAULT_ALLOWED = frozenset({LOCAL, NATIONAL, MOBILE, SPECIAL})
ALWAYS_ALLOWED = frozenset({LOCAL, NATIONAL, MOBILE})

#: The platform table: E.164 prefixes whose class is fixed whatever the numbering plan says
#: (longest prefix wins). Known toll-fraud destinations; `blocked` entries are never connected.
PLATFORM_PREFIXES: Mapping[str, str] = {
    "+7803": PREMIUM,  # RU 8-803: paid information services
    "+7809": PREMIUM,  # RU 8-809: premium rate
    "+1900": PREMIUM,  # US/NANP 900
    "+1976": PREMIUM,  # NANP 976
    "+44909": PREMIUM,  # UK 09 premium rate
    "+44908": PREMIUM,
    "+44871": PREMIUM,  # UK 087x service numbers
    "+44872": PREMIUM,
    "+44873": PREMIUM,
    "+37190": PREMIUM,  # LV 90 premium
    "+979": PREMIUM,  # international premium rate service
    "+808": PREMIUM,  # international shared-cost service
    "+870": SATELLITE,  # Inmarsat
    "+881": SATELLITE,  # GMSS: Iridium, Globalstar, ...
    "+88216": SATELLITE,  # Thuraya
    "+882": PREMIUM,  # international networks: charged like premium by carriers
    "+883": PREMIUM,
}

#: Emergency short numbers per region, on top of what phonenumbers knows (it lacks 104 and 04).
EMERGENCY_NUMBERS: Mapping[str, frozenset[str]] = {
    "RU": frozenset({"112", "101", "102", "103", "104", "01", "02", "03", "04"}),
}
UNIVERSAL_EMERGENCY = frozenset({"112"})

_DIALED = re.compile(r"\+?[0-9]{3,16}\Z")
_SHORT = re.compile(r"[0-9]{2,6}\Z")
_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}\Z")
_ROUTE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?:/(\+?[0-9]{2,16}))?\Z")

_SPECIAL_TYPES = frozenset(
    {
        PhoneNumberType.VOIP,
        PhoneNumberType.PERSONAL_NUMBER,
        PhoneNumberType.UAN,
        PhoneNumberType.PAGER,
        PhoneNumberType.VOICEMAIL,
        PhoneNumberType.UNKNOWN,
    }
)


@dataclass(frozen=True)
class Destination:
    """A dialled string resolved: `number` is what reaches the dial string (E.164, or the
    emergency short number as dialled) and `cls` its class."""

    number: str
    cls: str

    @property
    def emergency(self) -> bool:
        return self.cls == EMERGENCY


def is_emergency(dialed: str, region: str = "RU") -> bool:
    """Exactly an emergency number of `region` (not merely starting with one)."""
    text = str(dialed or "")
    if not _SHORT.match(text):
        return False
    region = (region or "RU").upper()
    if text in UNIVERSAL_EMERGENCY or text in EMERGENCY_NUMBERS.get(region, ()):
        return True
    try:
        return bool(shortnumberinfo.is_emergency_number(text, region))
    except Exception:  # unknown region data: only the tables above count
        return False


def parse_prefixes(text: str) -> dict[str, str]:
    """`+7809=premium,+53=blocked` (a setting) -> a prefix table; bad items are refused."""
    table: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        prefix, _, cls = item.partition("=")
        prefix, cls = prefix.strip(), cls.strip().lower()
        if not _PREFIX.match(prefix) or cls not in (PREMIUM, SATELLITE, BLOCKED, INTERNATIONAL):
            raise ValueError(f"bad destination prefix entry {item!r}")
        table[prefix] = cls
    return table


def prefix_class(e164: str, table: Mapping[str, str] = PLATFORM_PREFIXES) -> str | None:
    best = ""
    for prefix in table:
        if e164.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return table[best] if best else None


def _area(number: phonenumbers.PhoneNumber) -> str:
    national = phonenumbers.national_significant_number(number)
    length = phonenumbers.length_of_geographical_area_code(number)
    return national[:length] if length else ""


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def classify(
    dialed: str,
    *,
    region: str = "RU",
    home_numbers: Iterable[str] = (),
    prefixes: Mapping[str, str] = PLATFORM_PREFIXES,
) -> Destination | None:
    """The class of what a phone dialled, or None for anything we do not route outside.

    `home_numbers` are the customer's own E.164 numbers (their areas make a number `local`).
    Only digits and one leading `+` are read; the result's `number` is re-formatted by
    phonenumbers, never the dialled text (an emergency number is exactly one of the table's).
    """
    text = str(dialed or "")
    region = (region or "RU").upper()
    if is_emergency(text, region):
        return Destination(text, EMERGENCY)
    if not _DIALED.match(text):
        return None
    number = _parse(text, region)
    if number is None:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    fixed = prefix_class(e164, prefixes)
    if fixed:
        return Destination(e164, fixed)
    kind = phonenumbers.number_type(number)
    if kind in (PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST):
        return Destination(e164, PREMIUM)
    if phonenumbers.region_code_for_number(number) != region:
        return Destination(e164, INTERNATIONAL)
    if kind == PhoneNumberType.MOBILE:
        return Destination(e164, MOBILE)
    if kind == PhoneNumberType.TOLL_FREE:
        return Destination(e164, NATIONAL)
    if kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        area = _area(number)
        for own in home_numbers:
            home = _parse(str(own), region)
            if area and home is not None and home.country_code == number.country_code:
                if _area(home) == area:
                    return Destination(e164, LOCAL)
        return Destination(e164, NATIONAL)
    if kind in _SPECIAL_TYPES:
        return Destination(e164, SPECIAL)
    return Destination(e164, SPECIAL)


def allowed(cls: str, customer_allowed: Iterable[str], barred: Iterable[str] = ()) -> bool:
    """May a call of class `cls` go out for a customer allowing `customer_allowed` and an
    employee barred from `barred`? Emergency always; blocked never."""
    if cls == EMERGENCY:
        return True
    if cls == BLOCKED:
        return False
    if cls in ALWAYS_ALLOWED:
        return True
    return cls in frozenset(customer_allowed) and cls not in frozenset(barred)


@dataclass(frozen=True)
class EmergencyRoute:
    """`PBX_EMERGENCY_ROUTE`: `<gateway>` (the dialled emergency number goes out through that
    gateway) or `<gateway>/<number>` (every emergency call goes to that number)."""

    gateway: str
    number: str = ""

    @classmethod
    def parse(cls, text: str) -> EmergencyRoute:
        match = _ROUTE.match(str(text or ""))
        if not match:
            raise ValueError(f"bad PBX_EMERGENCY_ROUTE {text!r}")
        return cls(match.group(1), match.group(2) or "")

    def dial_string(self, dialed: str) -> str:
        number = self.number or dialed
        if not (_SHORT.match(number) or _DIALED.match(number)):
            raise ValueError(f"not an emergency number: {number!r}")
        return f"sofia/gateway/{self.gateway}/{number}"


@dataclass(frozen=True)
class OutboundPolicy:
    """What the customer dialplan enforces for a customer's outside calls.

    `allowed`: classes switched on for the customer (`ALWAYS_ALLOWED` are on regardless).
    Limits: concurrent outside calls of the customer and of one phone, new outside calls per
    minute. `paid_blocked`: "" or why paid calls are refused now (`spend_cap`, `balance`).
    """

    allowed: frozenset[str] = DEFAULT_ALLOWED
    max_calls: int = 10
    max_calls_per_phone: int = 2
    calls_per_minute: int = 20
    paid_blocked: str = ""

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_calls_per_phone", "calls_per_minute"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 100_000:
                raise ValueError(f"bad {name} {value!r}")
        if self.paid_blocked not in ("", "spend_cap", "balance"):
            raise ValueError(f"bad paid_blocked {self.paid_blocked!r}")

    def toll_allow(self, barred: Iterable[str] = ()) -> str:
        """The directory's `toll_allow` of an employee barred from `barred`: the opt-in classes
        this employee may call, comma-separated, or `none`."""
        classes = sorted(c for c in OPT_IN if allowed(c, self.allowed, barred))
        return ",".join(classes) or "none"
