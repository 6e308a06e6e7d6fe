"""Test overrides on top of the one settings module."""

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
LANGUAGE_CODE = "ru"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not :memory:, so that a call-control subprocess can share the test database.
    # One file per test run (parallel runs on one machine must not share it).
    import os
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"pbx-test-{os.getpid()}.sqlite3")
    }

# mod_xml_curl answer cache: keys of this test run only (its child processes inherit it), so
# parallel runs on one Redis never see each other's entries; conftest clears it per test.
import os as _os  # noqa: E402

XML_CACHE_PREFIX = _os.environ.setdefault("XML_CACHE_PREFIX", f"pbxtest{_os.getpid()}")
