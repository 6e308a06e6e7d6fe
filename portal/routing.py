"""All websocket routes of the portal, in one place."""

from django.urls import path

from portal.integrated.consumers import IntegratedChatConsumer
from portal.notifications.consumers import NoticeConsumer
from portal.video.consumers import VideoConsumer

websocket_urlpatterns: list = [
    path("ws/notifications/", NoticeConsumer.as_asgi()),
    path("ws/video/<int:session_id>/", VideoConsumer.as_asgi()),
    path("ws/integrated/<int:call_id>/", IntegratedChatConsumer.as_asgi()),
]
