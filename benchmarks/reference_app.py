"""The portal's ASGI app plus `/reference/`: a fixed document from memory, served by the same
production server, as the floor the mod_xml_curl answers are compared with (render.py --http).
"""

import os
from pathlib import Path

from portal.asgi import application as portal

BODY = Path(os.environ["REFERENCE_BODY_FILE"]).read_bytes()
HEADERS = [(b"content-type", b"text/xml; charset=utf-8"), (b"content-length", b"%d" % len(BODY))]


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/reference/":
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
        return
    await portal(scope, receive, send)
