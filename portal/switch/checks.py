"""Refuse unsafe FreeSWITCH settings: `manage.py check --deploy` and `manage.py check_switch`.

`settings_problems()` is the single source; the system checks and the command both use it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from django.conf import settings
from django.core import checks

TAG = "freeswitch"
# Text scanned for in freeswitch_conf/: the stock demo secrets of FreeSWITCH.
UNSAFE_CONF_PATTERNS = [
    (re.compile(r"default_password\s*=\s*1234\b"), "default_password=1234"),
    (re.compile(r"value\s*=\s*\"ClueCon\"", re.IGNORECASE), 'value="ClueCon"'),
]
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


def settings_problems() -> list[tuple[str, str]]:
    """(check id, message) for every unsafe FreeSWITCH setting; empty when all is safe."""
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
    for hit in scan_conf_dir(conf_dir()):
        problems.append(
            (
                "freeswitch.E005",
                f"Stock FreeSWITCH demo secret in {hit}: replace it before deploying.",
            )
        )
    return problems


@checks.register(TAG, deploy=True)
def check_freeswitch_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [checks.Error(msg, id=check_id) for check_id, msg in settings_problems()]
