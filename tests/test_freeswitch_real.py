"""Checks against a real FreeSWITCH 1.10 running freeswitch_conf/ (opt-in).

Skipped unless FREESWITCH_ESL=host:port:password is set. The node must use freeswitch_conf/ and
point PBX_XML_URL at a portal whose database holds the demo customer (`manage.py migrate &&
manage.py demo` on a fresh database, portal PBX_SIP_DOMAIN = node PBX_SIP_DOMAIN). What to look
up can be changed with FREESWITCH_TEST_DATA, e.g.
`domain=c1.pbx.local,user=101,other_user=102,queue=c1_d1@default,number=74950000001`.

A plain blocking ESL client on a socket: no dependency on the call-control code.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

pytestmark = pytest.mark.freeswitch

ESL = os.environ.get("FREESWITCH_ESL", "")
DEFAULTS = {
    "domain": "c1.pbx.local",
    "user": "101",
    "other_user": "102",
    "queue": "c1_d1@default",
    "number": "74950000001",
    "unknown_number": "74990000000",
}
DATA = {
    **DEFAULTS,
    **dict(
        item.split("=", 1)
        for item in os.environ.get("FREESWITCH_TEST_DATA", "").split(",")
        if "=" in item
    ),
}

if not ESL:
    pytest.skip("set FREESWITCH_ESL=host:port:password to run", allow_module_level=True)


def waiting_member(esl: Esl, queue: str, tries: int = 20) -> str:
    """session_uuid of a caller waiting in `queue` (abandoned rows linger for a minute)."""
    for _ in range(tries):
        rows = esl.api(f"callcenter_config queue list members {queue}").splitlines()
        header = rows[0].split("|") if rows else []
        for row in rows[1:]:
            member = dict(zip(header, row.split("|"), strict=False))
            if member.get("session_uuid") and member.get("state") in ("Waiting", "Trying"):
                return member["session_uuid"]
        time.sleep(0.25)
    return ""


class Esl:
    def __init__(self, host: str, port: int, password: str):
        self.sock = socket.create_connection((host, port), timeout=15)
        self.file = self.sock.makefile("rb")
        headers, _ = self.read()
        assert headers.get("Content-Type") == "auth/request", headers
        self.sock.sendall(f"auth {password}\n\n".encode())
        headers, _ = self.read()
        assert headers.get("Reply-Text", "").startswith("+OK"), headers

    def read(self) -> tuple[dict[str, str], str]:
        headers: dict[str, str] = {}
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("ESL connection closed")
            text = line.decode().rstrip("\n")
            if not text:
                if headers:
                    break
                continue
            name, _, value = text.partition(": ")
            headers[name] = value
        length = int(headers.get("Content-Length", "0"))
        body = self.file.read(length).decode() if length else ""
        return headers, body

    def api(self, command: str) -> str:
        assert "\n" not in command
        self.sock.sendall(f"api {command}\n\n".encode())
        while True:
            headers, body = self.read()
            if headers.get("Content-Type") == "api/response":
                return body

    def hangup_cause(self, marker: str, timeout: float = 15) -> str:
        """Hangup-Cause of the channel tagged pbx_real_test=<marker> (needs `event plain ...`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            headers, body = self.read()
            if headers.get("Content-Type") != "text/event-plain":
                continue
            event = dict(line.partition(": ")[::2] for line in body.splitlines() if line)
            if event.get("variable_pbx_real_test") == marker:
                return event.get("Hangup-Cause", "")
        raise TimeoutError(marker)

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def esl():
    host, port, password = ESL.rsplit(":", 2)
    conn = Esl(host, int(port), password)
    yield conn
    conn.api("hupall NORMAL_CLEARING pbx_real_test true")
    conn.close()


def tagged(dial: str) -> str:
    return f"originate {{pbx_real_test=true,originate_timeout=5}}{dial} &park"


def test_the_switch_is_ready_with_both_profiles_running(esl):
    assert "is ready" in esl.api("status")
    status = esl.api("sofia status")
    for profile in ("internal", "external"):
        line = next(
            line for line in status.splitlines() if line.split() and line.split()[0] == profile
        )
        assert "RUNNING" in line, status
    assert "external::pstn" in status


def test_system_commands_are_not_loaded(esl):
    assert esl.api("global_getvar disable_system_api_commands").strip() == "true"
    assert esl.api("system echo pwned").startswith("-ERR")
    assert "1234" != esl.api("global_getvar default_password").strip()


def test_directory_users_come_from_the_portal(esl):
    assert esl.api(f"user_exists id {DATA['user']} {DATA['domain']}").strip() == "true"
    assert esl.api(f"user_exists id 99999 {DATA['domain']}").strip() == "false"
    assert esl.api("user_exists id 101 c999999.example.invalid").strip() == "false"
    contact = esl.api(f"user_data {DATA['user']}@{DATA['domain']} var user_context").strip()
    assert contact.startswith("customer_")


def test_unknown_public_number_is_refused_by_the_portal_not_the_fallback(esl):
    # The outage fallback would answer and play a prompt (+OK); the portal says unallocated.
    reply = esl.api(tagged(f"loopback/{DATA['unknown_number']}/public"))
    assert reply.strip() == "-ERR UNALLOCATED_NUMBER", reply


def test_extension_to_extension_rings_the_other_phone(esl):
    context = esl.api(f"user_data {DATA['user']}@{DATA['domain']} var user_context").strip()
    reply = esl.api(tagged(f"loopback/{DATA['other_user']}/{context}"))
    # Nobody registered in a test run: the bridge to user/<ext>@<domain> finds no phone.
    assert reply.strip() in {"-ERR USER_NOT_REGISTERED", "-ERR NO_ANSWER"} or reply.startswith(
        "+OK"
    )
    assert esl.api(tagged(f"loopback/99999/{context}")).strip() == "-ERR UNALLOCATED_NUMBER"


def test_queues_come_from_the_portal_and_a_multichannel_call_joins_one(esl):
    assert DATA["queue"] in esl.api("callcenter_config queue list")
    assert "c" in esl.api("callcenter_config agent list")
    marker = uuid.uuid4().hex
    reply = esl.api(
        f"originate {{pbx_real_test={marker},originate_timeout=5}}loopback/{DATA['number']}/public &park"
    )
    assert reply.startswith("+OK"), reply
    try:
        assert waiting_member(esl, DATA["queue"]), "the call never joined the queue"
    finally:
        esl.api(f"hupall NORMAL_CLEARING pbx_real_test {marker}")


def test_pressing_1_in_the_queue_reaches_the_callback_flow_over_the_outbound_socket(esl):
    """Needs the callback option on for the number's customer and CALLCONTROL_SOCKET_PORT
    (default 8084) free on the switch's host: the test listens there instead of call control."""
    port = int(os.environ.get("CALLCONTROL_SOCKET_PORT", "8084"))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError:
        pytest.skip(f"127.0.0.1:{port} is taken (call control running?)")
    listener.listen(1)
    listener.settimeout(10)
    marker = uuid.uuid4().hex
    reply = esl.api(f"originate {{pbx_real_test={marker}}}loopback/{DATA['number']}/public &park")
    assert reply.startswith("+OK"), reply
    a_leg = reply.split()[1]
    try:
        member = waiting_member(esl, DATA["queue"])  # the caller's leg in the queue
        assert member, "the call never joined the queue"
        if esl.api(f"uuid_getvar {member} cc_exit_keys").strip() != "1":
            pytest.skip("callback option is off for this number's customer")
        esl.api(f"uuid_send_dtmf {a_leg} 1")  # loopback: DTMF sent on a reaches b
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            conn.sendall(b"connect\n\n")
            data = b""
            while b"\n\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        headers = dict(line.partition(": ")[::2] for line in data.decode().splitlines() if line)
        assert headers["Event-Name"] == "CHANNEL_DATA"
        assert headers["variable_pbx_flow"] == "callback_request"
        assert headers["variable_cc_exit_key"] == "1"
        assert headers["variable_cc_cancel_reason"] == "EXIT_WITH_KEY"
        assert headers["Channel-Destination-Number"] == "queue_exit"
    finally:
        listener.close()
        esl.api(f"hupall NORMAL_CLEARING pbx_real_test {marker}")
