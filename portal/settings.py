"""The one settings module. Everything that differs between machines comes from the environment.

Embedded defaults (no environment at all): SQLite, in-memory channel layer, django-q2 ORM broker.
Production: DATABASE_URL (PostgreSQL), REDIS_URL (channel layer + django-q2 broker), SECRET_KEY.
A secret may also be given as NAME_FILE (path to a file holding it), as container secrets are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """Value of `name`, or the contents of the file named by `name_FILE`, or `default`."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: str = "False") -> bool:
    return env(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: str) -> int:
    return int(env(name, default))


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "False")
SECRET_KEY = env("SECRET_KEY", "insecure-dev-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    # No secret in production means sessions anyone could forge: refuse to start without one,
    # except on the embedded defaults where the key is generated per checkout.
    key_file = BASE_DIR / ".secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")
# Video assistant: ICE servers for WebRTC as JSON (e.g. '[{"urls": "stun:stun.example.com"}]');
# none is fine on a LAN or one machine.
VIDEO_ICE_SERVERS = json.loads(env("VIDEO_ICE_SERVERS", "[]"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us: no page loads anything from outside
    "channels",
    "django_q",
    "portal.tenants",
    "portal.directory",
    "portal.billing",
    "portal.calls",
    "portal.switch",
    "portal.web",
    "portal.api",
    "portal.prompts",
    "portal.notifications",
    "portal.callbacks",
    "portal.fictive",
    "portal.redial",
    "portal.video",
    "portal.integrated",
    "portal.exports",
    "portal.statistics",
    "portal.menus",
    "portal.voicemail",
    "portal.forwarding",
    "portal.blacklist",
    "portal.crm",
    "portal.moh",
    "portal.conference",
    "pbx",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", "0"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (portal, qcluster, call control) share the file: wait for locks.
    # IMMEDIATE: a writer takes the lock when its transaction begins, so two writers queue
    # instead of failing with "database is locked" halfway through.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envint(
    "DB_POOL_MAX_SIZE", "0"
):
    # A bounded pool of persistent connections per process (psycopg_pool): a request borrows
    # one and gives it back, so a process never holds more than DB_POOL_MAX_SIZE whatever the
    # number of threads or requests. `manage.py serve` sets it for its workers so that
    # workers x pool stays under PostgreSQL's max_connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections, not Django
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": envint("DB_POOL_MAX_SIZE", "0"),
        "timeout": float(env("DB_POOL_TIMEOUT", "10")),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# mod_xml_curl answers (pbx/xmlcache.py): rendered documents kept in Redis when REDIS_URL is
# set (shared by every worker), else in each process's memory; invalidated by config changes.
XML_CACHE_URL = env("XML_CACHE_URL", REDIS_URL)
XML_CACHE_TTL = envint("XML_CACHE_TTL", "3600")
XML_CACHE_PREFIX = env("XML_CACHE_PREFIX", "pbx")
# FreeSWITCH may keep a directory user this many ms before asking again (`cacheable`); config
# changes flush it over ESL (xml_flush_cache), but only after call control's debounce (~1-2 s),
# and a user carries its password and toll_allow: a revoked class or password would still work
# for that long. Off by default (the portal's own cache answers a lookup in about a
# millisecond); set it only if that window is acceptable.
FREESWITCH_DIRECTORY_CACHE_MS = envint("FREESWITCH_DIRECTORY_CACHE_MS", "0")

Q_CLUSTER = {
    "name": "pbx",
    "workers": envint("Q_WORKERS", "2"),
    "timeout": 120,
    "retry": 180,
    "catch_up": False,
    "label": "Django Q2",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:pbx"
LOGOUT_REDIRECT_URL = "web:login"

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Русский")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # Plotly's JS from its PyPI package (the statistics' charts): served by us, never a CDN
    "portal.statistics.finders.PlotlyFinder",
]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.CustomerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.IsCustomerMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",  # limit/offset, capped
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cloud PBX API",
    "DESCRIPTION": "Per-customer API of the cloud PBX portal. Authenticate with "
    "`Authorization: Token <key>` (a customer API token).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "pbx@localhost")

# Billing: currency of every ledger entry unless a customer says otherwise.
BILLING_CURRENCY = env("BILLING_CURRENCY", "RUB")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION", "RU")

# FreeSWITCH nodes the call-control service keeps an ESL connection to:
# FREESWITCH_NODES="fs1=127.0.0.1:8021,fs2=10.0.0.2:8021"; one ESL password for all of them
# (FREESWITCH_ESL_PASSWORD or FREESWITCH_ESL_PASSWORD_FILE).
FREESWITCH_NODES = {}
for _item in envlist("FREESWITCH_NODES", "fs1=127.0.0.1:8021"):
    _name, _, _addr = _item.partition("=")
    _host, _, _port = _addr.rpartition(":")
    FREESWITCH_NODES[_name.strip()] = {"host": _host.strip(), "port": int(_port)}
FREESWITCH_ESL_PASSWORD = env("FREESWITCH_ESL_PASSWORD")
# mod_xml_curl fetches the rendered config from the portal with HTTP basic auth.
FREESWITCH_XML_CURL_USER = env("FREESWITCH_XML_CURL_USER", "freeswitch")
FREESWITCH_XML_CURL_PASSWORD = env("FREESWITCH_XML_CURL_PASSWORD")
# Outbound ESL socket (dialplan `socket` application) served by the call-control service.
CALLCONTROL_SOCKET_HOST = env("CALLCONTROL_SOCKET_HOST", "127.0.0.1")
CALLCONTROL_SOCKET_PORT = envint("CALLCONTROL_SOCKET_PORT", "8084")
# Seconds the call-control service waits for any ESL reply before dropping the connection.
CALLCONTROL_REPLY_TIMEOUT = float(env("CALLCONTROL_REPLY_TIMEOUT", "10"))
# How often each node's worker looks for configuration changes to push.
CALLCONTROL_PUSH_INTERVAL = float(env("CALLCONTROL_PUSH_INTERVAL", "0.5"))
# Nodes off loopback need the operator to confirm the ESL port is firewalled/ACL'd.
FREESWITCH_ESL_ACL_CONFIRMED = envbool("FREESWITCH_ESL_ACL_CONFIRMED", "False")
# mod_json_cdr posts CDRs to /freeswitch/cdr/<node>/ with HTTP basic auth.
FREESWITCH_CDR_USER = env("FREESWITCH_CDR_USER", "freeswitch")
FREESWITCH_CDR_PASSWORD = env("FREESWITCH_CDR_PASSWORD")
FREESWITCH_CDR_ENCODED_VALUES = envbool("FREESWITCH_CDR_ENCODED_VALUES", "True")
FREESWITCH_CONF_DIR = Path(env("FREESWITCH_CONF_DIR", str(BASE_DIR / "freeswitch_conf")))

# Notifications (portal.notifications): SMS through Twilio; TWILIO_API_BASE is overridable so
# tests (and a sandbox) can point it at another server. Webhooks: timeout in seconds, and
# whether private/loopback targets are allowed (off: a customer's URL must not reach our LAN).
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER")
TWILIO_API_BASE = env("TWILIO_API_BASE", "https://api.twilio.com")
WEBHOOK_TIMEOUT = float(env("WEBHOOK_TIMEOUT", "10"))
WEBHOOK_ALLOW_PRIVATE = envbool("WEBHOOK_ALLOW_PRIVATE", "False")

# Voice prompts: generated defaults at <PROMPTS_DIR>/<lang>/<key>.wav and customers' uploads under
# <PROMPTS_DIR>/customers/. FreeSWITCH plays these absolute paths, so the directory must be
# readable by FreeSWITCH (e.g. /usr/share/freeswitch/sounds/pbx) and shared with the portal.
PROMPTS_DIR = Path(env("PROMPTS_DIR", str(BASE_DIR / "var" / "prompts")))
PROMPT_UPLOAD_MAX_BYTES = envint("PROMPT_UPLOAD_MAX_BYTES", str(5 * 1024 * 1024))
PROMPT_UPLOAD_MAX_SECONDS = envint("PROMPT_UPLOAD_MAX_SECONDS", "60")
# SIP domain of customer N is c<N>.<PBX_SIP_DOMAIN> (must match freeswitch_conf's vars.xml), and
# the sofia gateway (external profile) calls to the public network leave through.
PBX_SIP_DOMAIN = env("PBX_SIP_DOMAIN", "pbx.local")
# What the telephony platform (pbx/, which never imports portal) reads and writes through:
PBX_STORE = "portal.switch.store"  # call control's node state, config pushes, live channels
PBX_XML_SOURCE = "portal.switch.xmldata"  # the rows behind every mod_xml_curl answer
PBX_PSTN_GATEWAY = env("PBX_PSTN_GATEWAY", "pstn")
# Outbound call policy (portal/billing/callpolicy.py, pbx/destinations.py): where emergency
# numbers go ("<gateway>" or "<gateway>/<number>"; default: PBX_PSTN_GATEWAY, the dialled
# number unchanged), extra prefix classes ("+53=blocked,+232=premium"; classes premium,
# satellite, international, blocked), who on the platform hears that a customer's paid calls
# were stopped (default: ADMINS), and the highest daily spend cap a customer may set.
PBX_EMERGENCY_ROUTE = env("PBX_EMERGENCY_ROUTE", "")
PBX_DESTINATION_PREFIXES = env("PBX_DESTINATION_PREFIXES", "")
PBX_ABUSE_ALERT_EMAILS = envlist("PBX_ABUSE_ALERT_EMAILS", "")
PBX_MAX_DAILY_SPEND_CAP = env("PBX_MAX_DAILY_SPEND_CAP", "1000000")
# Where FreeSWITCH writes call recordings (freeswitch_conf's pbx_recordings_dir, same env var);
# the portal plays them from here, so the directory is shared between nodes and the portal.
RECORDINGS_DIR = Path(env("PBX_RECORDINGS_DIR", "/var/lib/freeswitch/recordings"))
