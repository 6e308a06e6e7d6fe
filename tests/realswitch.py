"""A real FreeSWITCH, the portal stack and sipp peers, for end-to-end tests and benchmarks.

Everything runs in a private directory on free ports, so several instances never collide:

    with tempfile.TemporaryDirectory() as work:
        fs = FreeSwitch(Path(work), portal_port=8311).start()
        phone = Sipp.answerer(Path(work))                 # a phone's UAS on its own port
        Sipp.register(..., contact_port=phone.port)        # the phone registers (digest auth)
        result = Sipp.call(..., number="74951112244", rate=50, calls=750)

`FreeSwitch` runs `freeswitch` from PATH on `freeswitch_conf/` (or another conf dir) with the
environment that file set reads (README there): SIP/RTP bound to 127.0.0.1, ports, portal
URLs, secrets. `Portal` runs `manage.py serve` as an operator does (gunicorn workers, task
cluster, call control). The sipp scenarios are in tests/sipp/. `unavailable()` says why a
machine cannot run them (no `freeswitch` or `sipp` on PATH).
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "freeswitch_conf"
SCENARIOS = Path(__file__).resolve().parent / "sipp"
ESL_PASSWORD = "esl-test-secret-5f2"
XML_PASSWORD = "xml-test-secret-9b4"
CDR_PASSWORD = "cdr-test-secret-3d1"
SIP_DOMAIN = "pbx.test"


_rtp_blocks = itertools.count()


def unavailable() -> str | None:
    """Why real-switch tests cannot run here, or None."""
    missing = [tool for tool in ("freeswitch", "sipp") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not on PATH: real-switch tests need a FreeSWITCH built "
            "from public source (freeswitch_conf/README.md lists its modules) and sipp "
            "(Debian sip-tester)"
        )
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP (SIP listens on both)."""
    for _ in range(100):
        port = free_port(socket.SOCK_DGRAM)
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


# --------------------------------------------------------------------------- ESL


class Esl:
    """A minimal blocking inbound ESL client (auth, api) for harness control."""

    def __init__(self, port: int, password: str = ESL_PASSWORD, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self._frame()  # auth/request
        self.sock.sendall(f"auth {password}\n\n".encode())
        reply = self._frame()[0]
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise RuntimeError(f"ESL auth refused: {reply}")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("ESL closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _frame(self) -> tuple[dict[str, str], str]:
        head = self._read_until(b"\n\n").decode()
        headers = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        length = int(headers.get("Content-Length", 0))
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("ESL closed")
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return headers, body.decode(errors="replace")

    def api(self, command: str) -> str:
        self.sock.sendall(f"api {command}\n\n".encode())
        while True:
            headers, body = self._frame()
            if headers.get("Content-Type") == "api/response":
                return body

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- FreeSWITCH


@dataclass
class FreeSwitch:
    """One FreeSWITCH on private directories and free ports."""

    workdir: Path
    portal_port: int = 8000
    conf_dir: Path = CONF
    pstn_port: int = 0  # where the `pstn` gateway sends outside calls (a sipp far end)
    extra_env: dict[str, str] = field(default_factory=dict)
    internal_port: int = 0
    external_port: int = 0
    esl_port: int = 0
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.internal_port = self.internal_port or free_udp_tcp_port()
        self.external_port = self.external_port or free_udp_tcp_port()
        self.esl_port = self.esl_port or free_port()
        # Below the kernel's ephemeral ports (32768-60999), where sipp's and every client's
        # ports come from: RTP bound there collided ("Bind Error!"); apart per instance.
        self.rtp_start = 10000 + (os.getpid() * 7 + next(_rtp_blocks)) % 22 * 1000
        for sub in ("log", "db", "run", "recordings", "sounds", "cache", "storage"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        portal = f"http://127.0.0.1:{self.portal_port}"
        return {
            **os.environ,
            "PBX_BIND_IP": "127.0.0.1",
            "PBX_INTERNAL_SIP_PORT": str(self.internal_port),
            "PBX_EXTERNAL_SIP_PORT": str(self.external_port),
            "FREESWITCH_ESL_PORT": str(self.esl_port),
            "PBX_RTP_START_PORT": str(self.rtp_start),
            "PBX_RTP_END_PORT": str(self.rtp_start + 999),
            "FREESWITCH_ESL_PASSWORD": ESL_PASSWORD,
            "FREESWITCH_XML_CURL_PASSWORD": XML_PASSWORD,
            "FREESWITCH_CDR_PASSWORD": CDR_PASSWORD,
            "PBX_XML_URL": f"{portal}/freeswitch/xml/",
            "PBX_CDR_URL": f"{portal}/freeswitch/cdr/fs1/",
            "PBX_SIP_DOMAIN": SIP_DOMAIN,
            "PBX_TRUNK_HOST": f"127.0.0.1:{self.pstn_port or 9}",
            "PBX_TRUNK_CIDR": "127.0.0.1/32",
            "PBX_RECORDINGS_DIR": str(self.workdir / "recordings"),
            "PBX_SOUNDS_DIR": str(self.workdir / "sounds"),
            **self.extra_env,
        }

    @property
    def log_file(self) -> Path:
        return self.workdir / "log" / "freeswitch.log"

    def start(self, timeout: float = 30) -> FreeSwitch:
        w = self.workdir
        self.proc = subprocess.Popen(
            ["freeswitch", "-nonat", "-nf", "-nc", "-conf", str(self.conf_dir)]
            + ["-log", str(w / "log"), "-db", str(w / "db"), "-run", str(w / "run")]
            + ["-cache", str(w / "cache"), "-storage", str(w / "storage")],
            env=self.env,
            stdout=(w / "console.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"freeswitch exited with {self.proc.returncode}: "
                    + (w / "console.log").read_text()[-2000:]
                )
            try:
                esl = Esl(self.esl_port)
            except OSError:
                time.sleep(0.2)
                continue
            try:
                ready = "is ready" in esl.api("status")
                profiles = esl.api("sofia status")
            finally:
                esl.close()
            if ready and profiles.count("RUNNING") >= 2:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("freeswitch did not become ready")

    def api(self, command: str) -> str:
        esl = Esl(self.esl_port)
        try:
            return esl.api(command)
        finally:
            esl.close()

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.api("fsctl shutdown")
            self.proc.wait(timeout=15)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# --------------------------------------------------------------------------- the portal


@dataclass
class Portal:
    """`manage.py serve` (portal workers, task cluster, call control) for one FreeSWITCH."""

    workdir: Path
    database_url: str
    fs: FreeSwitch | None = None
    port: int = 0
    redis_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Portal:
        import urllib.request

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": "realswitch-test-secret-key-0123456789abcdef",
            "FREESWITCH_XML_CURL_PASSWORD": XML_PASSWORD,
            "FREESWITCH_CDR_PASSWORD": CDR_PASSWORD,
            "PBX_SIP_DOMAIN": SIP_DOMAIN,
            "CALLCONTROL_SOCKET_PORT": str(free_port()),
            "PROMPTS_DIR": str(self.workdir / "prompts"),
            "MEDIA_ROOT": str(self.workdir / "media"),
            "LOG_LEVEL": "WARNING",
        }
        if self.fs is not None:
            env["FREESWITCH_ESL_PASSWORD"] = ESL_PASSWORD
            env["FREESWITCH_NODES"] = f"fs1=127.0.0.1:{self.fs.esl_port}"
            env["PBX_RECORDINGS_DIR"] = str(self.fs.workdir / "recordings")
        env.update(self.extra_env)
        self.log_path = self.workdir / "portal.log"
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--no-prompts"]
            + ["--addr", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("portal exited: " + self.log_path.read_text()[-3000:])
            try:
                urllib.request.urlopen(self.url + "/login/", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("portal did not start: " + self.log_path.read_text()[-3000:])

    def processes(self) -> dict[str, list[int]]:
        """pids by role: portal (gunicorn), tasks (qcluster), callcontrol."""
        roles: dict[str, list[int]] = {"portal": [], "tasks": [], "callcontrol": []}
        if self.proc is None:
            return roles
        for pid in descendants(self.proc.pid):
            line = command_line(pid)
            if "gunicorn" in line:
                roles["portal"].append(pid)
            elif "qcluster" in line or "multiprocessing" in line:
                roles["tasks"].append(pid)
            elif "callcontrol" in line:
                roles["callcontrol"].append(pid)
        return roles

    def cpu_seconds(self) -> dict[str, float]:
        return {
            role: sum(process_cpu(pid) for pid in pids) for role, pids in self.processes().items()
        }

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- sipp


@dataclass
class CallStats:
    attempted: int
    successful: int
    failed: int
    rtd_ms: list[float]  # INVITE -> 200 of every successful call

    def percentile(self, p: float) -> float | None:
        if not self.rtd_ms:
            return None
        values = sorted(self.rtd_ms)
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _stat_counts(path: Path) -> dict[str, int]:
    """Last line of a sipp -trace_stat file: cumulative counters."""
    with path.open() as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, last = rows[0], rows[-1]
    wanted = ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)")
    return {name: int(last[header.index(name)]) for name in wanted}


class Answerer:
    """A sipp UAS in the background: a phone or the PSTN far end (tests/sipp/answer.xml by
    default; `scenario` names another file in tests/sipp/, e.g. one that answers busy).

    `port`: listen there (a far end replaced on the gateway's port), else a free one.
    `trace_messages`: keep every SIP message, so a test can read the INVITEs (`invites`)."""

    def __init__(
        self,
        workdir: Path,
        name: str = "answer",
        *,
        scenario: str = "answer.xml",
        extra: list[str] | None = None,
        port: int = 0,
        trace_messages: bool = False,
    ) -> None:
        self.port = port or free_udp_tcp_port()
        self.dir = workdir / f"sipp-{name}-{self.port}-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        trace = ["-trace_msg", "-message_file", str(self.dir / "messages.log")]
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1"]
            + ["-p", str(self.port), "-mp", str(free_port(socket.SOCK_DGRAM))]
            + list(extra or [])
            + (trace if trace_messages else [])
            + ["-nostdin", "-trace_stat", "-stf", str(self.dir / "stat.csv"), "-fd", "1"]
            + ["-trace_err", "-error_file", str(self.dir / "errors.log")],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"sipp answerer exited: {self.dir}")

    def messages(self) -> list[str]:
        """Every SIP message sent and received so far, whole (with `trace_messages`)."""
        path = self.dir / "messages.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return re.split(r"\n(?=-{10,})", text)

    def invites(self) -> list[str]:
        """The INVITEs received so far, whole (with `trace_messages`)."""
        return [m for m in self.messages() if "INVITE sip:" in m]

    def counts(self) -> dict[str, int]:
        path = self.dir / "stat.csv"
        if not path.exists():
            return {"TotalCallCreated": 0, "SuccessfulCall(C)": 0, "FailedCall(C)": 0}
        return _stat_counts(path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def register(
    fs: FreeSwitch,
    workdir: Path,
    *,
    user: str,
    password: str,
    domain: str,
    contact_port: int,
    expires: int = 3600,
) -> bool:
    """One REGISTER with digest auth from `user`@`domain`, contact at `contact_port`."""
    run = workdir / f"sipp-register-{user}-{contact_port}"
    run.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["sipp", f"127.0.0.1:{fs.internal_port}", "-sf", str(SCENARIOS / "register.xml")]
        + ["-i", "127.0.0.1", "-p", str(free_udp_tcp_port()), "-m", "1"]
        + ["-key", "user", user, "-key", "domain", domain]
        + ["-key", "contact_port", str(contact_port), "-key", "expires", str(expires)]
        + ["-au", user, "-ap", password, "-timeout", "10s", "-timeout_error"]
        + ["-trace_err", "-error_file", str(run / "errors.log"), "-nostdin"],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode == 0


def call(
    fs: FreeSwitch,
    workdir: Path,
    *,
    number: str,
    rate: float,
    calls: int,
    talk_ms: int = 1000,
    caller: str = "74957654321",
    limit: int = 5000,
    timeout: float = 600,
    scenario: str = "call.xml",
    extra: list[str] | None = None,
) -> CallStats:
    """`calls` calls from the trunk side to `number` at `rate` calls/s, each talking
    `talk_ms`; INVITE -> 200 of every call from sipp's RTD trace. `scenario` (in tests/sipp/)
    and `extra` sipp arguments change what the caller does (e.g. send DTMF)."""
    return _calls(
        f"127.0.0.1:{fs.external_port}",
        workdir,
        scenario,
        ["-key", "caller", caller, *(extra or [])],
        number=number,
        rate=rate,
        calls=calls,
        talk_ms=talk_ms,
        limit=limit,
        timeout=timeout,
    )


def phone_call(
    fs: FreeSwitch,
    workdir: Path,
    *,
    user: str,
    password: str,
    domain: str,
    number: str,
    calls: int = 1,
    rate: float = 5,
    talk_ms: int = 1000,
    limit: int = 100,
    scenario: str = "phone_call.xml",
    extra: list[str] | None = None,
) -> CallStats:
    """Calls from a phone (digest auth on the INVITE) to `number`, via the internal profile."""
    return _calls(
        f"127.0.0.1:{fs.internal_port}",
        workdir,
        scenario,
        ["-key", "user", user, "-key", "domain", domain, "-au", user, "-ap", password]
        + list(extra or []),
        number=number,
        rate=rate,
        calls=calls,
        talk_ms=talk_ms,
        limit=limit,
        timeout=120,
    )


def _calls(
    target: str,
    workdir: Path,
    scenario: str,
    extra: list[str],
    *,
    number: str,
    rate: float,
    calls: int,
    talk_ms: int,
    limit: int,
    timeout: float,
) -> CallStats:
    run = workdir / f"sipp-{scenario[:-4]}-{number}-{rate}-{time.monotonic_ns()}"
    run.mkdir(parents=True)
    done = subprocess.run(
        ["sipp", target, "-sf", str(SCENARIOS / scenario)]
        + ["-i", "127.0.0.1", "-p", str(free_udp_tcp_port())]
        + ["-mp", str(free_port(socket.SOCK_DGRAM))]
        + ["-s", number, *extra, "-r", str(rate), "-m", str(calls)]
        + ["-l", str(limit), "-d", str(talk_ms), "-recv_timeout", "15000"]
        + ["-trace_stat", "-stf", str(run / "stat.csv"), "-fd", "1"]
        + ["-trace_rtt", "-rtt_freq", "1", "-nostdin"]
        + ["-trace_err", "-error_file", str(run / "errors.log")],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if not (run / "stat.csv").exists():
        raise RuntimeError(f"sipp did not run: {(done.stdout + done.stderr)[-2000:]}")
    counts = _stat_counts(run / "stat.csv")
    rtd = []
    for path in run.glob("*_rtt.csv"):
        with path.open() as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 3 and re.fullmatch(r"[0-9.]+", row[1] or ""):
                    rtd.append(float(row[1]))
    return CallStats(
        attempted=counts["TotalCallCreated"],
        successful=counts["SuccessfulCall(C)"],
        failed=counts["FailedCall(C)"],
        rtd_ms=rtd,
    )
