"""The video session's websocket: WebRTC signalling, annotations, freeze frame, chat, end.

Two parties per session and nobody else: the customer's specialists (logged in, same customer)
and the one browser the link was bound to (its key in the `video_<id>` cookie, after consent).
Anything else is accepted and closed with 4403 so the browser does not retry. Messages are
relayed to the other party only; annotations and freeze frames come from the specialist only
and are checked (normalised coordinates in 0..1, bounded sizes).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.video import services
from portal.video.models import VideoSession

CLOSE_FORBIDDEN = 4403
SHAPES = {"pointer", "rect", "arrow", "freehand"}
MAX_POINTS = 500
MAX_FREEZE = 2_000_000  # characters of the JPEG data URL
MAX_SIGNAL = 100_000


def group(session_id: int) -> str:
    return f"video.{int(session_id)}"


def _unit(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def clean_shape(shape) -> dict | None:
    """A shape with normalised coordinates, or None if anything is off."""
    if not isinstance(shape, dict) or shape.get("kind") not in SHAPES:
        return None
    points = shape.get("points")
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_POINTS:
        return None
    clean = []
    for p in points:
        if not (isinstance(p, list) and len(p) == 2 and _unit(p[0]) and _unit(p[1])):
            return None
        clean.append([round(float(p[0]), 5), round(float(p[1]), 5)])
    if shape["kind"] in ("rect", "arrow") and len(clean) != 2:
        return None
    if shape["kind"] == "pointer" and len(clean) != 1:
        return None
    return {"kind": shape["kind"], "points": clean}


@database_sync_to_async
def _who(session_id: int, user, cookies: dict) -> tuple[VideoSession | None, str]:
    session = VideoSession.objects.filter(pk=session_id).first()
    if session is None or session.status == VideoSession.Status.ENDED:
        return None, ""
    if user is not None and user.is_authenticated and user.customer_id == session.customer_id:
        return session, "specialist"
    bound = services.client_session(
        session_id=session_id, browser_key=cookies.get(f"video_{session_id}")
    )
    if bound is not None and bound.consent_at is not None:
        return bound, "client"
    return None, ""


class VideoConsumer(AsyncJsonWebsocketConsumer):
    session_id: int = 0
    role: str = ""

    async def connect(self):
        await self.accept()
        session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        session, role = await _who(
            session_id, self.scope.get("user"), self.scope.get("cookies", {})
        )
        if session is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.session_id, self.role = session.pk, role
        await self.channel_layer.group_add(group(session.pk), self.channel_name)
        await self.send_json({"type": "hello", "role": role})
        await self._relay({"type": "peer", "event": "join", "role": role})

    async def disconnect(self, code):
        if self.session_id:
            await self.channel_layer.group_discard(group(self.session_id), self.channel_name)
            await self._relay({"type": "peer", "event": "leave", "role": self.role})

    async def receive_json(self, content, **kwargs):
        if not self.session_id or not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "signal" and isinstance(content.get("data"), dict):
            if len(str(content["data"])) <= MAX_SIGNAL:
                await self._relay({"type": "signal", "data": content["data"]})
        elif kind == "started":
            await database_sync_to_async(services.call_started)(self.session_id)
        elif kind == "end":
            await database_sync_to_async(services.call_ended)(self.session_id)
            await self._broadcast({"type": "ended"})
        elif self.role != "specialist":
            await self.send_json({"type": "error", "error": "only the specialist annotates"})
        elif kind == "annotate":
            shape = clean_shape(content.get("shape"))
            if shape is None:
                await self.send_json({"type": "error", "error": "bad shape"})
                return
            if shape["kind"] != "pointer":
                await database_sync_to_async(services.annotated)(self.session_id)
            await self._relay({"type": "annotate", "shape": shape})
        elif kind in ("clear", "undo"):
            await self._relay({"type": kind})
        elif kind == "freeze":
            image = content.get("image")
            if image is None or (
                isinstance(image, str)
                and image.startswith("data:image/jpeg;base64,")
                and len(image) <= MAX_FREEZE
            ):
                await self._relay({"type": "freeze", "image": image})
            else:
                await self.send_json({"type": "error", "error": "bad frame"})

    async def _relay(self, message: dict) -> None:
        await self.channel_layer.group_send(
            group(self.session_id),
            {"type": "video.message", "message": message, "sender": self.channel_name},
        )

    async def _broadcast(self, message: dict) -> None:
        await self.channel_layer.group_send(
            group(self.session_id), {"type": "video.message", "message": message, "sender": ""}
        )

    async def video_message(self, event):
        if event.get("sender") != self.channel_name:
            await self.send_json(event["message"])
