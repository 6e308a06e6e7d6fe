"""Pure rules of call forwarding: loops, and what a failed ring means.

No Django: the services and the dialplan hand plain data in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pbx import causes

ALWAYS = "always"
BUSY = "busy"
NO_ANSWER = "no_answer"
UNREGISTERED = "unregistered"
CONDITIONAL = (BUSY, NO_ANSWER, UNREGISTERED)

#: the hangup causes of a ring to the employee's phones that each condition forwards
CAUSES: Mapping[str, frozenset[str]] = {
    BUSY: causes.BUSY,
    NO_ANSWER: frozenset({"NO_ANSWER", "ALLOTTED_TIMEOUT"}),
    UNREGISTERED: causes.UNREACHABLE,
}


def condition_of(cause: str) -> str | None:
    """Which forwarding condition a hangup cause of the employee's ring is."""
    for when, group in CAUSES.items():
        if cause in group:
            return when
    return None


def creates_loop(edges: Iterable[tuple[int, int]], new_from: int, new_to: int) -> bool:
    """Would forwarding `new_from` -> `new_to` close a cycle among employee-to-employee
    forwards (`edges`, any condition)? A -> A is a loop too."""
    graph: dict[int, set[int]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    graph.setdefault(new_from, set()).add(new_to)
    seen: set[int] = set()
    stack = [new_to]
    while stack:
        node = stack.pop()
        if node == new_from:
            return True
        if node in seen:
            continue
        seen.add(node)
        stack.extend(graph.get(node, ()))
    return False
