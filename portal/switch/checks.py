"""Refuse unsafe FreeSWITCH settings: `manage.py check --deploy` and `manage.py check_switch`.

`settings_problems()` is the single source; the system checks and the command both use it.
Besides the portal's settings it reads a FreeSWITCH config dir (FREESWITCH_CONF_DIR, or the
directory a node runs, given to `check_switch --conf-dir`): global variables are resolved as
FreeSWITCH's pre-processor would (`set`, `env-set` from this process's environment, `exec-set`
= a random secret), then the event socket (listen address, password, inbound ACL) and every ACL
named by an `apply-inbound-acl` (ESL and the trunk) are checked.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from django.conf import settings
from django.core import checks

TAG = "freeswitch"
# Text scanned for in freeswitch_conf/: the stock demo secrets of FreeSWITCH.
UNSAFE_CONF_PATTERNS = [
    (re.compile(r"default_password\s*=\s*1234\b"), "default_password=1234"),
    (re.compile(r"value\s*=\s*([\"'])\s*ClueCon\s*\1", re.IGNORECASE), 'value="ClueCon"'),
    (re.compile(r"esl_password\s*=\s*ClueCon\b", re.IGNORECASE), "esl_password=ClueCon"),
]
# Passwords nobody may use for ESL (FreeSWITCH's stock ones and their like), and the least length.
WEAK_PASSWORDS = {"cluecon", "1234", "12345", "123456", "password", "freeswitch", "secret", "admin"}
MIN_PASSWORD_LENGTH = 12
ANY_ADDRESS = {"0.0.0.0", "::", "[::]", "", "*"}  # noqa: S104 (what we refuse)
OPEN_CIDRS = {"0.0.0.0/0", "::/0", "0.0.0.0/0.0.0.0"}
OPEN_ACL_NAMES = {"any_v4.auto", "any_v6.auto"}
PRE_PROCESS_RE = re.compile(
    r"<X-PRE-PROCESS\s+cmd\s*=\s*([\"'])(set|env-set|exec-set)\1\s+data\s*=\s*([\"'])(.*?)\3",
    re.IGNORECASE | re.DOTALL,
)
PARAM_RE = re.compile(
    r"<param\s+name\s*=\s*([\"'])([^\"']+)\1\s+value\s*=\s*([\"'])(.*?)\3", re.DOTALL
)
VAR_REF_RE = re.compile(r"\$\$\{([^}]+)\}")
RANDOM = object()  # exec-set: a secret generated when the node starts
XML_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
CONF_SUFFIXES = {".xml", ".conf", ".tpl"}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a DNS name other than localhost: assume it is reachable from elsewhere


def conf_dir() -> Path:
    return Path(getattr(settings, "FREESWITCH_CONF_DIR", settings.BASE_DIR / "freeswitch_conf"))


def scan_conf_dir(path: Path) -> list[str]:
    """Stock demo secrets left in FreeSWITCH config files under `path` (XML comments ignored)."""
    found = []
    if not path.is_dir():
        return found
    for file in sorted(path.rglob("*")):
        if not file.is_file() or file.suffix.lower() not in CONF_SUFFIXES:
            continue
        try:
            text = XML_COMMENT_RE.sub("", file.read_text(errors="replace"))
        except OSError:
            continue
        for pattern, label in UNSAFE_CONF_PATTERNS:
            if pattern.search(text):
                found.append(f"{file}: {label}")
    return found


def _conf_texts(path: Path) -> dict[str, str]:
    """Config files under `path` (relative name -> text without XML comments)."""
    texts = {}
    if not path.is_dir():
        return texts
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.suffix.lower() in CONF_SUFFIXES:
            try:
                texts[str(file.relative_to(path))] = XML_COMMENT_RE.sub(
                    "", file.read_text(errors="replace")
                )
            except OSError:
                continue
    return texts


def conf_variables(texts: dict[str, str], environ: dict[str, str] | None = None) -> dict:
    """Global variables as FreeSWITCH's pre-processor leaves them (vars.xml first, as loaded)."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    ordered = sorted(texts, key=lambda name: (Path(name).name != "vars.xml", name))
    for name in ordered:
        for _q, cmd, _q2, data in PRE_PROCESS_RE.findall(texts[name]):
            var, sep, value = data.partition("=")
            if not sep:
                continue
            var, cmd = var.strip(), cmd.lower()
            if cmd == "exec-set":
                values[var] = RANDOM
            elif cmd == "env-set":
                env_name = value.strip().lstrip("$")
                if env_name in environ:
                    values[var] = environ[env_name]
            else:
                values[var] = _resolve(value, values)
    return values


def _resolve(value: str, variables: dict):
    """`$${name}` references replaced; RANDOM if the whole value is a generated secret."""
    refs = VAR_REF_RE.findall(value)
    if len(refs) == 1 and value.strip() == f"$${{{refs[0]}}}" and variables.get(refs[0]) is RANDOM:
        return RANDOM
    return VAR_REF_RE.sub(
        lambda m: "" if variables.get(m.group(1)) is RANDOM else str(variables.get(m.group(1), "")),
        value,
    )


def _params(text: str, variables: dict) -> dict:
    return {name: _resolve(value, variables) for _q, name, _q2, value in PARAM_RE.findall(text)}


def weak_password(value) -> bool:
    if value is RANDOM:
        return False
    value = str(value).strip()
    return value.lower() in WEAK_PASSWORDS or len(value) < MIN_PASSWORD_LENGTH


def _acl_lists(texts: dict[str, str], variables: dict) -> dict[str, tuple[str, list[tuple]]]:
    """ACL list name -> (default, [(type, cidr), ...]) from acl.conf.xml."""
    lists = {}
    for name, text in texts.items():
        if Path(name).name != "acl.conf.xml":
            continue
        for m in re.finditer(r"<list\b([^>]*)>(.*?)</list>", text, re.DOTALL):
            attrs = dict(re.findall(r"(\w+)\s*=\s*[\"']([^\"']*)[\"']", m.group(1)))
            nodes = [
                (
                    node.get("type", ""),
                    str(_resolve(node.get("cidr", ""), variables)).strip(),
                )
                for node in (
                    dict(re.findall(r"([\w-]+)\s*=\s*[\"']([^\"']*)[\"']", n))
                    for n in re.findall(r"<node\b([^>]*)/?>", m.group(2))
                )
            ]
            lists[attrs.get("name", "")] = (attrs.get("default", "deny"), nodes)
    return lists


def _acl_open(acl: str, lists: dict) -> str:
    """Why the ACL named `acl` lets anybody in ("" when it does not)."""
    if acl in OPEN_ACL_NAMES:
        return f"{acl} allows every address"
    if acl not in lists:
        return ""
    default, nodes = lists[acl]
    if default.lower() == "allow":
        return f'list "{acl}" has default="allow"'
    for kind, cidr in nodes:
        if kind.lower() == "allow" and cidr.replace(" ", "") in OPEN_CIDRS:
            return f'list "{acl}" allows {cidr}'
    return ""


def conf_problems(path: Path, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Unsafe settings in the FreeSWITCH config dir `path`, as a node would run it."""
    texts = _conf_texts(path)
    variables = conf_variables(texts, environ)
    lists = _acl_lists(texts, variables)
    problems = []
    for name, text in texts.items():
        if Path(name).name != "event_socket.conf.xml":
            continue
        params = _params(text, variables)
        listen = str(params.get("listen-ip", "127.0.0.1")).strip()
        if listen in ANY_ADDRESS:
            problems.append(
                (
                    "freeswitch.E006",
                    f"{path / name}: ESL listen-ip is {listen or 'empty'} (every interface): "
                    "listen on 127.0.0.1 or the one address call control reaches.",
                )
            )
        password = params.get("password", "ClueCon")
        if weak_password(password):
            problems.append(
                (
                    "freeswitch.E007",
                    f"{path / name}: the ESL password is a stock or short one "
                    f"(at least {MIN_PASSWORD_LENGTH} characters, never ClueCon or 1234).",
                )
            )
        acl = str(params.get("apply-inbound-acl", "")).strip()
        if not acl:
            problems.append(
                (
                    "freeswitch.E008",
                    f"{path / name}: no apply-inbound-acl: any host that reaches the ESL port "
                    "may try passwords.",
                )
            )
    for name, text in texts.items():
        for param, value in _params(text, variables).items():
            if param != "apply-inbound-acl":
                continue
            why = _acl_open(str(value).strip(), lists)
            if why:
                problems.append(
                    (
                        "freeswitch.E009",
                        f"{path / name}: apply-inbound-acl {value}: {why}; allow only the "
                        "hosts that must reach it (call control, the PSTN trunk).",
                    )
                )
    return problems


def settings_problems(conf_path: Path | None = None) -> list[tuple[str, str]]:
    """(check id, message) for every unsafe FreeSWITCH setting; empty when all is safe.
    `conf_path`: the FreeSWITCH config dir to read (default FREESWITCH_CONF_DIR)."""
    problems = []
    password = getattr(settings, "FREESWITCH_ESL_PASSWORD", "") or ""
    if not password.strip():
        problems.append(
            ("freeswitch.E001", "FREESWITCH_ESL_PASSWORD is empty: set a long random ESL password.")
        )
    elif password.strip().lower() == "cluecon":
        problems.append(
            (
                "freeswitch.E002",
                'FREESWITCH_ESL_PASSWORD is the stock "ClueCon": anybody who reaches port 8021 '
                "controls the switch. Set a long random password (also in event_socket.conf.xml).",
            )
        )
    elif weak_password(password):
        problems.append(
            (
                "freeswitch.E002",
                "FREESWITCH_ESL_PASSWORD is a stock or short password: use a random one of at "
                f"least {MIN_PASSWORD_LENGTH} characters (also in event_socket.conf.xml).",
            )
        )
    acl_confirmed = bool(getattr(settings, "FREESWITCH_ESL_ACL_CONFIRMED", False))
    for name, addr in sorted(getattr(settings, "FREESWITCH_NODES", {}).items()):
        host = str(addr.get("host", ""))
        if not is_loopback(host) and not acl_confirmed:
            problems.append(
                (
                    "freeswitch.E003",
                    f"Node {name} ({host}) is not on loopback and ESL is plain TCP without TLS: "
                    "restrict event_socket.conf.xml `apply-inbound-acl` and the firewall to the "
                    "call-control host, then set FREESWITCH_ESL_ACL_CONFIRMED=true.",
                )
            )
    if not (getattr(settings, "FREESWITCH_XML_CURL_PASSWORD", "") or "").strip():
        problems.append(
            (
                "freeswitch.E004",
                "FREESWITCH_XML_CURL_PASSWORD is empty: mod_xml_curl would fetch directory "
                "(SIP passwords) and dialplan without authentication.",
            )
        )
    for name in ("FREESWITCH_CDR_PASSWORD",):
        value = getattr(settings, name, "") or ""
        if value and not value.strip():
            problems.append(("freeswitch.E010", f"{name} is blank (only spaces)."))
    path = conf_path or conf_dir()
    for hit in scan_conf_dir(path):
        problems.append(
            (
                "freeswitch.E005",
                f"Stock FreeSWITCH demo secret in {hit}: replace it before deploying.",
            )
        )
    problems.extend(conf_problems(path))
    return problems


@checks.register(TAG, deploy=True)
def check_freeswitch_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [checks.Error(msg, id=check_id) for check_id, msg in settings_problems()]
