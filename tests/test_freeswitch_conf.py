"""freeswitch_conf/: the load settings and addresses come from the environment, every global a
file uses is defined, and the outage fallback is never silent.

`globals_for(env)` follows FreeSWITCH's preprocessor over vars.xml: `set` assigns (expanding
`$${...}` already defined), `env-set` assigns only when the environment variable exists.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pbx.xmlbuild import OWN_REFERENCES

CONF = Path(__file__).resolve().parent.parent / "freeswitch_conf"
GLOBAL_REF = re.compile(r"\$\$\{([a-z0-9_]+)\}")
BUILTIN = {"local_ip_v4", "sounds_dir"}  # FreeSWITCH's own globals


def globals_for(env: dict[str, str]) -> dict[str, str]:
    values = {name: f"<{name}>" for name in BUILTIN}
    for item in ET.parse(CONF / "vars.xml").getroot().iter("X-PRE-PROCESS"):
        cmd, data = item.get("cmd"), item.get("data", "")
        name, _, value = data.partition("=")
        if cmd == "set":
            values[name] = GLOBAL_REF.sub(lambda m: values[m[1]], value)
        elif cmd == "env-set":
            variable = value.removeprefix("$")
            if variable in env:
                values[name] = env[variable]
        elif cmd == "exec-set":
            values[name] = "<random>"
    return values


def param(path: str, name: str, within: str = ".//param") -> list[str]:
    root = ET.parse(CONF / path).getroot()
    return [p.get("value") for p in root.iterfind(within) if p.get("name") == name]


def resolved(value: str, env: dict[str, str]) -> str:
    values = globals_for(env)
    return GLOBAL_REF.sub(lambda m: values[m[1]], value)


def test_every_global_a_file_or_the_renderer_uses_is_defined():
    defined = set(globals_for({}))
    files = list(CONF.rglob("*.xml"))
    used = {name for f in files for name in GLOBAL_REF.findall(f.read_text())}
    used |= {name for ref in OWN_REFERENCES for name in GLOBAL_REF.findall(ref)}
    assert used - defined == set()


def test_load_settings_default_to_a_busy_node_and_never_refuse_for_idle_cpu():
    switch = "autoload_configs/switch.conf.xml"
    assert resolved(param(switch, "max-sessions")[0], {}) == "4000"
    assert resolved(param(switch, "sessions-per-second")[0], {}) == "200"
    assert resolved(param(switch, "min-idle-cpu")[0], {}) == "0"


def test_load_settings_and_ports_come_from_the_environment():
    env = {
        "PBX_MAX_SESSIONS": "9000",
        "PBX_SESSIONS_PER_SECOND": "350",
        "PBX_MIN_IDLE_CPU": "5",
        "PBX_RTP_START_PORT": "40000",
        "PBX_RTP_END_PORT": "40999",
        "FREESWITCH_ESL_PORT": "18021",
    }
    switch = "autoload_configs/switch.conf.xml"
    got = {
        name: resolved(param(switch, name)[0], env)
        for name in (
            "max-sessions",
            "sessions-per-second",
            "min-idle-cpu",
            "rtp-start-port",
            "rtp-end-port",
        )
    }
    assert got == {
        "max-sessions": "9000",
        "sessions-per-second": "350",
        "min-idle-cpu": "5",
        "rtp-start-port": "40000",
        "rtp-end-port": "40999",
    }
    esl = param("autoload_configs/event_socket.conf.xml", "listen-port")[0]
    assert resolved(esl, env) == "18021" and resolved(esl, {}) == "8021"


@pytest.mark.parametrize("name", ["sip-ip", "rtp-ip"])
def test_sip_and_rtp_listen_where_pbx_bind_ip_says(name):
    values = param("autoload_configs/sofia.conf.xml", name)
    assert len(values) == 2  # internal and external profiles
    for value in values:
        assert resolved(value, {}) == "<local_ip_v4>"  # as before: the auto-detected address
        assert resolved(value, {"PBX_BIND_IP": "127.0.0.1"}) == "127.0.0.1"
    advertised = param("autoload_configs/sofia.conf.xml", "ext-sip-ip")[0]
    assert resolved(advertised, {"PBX_BIND_IP": "10.1.2.3"}) == "10.1.2.3"
    assert resolved(advertised, {"PBX_BIND_IP": "10.1.2.3", "PBX_EXTERNAL_IP": "203.0.113.5"}) == (
        "203.0.113.5"
    )


@pytest.mark.parametrize("path", ["dialplan/public.xml", "dialplan/default.xml"])
def test_the_outage_fallback_plays_a_tone_that_needs_no_file_then_the_prompt(path):
    root = ET.parse(CONF / path).getroot()
    plays = [a.get("data") for a in root.iter("action") if a.get("application") == "playback"]
    assert plays == ["$${pbx_unavailable_playback}"]
    played = resolved(plays[0], {})
    assert played.startswith("file_string://tone_stream://%(")
    tone, prompt = played.removeprefix("file_string://").split("!")
    assert re.fullmatch(r"tone_stream://(%\(\d+,\d+,[\d.]+\);?)+", tone)
    assert prompt.endswith("/ru/service_unavailable.wav")
    custom = resolved(plays[0], {"PBX_UNAVAILABLE_PROMPT": "/srv/sounds/closed.wav"})
    assert custom.endswith("!/srv/sounds/closed.wav")
