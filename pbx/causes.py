"""FreeSWITCH hangup causes, grouped by what they say about the called phone: one home for the
dialplan (which failures get the auto-redial offer) and the rules that judge a leg's outcome.

From the recordings of a real switch (02a-02c): 486 -> USER_BUSY; a user with no registration
-> USER_NOT_REGISTERED; an unknown user -> SUBSCRIBER_ABSENT; 480, or a phone that never answers
the INVITE -> NO_USER_RESPONSE.
"""

from __future__ import annotations

#: the phone is there and talking
BUSY = frozenset({"USER_BUSY"})
#: the phone is not there (not registered, unknown, or not answering the INVITE)
UNREACHABLE = frozenset(
    {
        "USER_NOT_REGISTERED",
        "SUBSCRIBER_ABSENT",
        "NO_USER_RESPONSE",
        "DESTINATION_OUT_OF_ORDER",
        "NETWORK_OUT_OF_ORDER",
        "RECOVERY_ON_TIMER_EXPIRE",
    }
)
