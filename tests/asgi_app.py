"""The portal's ASGI application with static files, for browser tests that need websockets."""

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from portal.asgi import application as portal_application
from portal.asgi import django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": portal_application.application_mapping["websocket"],
    }
)
