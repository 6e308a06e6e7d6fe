"""All websocket routes of the portal, in one place."""

from django.urls import path

from portal.notifications.consumers import NoticeConsumer

websocket_urlpatterns: list = [
    path("ws/notifications/", NoticeConsumer.as_asgi()),
]
