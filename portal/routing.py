"""All websocket routes of the portal, in one place."""

from django.urls import path

from portal.notifications.consumers import NoticeConsumer
from portal.video.consumers import VideoConsumer

websocket_urlpatterns: list = [
    path("ws/notifications/", NoticeConsumer.as_asgi()),
    path("ws/video/<int:session_id>/", VideoConsumer.as_asgi()),
]
