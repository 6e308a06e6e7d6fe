"""Performs `pbx.ivr.steps` on one outbound-socket call (`pbx.esl.adapter.OutboundCall`).

    runner = Runner(call)
    runner.run(first_step, advance)   # advance(result) -> next step

FreeSWITCH as it behaves (1.10.12, src/switch_ivr_play_say.c): `play_and_get_digits` sets
`<var>` only when digits came (never empty) and `<var>_invalid` when they fail the regex; a
timeout sets nothing, so the variables are unset before each ask. `terminators none` makes
every key ("*" and "#" too) an answer. `transfer` from the socket hands the call back to the
dialplan: the session ends there and must not hang up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from pbx.esl import commands
from pbx.ivr.steps import Bridge, Collect, Hangup, Play, Record, Step, Transfer

log = logging.getLogger(__name__)

DIGITS_VAR = "pbx_ivr_digits"
BAD_INPUT = "silence_stream://250"
PROMPT_SECONDS = 120
BRIDGE_MAX_SECONDS = 4 * 3600
MAX_STEPS = 200  # a caller pressing keys forever still ends


def playback_arg(paths: tuple[str, ...] | list[str]) -> str:
    """One `playback` argument for several files (paths are checked by the steps)."""
    if len(paths) == 1:
        return paths[0]
    return "file_string://" + "!".join(paths)


class Runner:
    def __init__(self, call: Any) -> None:
        self.call = call
        self.performed: list[Step] = []

    @property
    def uuid(self) -> str:
        return getattr(self.call, "uuid", "")

    def run(self, step: Step | None, advance: Callable[[Any], Step | None]) -> Step | None:
        """Perform steps until one ends the session; returns the last step performed."""
        for _ in range(MAX_STEPS):
            if step is None:
                step = Hangup()
            self.performed.append(step)
            if isinstance(step, Hangup):
                self.hangup(step)
                return step
            if isinstance(step, Transfer):
                self.transfer(step)
                return step
            if isinstance(step, Play):
                self.play(step.paths)
                result: Any = None
            elif isinstance(step, Collect):
                result = self.collect(step)
            elif isinstance(step, Bridge):
                result = self.bridge(step)
            elif isinstance(step, Record):
                self.record(step)
                result = None
            else:  # pragma: no cover - the Step union is closed
                raise TypeError(f"not a step: {step!r}")
            step = advance(result)
        log.warning("ivr %s: %d steps without an end; hanging up", self.uuid, MAX_STEPS)
        last = Hangup()
        self.hangup(last)
        return last

    # -- the steps ----------------------------------------------------------------------------

    def play(self, paths: tuple[str, ...]) -> None:
        chunk: list[str] = []
        for path in paths:
            if chunk and len(playback_arg([*chunk, path])) > commands.MAX_ARG:
                self.call.execute("playback", playback_arg(chunk), timeout=PROMPT_SECONDS)
                chunk = []
            chunk.append(path)
        if chunk:
            self.call.execute("playback", playback_arg(chunk), timeout=PROMPT_SECONDS)

    def collect(self, step: Collect) -> str | None:
        prompt = playback_arg(step.paths)
        if len(prompt) > commands.MAX_ARG - 120:  # too long for one argument: play first
            self.play(step.paths[:-1])
            prompt = step.paths[-1]
        arg = " ".join(
            [
                "1",
                str(int(step.max_digits)),
                "1",
                str(int(step.timeout_ms)),
                step.terminators or "none",
                prompt,
                BAD_INPUT,
                DIGITS_VAR,
                ".+",
                str(int(step.digit_timeout_ms)),
            ]
        )
        for stale in (DIGITS_VAR, f"{DIGITS_VAR}_invalid"):
            self.call.execute("set", f"{stale}=", timeout=10)
        event = self.call.execute(
            "play_and_get_digits", arg, timeout=PROMPT_SECONDS + step.timeout_ms / 1000
        )
        value = event.headers.get(f"variable_{DIGITS_VAR}") or ""
        return value or None

    def transfer(self, step: Transfer) -> None:
        for name, value in step.variables.items():
            self.call.execute("set", f"{name}={value}", timeout=10)
        self.call.execute("transfer", f"{step.destination} XML {step.context}", timeout=10)

    def record(self, step: Record) -> None:
        self.call.execute("set", "RECORD_STEREO=true", timeout=10)
        self.call.execute("record_session", step.path, timeout=10)

    def bridge(self, step: Bridge) -> tuple[bool, str]:
        """(answered, cause) once the bridge is over."""
        message = commands.sendmsg_bridge(
            step.target, variables={"originate_timeout": step.ring_seconds, **step.variables}
        )
        self.call.execute("set", "continue_on_fail=true", timeout=10)
        pending = gevent.event.AsyncResult()
        self.call.register_expected_event(
            "CHANNEL_EXECUTE_COMPLETE", "current_application", "bridge", pending
        )
        self.call.send(message)
        try:
            event = pending.get(timeout=BRIDGE_MAX_SECONDS)
        except gevent.Timeout:
            return False, "TIMEOUT"
        except Exception as exc:  # the caller left during the bridge
            log.info("ivr %s: bridge ended without its completion: %s", self.uuid, exc)
            return False, "ORIGINATOR_CANCEL"
        headers = event.headers
        disposition = headers.get("variable_originate_disposition", "")
        answered = disposition == "call accepted" or "variable_bridge_hangup_cause" in headers
        return answered, headers.get("variable_bridge_hangup_cause") or disposition or "UNKNOWN"

    def hangup(self, step: Hangup) -> None:
        try:
            if step.paths:
                self.play(step.paths)
            self.call.execute("hangup", step.cause, timeout=10)
        except Exception as exc:  # the caller left meanwhile
            log.debug("ivr %s: hangup: %s", self.uuid, exc)
