"""All websocket routes of the portal, in one place."""

websocket_urlpatterns: list = []
