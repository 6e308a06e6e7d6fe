"""ASGI entry point: HTTP and websockets (Django Channels)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from pbx.xmlserve import route  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402

websocket_app = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))

# mod_xml_curl's lookups skip Django's request handling, and each worker warms them up at
# start (lifespan): pbx/xmlserve.py.
application = route(ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_app}))
