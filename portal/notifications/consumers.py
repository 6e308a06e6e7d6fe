"""Live notices: one websocket per open portal page, in the group of its user."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.notifications import selectors
from portal.notifications.transports import user_group

CLOSE_UNAUTHENTICATED = 4401


class NoticeConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            # Accept, then close with our code: a browser sees 4401 and stops reconnecting
            # (a refused handshake would only show it 1006, like a network error).
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        unread = await database_sync_to_async(selectors.unread_count)(user=user)
        await self.send_json({"type": "hello", "unread": unread})

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def notify_notice(self, event):
        """Channel-layer event "notify.notice" from PortalTransport."""
        await self.send_json({"type": "notice", "notice": event["notice"]})
