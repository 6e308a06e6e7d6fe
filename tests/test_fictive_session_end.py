"""The end of an outbound-socket session as call control's adapter sees it.

FreeSWITCH (or the ESL double, at a hundredth of real time) may send a session's last events
and close the socket right after them (`linger N` expires). Everything read before the close
must still reach the flow, and nothing may wait on a closed session: the fictive flows wait
for the bridge's CHANNEL_EXECUTE_COMPLETE for up to four hours. On SQLite, where the database
work of other greenlets delays the handler greenlet, the bridge's completion used to be read
and then dropped, and the call's row was never closed.
"""

from __future__ import annotations

import gevent
import gevent.event
import gevent.socket
import pytest

from pbx.esl.adapter import EslError, OutboundCall


def frame(**headers: str) -> bytes:
    """One `text/event-plain` frame as FreeSWITCH writes it (Content-Length first)."""
    body = "".join(f"{name}: {value}\n" for name, value in headers.items())
    body = body.encode() + b"\n"
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def execute_complete(app: str) -> bytes:
    return frame(
        **{
            "Event-Name": "CHANNEL_EXECUTE_COMPLETE",
            "Unique-ID": "5a1c4f0e-0000-4000-8000-000000000001",
            "Application": app,
            "variable_current_application": app,
            "variable_originate_disposition": "call%20accepted",
        }
    )


LINGER = b"Content-Type: text/disconnect-notice\nContent-Disposition: linger\nContent-Length: 0\n\n"


@pytest.fixture
def pair():
    ours, theirs = gevent.socket.socketpair()
    call = OutboundCall(ours, ("127.0.0.1", 0), reply_timeout=2)
    yield call, theirs
    call.close()
    theirs.close()


def test_the_last_events_before_the_socket_closes_still_reach_the_flow(pair):
    call, theirs = pair
    done = gevent.event.AsyncResult()
    call.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application", "bridge", done)
    # The bridge completes, the channel hangs up (linger) and the socket closes, all of it
    # already in the buffer when the reader wakes up.
    theirs.sendall(execute_complete("bridge") + LINGER)
    theirs.close()
    event = done.get(timeout=3)
    assert event.headers["variable_originate_disposition"] == "call accepted"


def test_nothing_waits_on_a_session_whose_socket_closed(pair):
    call, theirs = pair
    done = gevent.event.AsyncResult()
    call.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application", "bridge", done)
    theirs.close()  # gone without a disconnect-notice
    with pytest.raises(Exception) as caught:
        done.get(timeout=3)
    assert not isinstance(caught.value, gevent.Timeout)
    with pytest.raises(EslError):
        call.execute("playback", "silence_stream://10", timeout=3)


def test_a_wait_survives_the_linger_notice_that_overtakes_its_completion(pair):
    """mod_event_socket writes the linger notice when it sees the hangup, while the session's
    own events (the bridge's completion) are still queued: on a real switch the notice often
    comes first. The wait ends with the completion; only the final notice fails waits."""
    call, theirs = pair
    done = gevent.event.AsyncResult()
    call.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application", "bridge", done)
    theirs.sendall(LINGER)
    gevent.sleep(0.05)  # the notice is handled before the completion arrives
    assert not done.ready()
    theirs.sendall(execute_complete("bridge"))
    assert done.get(timeout=3).headers["Application"] == "bridge"
    late = gevent.event.AsyncResult()
    call.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application", "hangup", late)
    theirs.sendall(b"Content-Type: text/disconnect-notice\nContent-Disposition: disconnect\n\n")
    with pytest.raises(Exception) as caught:
        late.get(timeout=3)
    assert not isinstance(caught.value, gevent.Timeout)
