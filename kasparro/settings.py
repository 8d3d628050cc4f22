"""Every setting comes from the environment here, and only here.

With nothing set, Kasparro runs embedded: a SQLite file and Celery's filesystem
transport under var/, so one command starts it on a fresh machine. Production
sets DATABASE_URL, REDIS_URL, SECRET_KEY and DEBUG=false.
"""

import tomllib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Not configuration: the release this code is, from pyproject.toml (shown in /health and /schema).
KASPARRO_VERSION = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
VAR_DIR = Path(environ.Env().str("KASPARRO_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is false: set SECRET_KEY, or DEBUG=true on a development machine."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind a proxy: take the host from its X-Forwarded-Host (only when the proxy sets or strips it), and
# serve under the path prefix it strips, so next/previous links and URLs point back through it.
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
FORCE_SCRIPT_NAME = env.str("FORCE_SCRIPT_NAME", default="") or None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_celery_beat",
    "axes",
    "coins",
    "etl",
    "devtools",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kasparro.urls"
WSGI_APPLICATION = "kasparro.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Overrides of third-party templates (kept to what the Content-Security-Policy needs).
        "DIRS": [BASE_DIR / "kasparro" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'kasparro.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the
    # writer, IMMEDIATE takes the write lock up front so no transaction fails
    # half-way on "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so the Celery worker the tests start can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that needs no round trip on a quiet connection.
        DATABASES["default"]["ENGINE"] = "core.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery (cookiecutter-django's shape) ------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="kasparro")
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Ride out a broker restart: the worker reconnects for as long as it takes (Celery's default gives
# up after 100 tries and exits), and a task in hand keeps running; its acknowledgement goes out on
# the new connection.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
if CELERY_BROKER_URL.startswith("redis"):
    # A task unacknowledged for longer than this is redelivered: keep it above
    # the hard time limit so a long run is never handed to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 10 * 60}

# --- ETL ----------------------------------------------------------------------------
# The one list of sources, as the served domain asks for it (coins imports nothing of etl).
SOURCE_NAMES_PROVIDER = "etl.sources.registry.source_names"
ETL_SOURCES = env.list("ETL_SOURCES", default=["coinpaprika", "coincap", "legacy_csv"])
ETL_BATCH_SIZE = env.int("ETL_BATCH_SIZE", default=5000)
# A queued or running run whose heartbeat is older than this is declared abandoned.
# Longer than a source's worst retry sequence (SOURCE_MAX_RETRIES x (read timeout + Retry-After)).
ETL_RUN_LEASE_SECONDS = env.int("ETL_RUN_LEASE_SECONDS", default=15 * 60)
# Raw records (kept for replays) of runs older than this are pruned daily.
RAW_RECORD_RETENTION_DAYS = env.int("RAW_RECORD_RETENTION_DAYS", default=14)
# When beat fires the hourly run (crontab: minute hour day-of-month month day-of-week).
ETL_SCHEDULE_CRONTAB = env.str("ETL_SCHEDULE_CRONTAB", default="0 * * * *")
# POST /run-etl per user.
ETL_TRIGGER_THROTTLE = env.str("ETL_TRIGGER_THROTTLE", default="10/minute")
ETL_STALE_AFTER_SECONDS = env.int("ETL_STALE_AFTER_SECONDS", default=2 * 60 * 60)
# Schema drift: an unknown CSV header matched to a field at least this sure is read as it (with a warning);
# below, the source fails listing the candidates. API items are profiled on their first DRIFT_SAMPLE_ITEMS.
DRIFT_AUTO_APPLY_CONFIDENCE = env.float("DRIFT_AUTO_APPLY_CONFIDENCE", default=0.8)
DRIFT_SAMPLE_ITEMS = env.int("DRIFT_SAMPLE_ITEMS", default=2000)
# Anomalies: a figure this many robust deviations (MAD) from the median of the source's last
# ANOMALY_WINDOW_RUNS finished runs is flagged, once at least ANOMALY_MIN_RUNS are there to compare.
ANOMALY_WINDOW_RUNS = env.int("ANOMALY_WINDOW_RUNS", default=20)
ANOMALY_MIN_RUNS = env.int("ANOMALY_MIN_RUNS", default=5)
ANOMALY_SCORE_THRESHOLD = env.float("ANOMALY_SCORE_THRESHOLD", default=6.0)
# A quote more than this factor away from the median of the other sources' prices for the coin within
# IDENTITY_PRICE_WINDOW_SECONDS is flagged as a disagreement (1.5: 50% dearer or a third cheaper).
ANOMALY_DISAGREEMENT_RATIO = env.float("ANOMALY_DISAGREEMENT_RATIO", default=1.5)
# API sources. Rates are requests per second, shared by every worker process.
COINPAPRIKA_API_KEY = env.str("COINPAPRIKA_API_KEY", default="")
COINPAPRIKA_BASE_URL = env.str(
    "COINPAPRIKA_BASE_URL",
    default="https://api-pro.coinpaprika.com/v1" if COINPAPRIKA_API_KEY else "https://api.coinpaprika.com/v1",
)
COINPAPRIKA_RATE_LIMIT = env.float("COINPAPRIKA_RATE_LIMIT", default=5)
COINCAP_API_KEY = env.str("COINCAP_API_KEY", default="")
COINCAP_BASE_URL = env.str("COINCAP_BASE_URL", default="https://rest.coincap.io/v3")
COINCAP_RATE_LIMIT = env.float("COINCAP_RATE_LIMIT", default=2)
COINCAP_PAGE_SIZE = env.int("COINCAP_PAGE_SIZE", default=2000)
SOURCE_CONNECT_TIMEOUT = env.float("SOURCE_CONNECT_TIMEOUT", default=5)
SOURCE_READ_TIMEOUT = env.float("SOURCE_READ_TIMEOUT", default=30)
# Bounds on one request, whatever the upstream does: the whole answer within this many seconds (a body
# trickling in never trips the read timeout); at most this many bytes, on the wire and decompressed (about
# 5x CoinPaprika's whole /tickers today; a worker holds the parsed body); and a body inflating more than
# this many times its wire size is a decompression bomb, refused as soon as it shows.
SOURCE_REQUEST_DEADLINE_SECONDS = env.float("SOURCE_REQUEST_DEADLINE_SECONDS", default=60)
SOURCE_MAX_BODY_BYTES = env.int("SOURCE_MAX_BODY_BYTES", default=32 * 2**20)
SOURCE_MAX_INFLATION = env.float("SOURCE_MAX_INFLATION", default=100)
SOURCE_MAX_RETRIES = env.int("SOURCE_MAX_RETRIES", default=4)
SOURCE_BACKOFF_SECONDS = env.float("SOURCE_BACKOFF_SECONDS", default=1)
SOURCE_BACKOFF_MAX_SECONDS = env.float("SOURCE_BACKOFF_MAX_SECONDS", default=30)
# A Retry-After longer than this fails the source for this run instead of holding a worker.
SOURCE_RETRY_AFTER_MAX_SECONDS = env.float("SOURCE_RETRY_AFTER_MAX_SECONDS", default=120)
# Identity: two sources' quotes this close in time are compared (prices that agree or clearly disagree
# are evidence that two listings are, or are not, one asset); quotes further apart say nothing.
IDENTITY_PRICE_WINDOW_SECONDS = env.int("IDENTITY_PRICE_WINDOW_SECONDS", default=60 * 60)
# Listings matched with less confidence than this wait in the admin's review queue.
IDENTITY_REVIEW_BELOW = env.float("IDENTITY_REVIEW_BELOW", default=0.75)
# Consensus: after each run, one price per coin and interval (1h or 1d) from every source's last quote in
# it; a source further than CONSENSUS_OUTLIER_PCT percent from the median is that interval's outlier.
CONSENSUS_INTERVAL = env.str("CONSENSUS_INTERVAL", default="1h")
_outlier_pct = env.str("CONSENSUS_OUTLIER_PCT", default="5")
if CONSENSUS_INTERVAL not in ("1h", "1d"):
    raise ImproperlyConfigured(f"CONSENSUS_INTERVAL must be 1h or 1d, not {CONSENSUS_INTERVAL!r}.")
try:
    CONSENSUS_OUTLIER_PCT = Decimal(_outlier_pct)
    if not CONSENSUS_OUTLIER_PCT.is_finite() or CONSENSUS_OUTLIER_PCT < 0:
        raise ValueError
except (ArithmeticError, ValueError):
    raise ImproperlyConfigured(
        f"CONSENSUS_OUTLIER_PCT must be a percentage of 0 or more, not {_outlier_pct!r}."
    ) from None
LEGACY_CSV_PATH = env.path("LEGACY_CSV_PATH", default=str(BASE_DIR / "data" / "coins.csv"))
# UTF-8 (a byte order mark allowed) unless the file says otherwise; a row that does not decode is quarantined.
LEGACY_CSV_ENCODING = env.str("LEGACY_CSV_ENCODING", default="utf-8")
try:
    # Lines are split on the newline byte, so only encodings that write ASCII as ASCII will do.
    _ascii_compatible = "Ticker,1\n".encode(LEGACY_CSV_ENCODING) == b"Ticker,1\n"
except LookupError:
    _ascii_compatible = False
if not _ascii_compatible:
    raise ImproperlyConfigured(
        f"LEGACY_CSV_ENCODING={LEGACY_CSV_ENCODING!r} is not an ASCII-compatible encoding Python knows "
        "(utf-8, cp1252, latin-1, ...)."
    )

# GET pages of /data and /coins are cached this long at most; a committed ETL batch invalidates them at once.
API_CACHE_SECONDS = env.int("API_CACHE_SECONDS", default=300)

# Reads (/data, /coins, /runs, /stats) need `Authorization: Api-Key <key>` or staff credentials when
# true; off, the embedded default stays open. /health, /metrics, /schema and /docs are always open.
API_KEYS_REQUIRED = env.bool("API_KEYS_REQUIRED", default=False)
# Reads per API key (on its prefix), shared by every web process through the cache.
API_KEY_THROTTLE = env.str("API_KEY_THROTTLE", default="600/minute")

# --- REST framework -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "core.schema.ErrorsDocumentedSchema",
    "DEFAULT_FILTER_BACKENDS": ["core.filtering.QueryFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": [
        "core.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_RATES": {"run_etl": ETL_TRIGGER_THROTTLE, "api_key": API_KEY_THROTTLE},
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kasparro API",
    "DESCRIPTION": "Unified cryptocurrency market data from CoinPaprika, CoinCap and a legacy CSV.",
    "VERSION": KASPARRO_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the pinned drf-spectacular-sidecar package, served as our static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "etl.models.RunStatus",
        "SourceStatusEnum": "etl.models.SourceStatus",
    },
}

# --- Login lockout (django-axes: the admin's and the browsable API's login forms) --------------
# Axes' backend first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Minutes a lockout lasts; 0 keeps it until `manage.py axes_reset`.
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES) if AXES_COOLOFF_MINUTES else None
# Comma-separated criteria, each a parameter or a "+" combination of them (username, ip_address,
# user_agent). The default locks a username from one address, so a guesser cannot lock a user out
# everywhere; behind a proxy every client has the proxy's address and it is per username.
AXES_LOCKOUT_PARAMETERS = [
    criterion.split("+") if "+" in criterion else criterion
    for criterion in env.list("AXES_LOCKOUT_PARAMETERS", default=["username+ip_address"])
]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429

# --- Static files, i18n ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (production when DEBUG is false) --------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and scrapers talk plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
# No SECURE_PROXY_SSL_HEADER: Django would take X-Forwarded-Proto from anyone. Gunicorn sets the
# request's scheme from it only for a peer in FORWARDED_ALLOW_IPS (bin/entrypoint), the TLS proxy.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own origin: the admin's, the browsable API's and Swagger UI's files are
# static files here, and /docs loads its start-up script from itself (no inline script anywhere).
# Styles allow inline: the browsable API's templates and Swagger UI set style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Logging and metrics ------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# json: one object per line for a log shipper; text: readable lines for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "text": {"()": "core.logging.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (console when DEBUG, runserver's) would print these a second time.
        "django": {"handlers": [], "level": LOG_LEVEL},
        "django.server": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
        # django-axes' banner on every start; its lockout lines (axes.handlers) stay.
        "axes.apps": {"level": "WARNING"},
        # The filesystem transport has no host by design; kombu would say so on every broker connection.
        **({"kombu.connection": {"level": "ERROR"}} if CELERY_BROKER_URL.startswith("filesystem://") else {}),
        # gunicorn's worker processes load Django, so their access and error lines take our format too.
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
# Where web processes add up HTTP request metrics when there is no REDIS_URL (core/metrics.py).
METRICS_SQLITE_PATH = Path(env.str("METRICS_SQLITE_PATH", default=str(VAR_DIR / "metrics.sqlite3")))
