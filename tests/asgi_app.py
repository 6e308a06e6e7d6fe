"""The portal's ASGI application with static files, for browser tests that need websockets."""

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from pbx.xmlserve import route
from portal.asgi import django_asgi_app, websocket_app

application = route(
    ProtocolTypeRouter(
        {"http": ASGIStaticFilesHandler(django_asgi_app), "websocket": websocket_app}
    )
)
