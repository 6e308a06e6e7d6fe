"""Websocket helpers for tests: the real ASGI application through Channels' communicator, with
the cookies a Django test client holds (session, the video link's browser key)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from portal.asgi import application


def ws_headers(client: Client) -> list[tuple[bytes, bytes]]:
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    return [(b"origin", b"http://testserver"), (b"cookie", cookies.encode())]


def first_frame(path: str, client: Client) -> dict:
    """Connect as `client`, return the first thing the server sends (a message or a close)."""

    async def scenario():
        ws = WebsocketCommunicator(application, path, headers=ws_headers(client))
        await ws.connect()
        frame = await ws.receive_output(timeout=3)
        await ws.disconnect()
        return frame

    return async_to_sync(scenario)()
