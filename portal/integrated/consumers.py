"""The live chat of an integrated call: caller, operator and the caller's trusted persons only.

Everyone else is accepted and closed with 4403. The server only pushes (chat messages, chat
enabled, call ended, read state); people write through HTTP. The operator's connection (and
its pings) is "the operator is online": the caller sees earlier messages as read.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.integrated import services
from portal.integrated.models import Caller, IntegratedCall

CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _role(call_id: int, scope) -> tuple[IntegratedCall | None, str]:
    call = IntegratedCall.objects.filter(pk=call_id).first()
    if call is None:
        return None, ""
    session = scope.get("session")
    caller_id = session.get("integrated_caller") if session is not None else None
    if caller_id and (
        call.caller_id == caller_id
        or (
            call.caller_id is None
            and Caller.objects.filter(pk=caller_id, phone=call.caller_number).exists()
        )
    ):
        return call, "caller"
    if services.is_operator(call, scope.get("user")):
        return call, "operator"
    token = parse_qs(scope.get("query_string", b"").decode()).get("t", [""])[0]
    if token and services.trusted_call(token) == call:
        return call, "trusted"
    return None, ""


class IntegratedChatConsumer(AsyncJsonWebsocketConsumer):
    call: IntegratedCall | None = None
    role = ""

    async def connect(self):
        await self.accept()
        call_id = int(self.scope["url_route"]["kwargs"]["call_id"])
        self.call, self.role = await _role(call_id, self.scope)
        if self.call is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(services.group(self.call.pk), self.channel_name)
        await self.send_json({"type": "hello", "role": self.role})
        if self.role == "operator":
            await self._seen()

    async def _seen(self):
        await database_sync_to_async(services.operator_seen)(self.call, self.scope["user"])

    async def disconnect(self, code):
        if self.call is not None:
            await self.channel_layer.group_discard(services.group(self.call.pk), self.channel_name)

    async def receive_json(self, content, **kwargs):
        if self.role == "operator" and isinstance(content, dict) and content.get("type") == "ping":
            await self._seen()

    async def integrated_message(self, event):
        await self.send_json(event["message"])
