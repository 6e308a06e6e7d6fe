"""Browser tests run Debian's Chromium through Playwright (see the developers' guide)."""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
# Fake camera and microphone, granted without asking (WebRTC tests).
FAKE_MEDIA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
AVAILABLE = os.path.exists(CHROMIUM)


def launch(playwright, *extra_args: str):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])
