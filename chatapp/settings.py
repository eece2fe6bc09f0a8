"""Settings for chatapp, read only from environment variables (README lists every one).

The defaults suit one person on a laptop: SQLite in DATA_DIR, no other services.
A server sets DATABASE_URL to PostgreSQL, SECRET_KEY, ALLOWED_HOSTS and turns DEBUG off.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name).lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("DATA_DIR") or BASE_DIR / "data").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # Management commands other than runserver (migrate, makemigrations, purge_deleted…)
    # sign nothing a user holds: manage.py lets them use the development key. A server
    # (uvicorn, runserver) with DEBUG off must be given SECRET_KEY.
    if not DEBUG and not env_bool("CHATAPP_MANAGEMENT_COMMAND", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # A development key, made once and kept so that sessions survive restarts.
    key_file = DATA_DIR / "dev_secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "chatapp.accounts",
    "conversations",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a person's own language setting wins over the browser's.
    "chatapp.i18n.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatapp.middleware.ApiErrorEnvelopeMiddleware",
    "chatapp.middleware.ContentSecurityPolicyMiddleware",
    "chatapp.middleware.HtmlNotFoundMiddleware",
    # Last: its process_view runs after the CSRF check (chatapp/middleware.py).
    "chatapp.middleware.UnstorableInputMiddleware",
]

ROOT_URLCONF = "chatapp.urls"
WSGI_APPLICATION = "chatapp.wsgi.application"
ASGI_APPLICATION = "chatapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chatapp.accounts.views.theme",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'chatapp.sqlite3'}",
        conn_max_age=0,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool of persistent connections per process. Under ASGI each request runs in a
    # thread of its own, so Django's per-thread persistent connections (CONN_MAX_AGE) would
    # never be reused: every request would open one (~10 ms) and leave it to the garbage
    # collector. (Django has the pool check each connection as it hands it out.)
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {
            "min_size": env_int("DATABASE_POOL_MIN", 2),
            "max_size": env_int("DATABASE_POOL_MAX", 10),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
        },
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the
        # busy timeout instead of failing with "database is locked" mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation -----------------------------------------------------------------

# The UI's languages (docs/i18n.md): the page follows the person's setting (User.language),
# else the browser's Accept-Language, else English. Each is named in its own language, so
# that a person who cannot read the current one still finds theirs.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("fr", "Français"),
    ("zh-hans", "简体中文"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["chatapp.formats"]  # shorter English dates (chatapp/formats/en)

# --- Static and uploaded files --------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or DATA_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) go to a temporary file, not memory; the
# first handler refuses any file upload over IMPORT_MAX_BYTES before it is stored.
FILE_UPLOAD_HANDLERS = [
    "conversations.transfer.uploads.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Security -------------------------------------------------------------------------------

SESSION_ENGINE = "chatapp.sessions"
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto (only if the proxy sets it).
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS-only defaults when DEBUG is off; a plain-HTTP install turns them off explicitly.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# A refused form shows our 403 page (chatapp/errors.py), not Django's bare one.
CSRF_FAILURE_VIEW = "chatapp.errors.csrf_failure"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# The health check answers plain HTTP so that a load balancer can probe the app directly.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^api/v1/health$"]

# --- Product settings -----------------------------------------------------------------------

OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_MODEL = env_str("OPENAI_MODEL")
ASSISTANT_CONNECT_TIMEOUT = env_int("ASSISTANT_CONNECT_TIMEOUT", 10)
ASSISTANT_FIRST_TOKEN_TIMEOUT = env_int("ASSISTANT_FIRST_TOKEN_TIMEOUT", 60)
ASSISTANT_TOTAL_TIMEOUT = env_int("ASSISTANT_TOTAL_TIMEOUT", 600)
ASSISTANT_IDLE_TIMEOUT = env_int("ASSISTANT_IDLE_TIMEOUT", 60)
ASSISTANT_CONTEXT_TOKENS = env_int("ASSISTANT_CONTEXT_TOKENS", 8000)
# The longest answer asked for when the agent sets no max_tokens: a model that never stops
# (a small one looping) would otherwise write until ASSISTANT_TOTAL_TIMEOUT. 0: none sent.
ASSISTANT_MAX_TOKENS = env_int("ASSISTANT_MAX_TOKENS", 4096)
# A generation saves its text at least this often; a turn with no save for
# STREAM_STALE_SECONDS belongs to a process that died and is marked interrupted.
STREAM_SAVE_INTERVAL_MS = env_int("STREAM_SAVE_INTERVAL_MS", 250)
STREAM_STALE_SECONDS = env_int("STREAM_STALE_SECONDS", 30)
EVENTS_HEARTBEAT_SECONDS = env_int("EVENTS_HEARTBEAT_SECONDS", 15)
# An open stream (/events, a reply) asks the database this often whether its token or
# session, its account and (a reply) its participation still hold; revocations also tell
# it at once (conversations/live/access.py).
STREAM_ACCESS_CHECK_SECONDS = env_int("STREAM_ACCESS_CHECK_SECONDS", 5)
EVENTS_RETENTION_HOURS = env_int("EVENTS_RETENTION_HOURS", 24)
ALLOW_REGISTRATION = env_bool("ALLOW_REGISTRATION", True)
RETENTION_DAYS = env_int("RETENTION_DAYS", 30)
# Workspaces (docs/data-model.md, docs/deploy.md). SHARED_WORKSPACE on: the server has one
# workspace, named SITE_NAME, that every new user joins, so anyone can talk to anyone. Off
# (a closed team): people are in a workspace only by invitation. INVITATION_DAYS is how long
# an invitation link lives unless its maker says otherwise.
SITE_NAME = env_str("SITE_NAME") or "chatapp"
SHARED_WORKSPACE = env_bool("SHARED_WORKSPACE", True)
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)

# Imports (POST /api/v1/imports; docs/import-export.md). The largest file upload accepted,
# refused with 413 before it is read; the most bytes decompressed out of the JSON members of
# a ZIP (and, with what they leave, out of its images and files); the most members a ZIP may
# have; the largest image or file of a ZIP stored with its message (a larger one is left).
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 100 * 1024 * 1024)
IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_MAX_UNCOMPRESSED_BYTES", 512 * 1024 * 1024)
IMPORT_MAX_ZIP_MEMBERS = env_int("IMPORT_MAX_ZIP_MEMBERS", 10_000)
IMPORT_MAX_ASSET_BYTES = env_int("IMPORT_MAX_ASSET_BYTES", 50 * 1024 * 1024)
# The most bytes of files one import writes, and never more than this many times the
# upload's own size (413 before anything is written; docs/security.md).
IMPORT_MAX_WRITTEN_BYTES = env_int("IMPORT_MAX_WRITTEN_BYTES", 200 * 1024 * 1024)
IMPORT_MAX_EXPANSION = env_int("IMPORT_MAX_EXPANSION", 4)
# The stored files (imported images and files, assistant artifacts) each person may hold.
STORAGE_QUOTA_BYTES = env_int("STORAGE_QUOTA_BYTES", 1024 * 1024 * 1024)

# --- Cache: rate-limit counters ------------------------------------------------------------
# In-process by default (right for one process); several processes share Redis.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- API tokens and rate limits -------------------------------------------------------------

ACCESS_TOKEN_MINUTES = env_int("ACCESS_TOKEN_MINUTES", 15)
REFRESH_TOKEN_DAYS = env_int("REFRESH_TOKEN_DAYS", 30)
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
# Each limit of chatapp/ratelimit.py: how many, per how many seconds (docs/security.md).
REGISTER_RATE_LIMIT = env_int("REGISTER_RATE_LIMIT", 10)  # sign-up attempts per address
REGISTER_RATE_WINDOW_SECONDS = env_int("REGISTER_RATE_WINDOW_SECONDS", 60 * 60)
POST_RATE_LIMIT = env_int("POST_RATE_LIMIT", 60)  # messages per user, API and page alike
POST_RATE_WINDOW_SECONDS = env_int("POST_RATE_WINDOW_SECONDS", 60)
REPLY_RATE_LIMIT = env_int("REPLY_RATE_LIMIT", 120)  # assistant replies and regenerations
REPLY_RATE_WINDOW_SECONDS = env_int("REPLY_RATE_WINDOW_SECONDS", 60 * 60)
IMPORT_RATE_LIMIT = env_int("IMPORT_RATE_LIMIT", 20)  # imported files per user
IMPORT_RATE_WINDOW_SECONDS = env_int("IMPORT_RATE_WINDOW_SECONDS", 60 * 60)
TOKEN_CREATE_RATE_LIMIT = env_int("TOKEN_CREATE_RATE_LIMIT", 20)  # personal tokens per user
TOKEN_CREATE_RATE_WINDOW_SECONDS = env_int("TOKEN_CREATE_RATE_WINDOW_SECONDS", 60 * 60)

# --- Single sign-on (OpenID Connect; docs/deploy.md, docs/security.md) ---------------------
# On when OIDC_ISSUER is set: endpoints and keys come from the issuer's discovery document.

WORKSPACE_ROLES = ("owner", "admin", "member")


def env_group_roles(name: str) -> list[tuple[str, str, str]]:
    """`group=role` (a role in the shared workspace) or `group=workspace-slug:role`, comma
    separated, as (group, slug or "", role)."""
    mappings = []
    for item in env_list(name, []):
        group, equals, target = item.rpartition("=")
        slug, _, role = target.rpartition(":")
        group, slug, role = group.strip(), slug.strip(), role.strip().lower()
        if not equals or not group or role not in WORKSPACE_ROLES:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not group=role or group=workspace-slug:role "
                f"(the role is one of {', '.join(WORKSPACE_ROLES)})."
            )
        mappings.append((group, slug, role))
    return mappings


OIDC_ISSUER = env_str("OIDC_ISSUER")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
SSO_ENABLED = bool(OIDC_ISSUER)
if SSO_ENABLED and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too.")
# The button says "Sign in with <this>".
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME") or "single sign-on"
OIDC_SCOPES = env_str("OIDC_SCOPES") or "openid email profile"
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM") or "preferred_username"
OIDC_EMAIL_CLAIM = env_str("OIDC_EMAIL_CLAIM") or "email"
OIDC_DISPLAY_NAME_CLAIM = env_str("OIDC_DISPLAY_NAME_CLAIM") or "name"
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM") or "groups"
# Empty: any domain. Otherwise only verified addresses at exactly these domains sign in.
OIDC_ALLOWED_EMAIL_DOMAINS = [
    domain.lower().lstrip("@") for domain in env_list("OIDC_ALLOWED_EMAIL_DOMAINS", [])
]
OIDC_GROUP_ROLES = env_group_roles("OIDC_GROUP_ROLES")
OIDC_CREATE_USERS = env_bool("OIDC_CREATE_USERS", True)
OIDC_SIGN_ALGORITHM = env_str("OIDC_SIGN_ALGORITHM") or "RS256"
OIDC_TIMEOUT_SECONDS = env_int("OIDC_TIMEOUT_SECONDS", 10)
# Off: the sign-in page offers only single sign-on, and no door takes a password (the API's
# token endpoint answers 403); registration closes with it.
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", True)
if not PASSWORD_SIGN_IN and not SSO_ENABLED:
    raise ImproperlyConfigured(
        "PASSWORD_SIGN_IN is off but single sign-on is not set up (OIDC_ISSUER): "
        "nobody could sign in."
    )

# --- Logging --------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# A username or an email address, on the sign-in page and the admin's (as in the API).
AUTHENTICATION_BACKENDS = ["chatapp.accounts.auth.UsernameOrEmailBackend"]
if SSO_ENABLED:
    AUTHENTICATION_BACKENDS.append("chatapp.accounts.oidc.SingleSignOnBackend")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "conversations:home"
LOGOUT_REDIRECT_URL = "login"
