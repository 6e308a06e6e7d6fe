"""The steps an IVR machine asks the runner to perform (plain data, validated on creation).

- `Play(paths)`: play files in order; the runner then asks for the next step with None.
- `Collect(paths, ...)`: play the files and collect DTMF keys once (`play_and_get_digits`);
  the next step is asked with the keys typed ("" never: nothing typed is None).
- `Transfer(destination, context, variables)`: set the variables and hand the call to the
  dialplan (`transfer <destination> XML <context>`); the session ends without a hang-up.
- `Bridge(target, variables, ring_seconds)`: bridge to one target built by
  `pbx.esl.commands.*_target`; the next step is asked with `(answered, cause)`.
- `Record(path)`: `record_session` (stereo) from here on; next step asked with None.
- `Hangup(paths, cause)`: play the files (if any) and hang up; the session ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pbx.esl import commands

_PATH = re.compile(r"/[A-Za-z0-9_./-]+\Z")
_DESTINATION = re.compile(r"\+?[0-9]{2,16}\Z|[a-z][a-z0-9_]{0,47}\Z")
_CONTEXT = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_CAUSE = re.compile(r"[A-Z][A-Z0-9_]{1,63}\Z")
KEYS = "0123456789*#"


class StepError(ValueError):
    """A step that must never reach the switch (a path, destination or key that is not safe)."""


def _paths(paths) -> tuple[str, ...]:
    out = tuple(paths)
    for path in out:
        if not isinstance(path, str) or not _PATH.match(path) or "/../" in path:
            raise StepError(f"unsafe prompt path {path!r}")
    return out


@dataclass(frozen=True)
class Play:
    paths: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", _paths(self.paths))
        if not self.paths:
            raise StepError("nothing to play")


@dataclass(frozen=True)
class Collect:
    paths: tuple[str, ...]
    max_digits: int = 1
    timeout_ms: int = 5000
    #: between two keys of a longer entry (an extension dialled directly)
    digit_timeout_ms: int = 2000
    #: keys that end the entry; "" = none (every key, "#" and "*" too, is an answer)
    terminators: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", _paths(self.paths))
        if not self.paths:
            raise StepError("a question needs a prompt")
        if not 1 <= int(self.max_digits) <= 16:
            raise StepError(f"max_digits {self.max_digits!r}")
        if not 1000 <= int(self.timeout_ms) <= 60000 or not 500 <= self.digit_timeout_ms <= 10000:
            raise StepError("timeouts out of range")
        if any(ch not in "*#" for ch in self.terminators):
            raise StepError(f"terminators {self.terminators!r}")


@dataclass(frozen=True)
class Transfer:
    destination: str
    context: str
    variables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _DESTINATION.match(self.destination or ""):
            raise StepError(f"transfer destination {self.destination!r}")
        if not _CONTEXT.match(self.context or ""):
            raise StepError(f"transfer context {self.context!r}")
        for name, value in self.variables.items():
            commands.channel_variables({name: value})  # validates name and value


@dataclass(frozen=True)
class Bridge:
    target: str  # from commands.user_target / gateway_target
    variables: Mapping[str, str] = field(default_factory=dict)
    ring_seconds: int = 30

    def __post_init__(self) -> None:
        commands.bridge_dial_string(self.target, self.variables)  # validates both
        if not 5 <= int(self.ring_seconds) <= 300:
            raise StepError(f"ring_seconds {self.ring_seconds!r}")


@dataclass(frozen=True)
class Record:
    path: str

    def __post_init__(self) -> None:
        _paths([self.path])


@dataclass(frozen=True)
class Hangup:
    paths: tuple[str, ...] = ()
    cause: str = "NORMAL_CLEARING"

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", _paths(self.paths))
        if not _CAUSE.match(self.cause or ""):
            raise StepError(f"hangup cause {self.cause!r}")


Step = Play | Collect | Transfer | Bridge | Record | Hangup
