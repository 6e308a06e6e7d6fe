"""The switch's API commands (``api`` and ``bgapi``): one handler per command, run on the switch
model. Every reply string is copied from real FreeSWITCH 1.10 transcripts.

A handler takes the switch (its lock held), the command's argument and ``later``, a list of
things to do after the reply is sent; it returns the response body, or the channel of a blocking
``originate`` whose result :func:`api` waits for outside the lock.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from . import templates as T
from .switch import Channel, Switch

__all__ = ["COMMANDS", "api", "bgapi"]

Later = list[Callable[[], None]]
Handler = Callable[[Switch, str, Later], "str | bytes | Channel"]

VERSION_BODY = T.api_body("01b-auth-api-bgapi-exit", 1)
NOT_FOUND = "-ERR No such channel!\n"

#: `xml_locate configuration configuration name callcenter.conf` on a real 1.10.12 node, with
#: the portal up (abridged: the queues, agents and tiers follow) and with the portal down
#: (freeswitch_conf/autoload_configs/callcenter.conf.xml)
PORTAL_CALLCENTER = (
    '<configuration name="callcenter.conf" description="CallCenter">\n        <settings>\n'
    '            <param name="truncate-agents-on-load" value="true"></param>\n\n'
    "      </settings>\n\n        <queues>\n      </queues>\n\n</configuration>\n"
)
FALLBACK_CALLCENTER = (
    '<configuration name="callcenter.conf" description="CallCenter (fallback)">\n  \n'
    '    <settings>\n        <param name="truncate-agents-on-load" value="true"></param>\n\n'
    "  </settings>\n\n    <queues>\n  </queues>\n\n    <agents>\n  </agents>\n\n"
    "    <tiers>\n  </tiers>\n\n</configuration>\n"
)


def api(switch: Switch, line: str) -> tuple[str | bytes, Later]:
    """Run one ``api`` command: (response body, things to do after the reply is sent)."""
    cmd, _, arg = line.partition(" ")
    arg = arg.strip()
    later: Later = []
    with switch.lock:
        handler = COMMANDS.get(cmd)
        if handler is None:
            return f"-ERR {cmd} Command not found!\n", later  # "-ERR  Command..." for no name
        result = handler(switch, arg, later)
        if not isinstance(result, Channel):
            return result, later
    # blocking originate: wait (outside the lock) for answer or failure
    chan = result
    chan.result.wait(
        timeout=(float(chan.variables.get("originate_timeout", 60)) + 5) * switch.time_factor + 5
    )
    return chan.result_body, later


def bgapi(switch: Switch, rest: str, job: str) -> None:
    """Run ``bgapi <rest>``: its result comes as BACKGROUND_JOB ``job`` (the reply is sent)."""
    cmd, _, arg = rest.partition(" ")
    if cmd == "originate":
        with switch.lock:
            result = switch.originate(arg, job, arg)
            if isinstance(result, str):
                switch.after(
                    0, lambda: switch.locked(switch.emit_background_job, job, cmd, arg, result)
                )
        return

    def run() -> None:
        body, later = api(switch, rest)
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        with switch.lock:
            switch.emit_background_job(job, cmd, arg or None, text)
        for fn in later:
            fn()

    switch.after(0, run)


# --------------------------------------------------------------------------- core


def status(switch: Switch, arg: str, later: Later) -> str:
    up = switch.now() - switch.clock.epoch0
    with switch.lock:
        live = len(switch.channels)
        since = switch.sessions_since_startup
        peak = switch.peak
    minutes, sec = divmod(int(up), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    ms = int((up - int(up)) * 1000)
    return (
        f"UP 0 years, {days} days, {hours} hours, {minutes} minutes, {sec} seconds, {ms} milliseconds, 0 microseconds\n"
        "FreeSWITCH (Version 1.11.3-dev git cc93a68 2026-08-21 14:10:14Z 64bit) is ready\n"
        f"{since} session(s) since startup\n"
        f"{live} session(s) - peak {peak}, last 5min {peak} \n"
        f"0 session(s) per Sec out of max 30, peak {min(peak, 30)}, last 5min {min(peak, 30)} \n"
        "1000 session(s) max\n"
        "min idle cpu 0.00/99.40\n"
        "Current Stack Size/Max 240K/8192K\n"
    )


def version(switch: Switch, arg: str, later: Later) -> bytes:
    return VERSION_BODY


def _channel_rows(switch: Switch) -> list[dict[str, str]]:
    rows = []
    for chan in switch.channels.values():
        row = dict(T.channel_row_template())
        created = time.gmtime(chan.created)
        row.update(
            uuid=chan.uuid,
            call_uuid=chan.uuid,
            direction=chan.direction,
            created=time.strftime("%Y-%m-%d %H:%M:%S", created),
            created_epoch=str(int(chan.created)),
            name=chan.name,
            state="CS_EXECUTE" if chan.state == "answered" else "CS_CONSUME_MEDIA",
            callstate="ACTIVE" if chan.state == "answered" else "RINGING",
            cid_num=chan.destination if chan.direction == "outbound" else chan.caller,
            dest=chan.destination,
            initial_dest=chan.destination,
            application=chan.application if chan.state == "answered" else "",
            presence_id=chan.variables.get("presence_id", ""),
        )
        rows.append(row)
    return rows


def show(switch: Switch, arg: str, later: Later) -> str:
    what = arg.split()
    rows = _channel_rows(switch) if what[:1] in (["channels"], ["calls"]) else []
    if what[:1] == ["registrations"]:
        rows = [
            {"reg_user": ext, "realm": "127.0.0.1", "token": f"{ext}@127.0.0.1"}
            for ext, s in switch.directory.items()
            if s == "registered"
        ]
    if what[-2:] == ["as", "json"]:
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))
    if not rows:
        return "\n0 total.\n"
    keys = list(rows[0])
    text = ",".join(keys) + "\n" + "".join(",".join(r[k] for k in keys) + "\n" for r in rows)
    return f"{text}\n{len(rows)} total.\n"


def hupall(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split()
    cause = parts[0] if parts else "NORMAL_CLEARING"
    var, val = (parts[1], parts[2]) if len(parts) >= 3 else (None, None)
    for chan in list(switch.channels.values()):
        if var is None or chan.variables.get(var) == val:
            later.append(lambda u=chan.uuid: switch.kill(u, cause))
    if var is None:
        return f"+OK hangup all channels with cause {cause}\n"
    return f"+OK hangup all channels matching [{var}]=[{val}] with cause: {cause}\n"


def originate(switch: Switch, arg: str, later: Later) -> str | Channel:
    return switch.originate(arg, None, None)


def global_getvar(switch: Switch, arg: str, later: Later) -> str:
    return "127.0.0.1" if arg == "domain" else ""


def eval_(switch: Switch, arg: str, later: Later) -> str:
    return arg.replace("${domain}", "127.0.0.1")


# --------------------------------------------------------------------------- uuid_*


def uuid_exists(switch: Switch, arg: str, later: Later) -> str:
    return "true" if arg in switch.channels else "false"


def uuid_kill(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split()
    if not parts or parts[0] not in switch.channels:
        return NOT_FOUND
    cause = parts[1] if len(parts) > 1 else "NORMAL_CLEARING"
    later.append(lambda: switch.kill(parts[0], cause))
    return "+OK\n"


def uuid_getvar(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split()
    chan = switch.channels.get(parts[0]) if parts else None
    if chan is None:
        return NOT_FOUND
    return chan.variables.get(parts[1], "_undef_") if len(parts) > 1 else "_undef_"


def uuid_setvar(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split(" ", 2)
    chan = switch.channels.get(parts[0]) if parts else None
    if chan is None:
        return NOT_FOUND
    if len(parts) == 3:
        chan.variables[parts[1]] = parts[2]
    elif len(parts) == 2:
        chan.variables.pop(parts[1], None)
    return "+OK\n"


def uuid_bridge(switch: Switch, arg: str, later: Later) -> str:
    # Real answers: "+OK <other uuid>\n"; "-ERR no such channel" for an unknown
    # first leg, "-ERR Invalid uuid <u>" style for the second (we use the first).
    parts = arg.split()
    if len(parts) != 2 or parts[0] not in switch.channels:
        return "-ERR no such channel\n"
    if parts[1] not in switch.channels:
        return f"-ERR Invalid uuid {parts[1]}\n"
    switch.channels[parts[0]].bridged_to = parts[1]
    switch.channels[parts[1]].bridged_to = parts[0]
    return f"+OK {parts[1]}\n"


def uuid_transfer(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split()
    if not parts or parts[0] not in switch.channels:
        return NOT_FOUND
    return "+OK\n"


def uuid_broadcast(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split()
    if not parts or parts[0] not in switch.channels:
        return NOT_FOUND
    return "+OK Message queued\n"


def uuid_record(switch: Switch, arg: str, later: Later) -> str:
    parts = arg.split()
    usage = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
    if len(parts) < 3:
        return usage
    chan = switch.channels.get(parts[0])
    if chan is None:
        return "-ERR Cannot locate session!\n"
    action, path = parts[1], parts[2]
    tpl = T.record_events()
    if action == "start":
        if path.startswith("/dev/null/"):
            return "-ERR Cannot record session!\n"
        chan.records[path] = switch.now()
        later.append(
            lambda: switch.locked(
                switch.emit_channel, chan, tpl["RECORD_START"], {"Record-File-Path": path}
            )
        )
        return "+OK Success\n"
    if action == "stop":
        if path not in chan.records and not (path == "all" and chan.records):
            return "-ERR Cannot stop record session!\n"
        paths = list(chan.records) if path == "all" else [path]
        for p in paths:
            chan.records.pop(p, None)
            later.append(
                lambda p=p: switch.locked(
                    switch.emit_channel,
                    chan,
                    tpl["RECORD_STOP"],
                    {"Record-File-Path": p, "Record-Completion-Cause": "success-maxtime"},
                )
            )
        return "+OK Success\n"
    return usage


# --------------------------------------------------------------------------- configuration


def reloadxml(switch: Switch, arg: str, later: Later) -> str:
    return "+OK [Success]\n"


def xml_flush_cache(switch: Switch, arg: str, later: Later) -> str:
    return "+OK cleared 0 entries\n"


def xml_locate(switch: Switch, arg: str, later: Later) -> str:
    # mod_xml_curl asks the portal; when it cannot, the file fallback answers
    if arg == "configuration configuration name callcenter.conf":
        return PORTAL_CALLCENTER if switch.portal_reachable else FALLBACK_CALLCENTER
    return ""


def callcenter_config(switch: Switch, arg: str, later: Later) -> str:
    agent = re.match(r"^agent get status (\S+)$", arg)
    if agent:
        return switch.agent_status.get(agent.group(1), "Available")
    m = re.match(r"^queue (reload|load|unload) (\S+)$", arg)
    if m and not switch.portal_reachable and m.group(1) != "unload":
        # reload = unload + load from the portal; the fallback has no queues
        switch.unloaded_queues.add(m.group(2))
        return "-ERR Invalid Queue not found!\n"
    if m:
        switch.unloaded_queues.discard(m.group(2))
    return "+OK\n"


def sofia(switch: Switch, arg: str, later: Later) -> str | bytes:
    if arg == "status":
        return T.api_body("01b-auth-api-bgapi-exit", 7)
    m = re.match(r"^profile (\S+) (rescan|killgw \S+|restart|flush_inbound_reg.*)$", arg)
    if m:
        if m.group(2) == "rescan":
            return "+OK scan complete\n"
        if m.group(2).startswith("killgw"):
            return "+OK\n"
        if m.group(2).startswith("flush_inbound_reg"):
            return "+OK flushing all registrations matching specified call_id\n"
        return "Reload XML [Success]\nrestarting: internal\n"
    return "-ERR Unknown command!\n"


COMMANDS: dict[str, Handler] = {
    "status": status,
    "version": version,
    "show": show,
    "uuid_exists": uuid_exists,
    "uuid_kill": uuid_kill,
    "uuid_getvar": uuid_getvar,
    "uuid_setvar": uuid_setvar,
    "uuid_bridge": uuid_bridge,
    "uuid_transfer": uuid_transfer,
    "uuid_broadcast": uuid_broadcast,
    "uuid_record": uuid_record,
    "hupall": hupall,
    "reloadxml": reloadxml,
    "xml_flush_cache": xml_flush_cache,
    "xml_locate": xml_locate,
    "callcenter_config": callcenter_config,
    "sofia": sofia,
    "global_getvar": global_getvar,
    "eval": eval_,
    "originate": originate,
}
