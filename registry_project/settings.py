"""Settings, read from the environment in this one place.

Parsing is strict: ``DEBUG=Flase`` is a configuration error, not ``False``. Defaults are safe for production
(DEBUG off, no default secret) except where a value only matters for a local first run (SQLite, inline tasks).
"""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# Local development: `make run` writes .env (DEBUG=true and a generated SECRET_KEY) so every manage.py command works
# without flags. Variables already in the environment win; production has no .env and still needs SECRET_KEY.
if (BASE_DIR / ".env").is_file() and not env.bool("REGISTRY_IGNORE_DOTENV", default=False):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of true/false, 1/0, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not value >= minimum or value == float("inf"):
        raise ImproperlyConfigured(f"{name}={raw!r} must be a finite number of at least {minimum}.")
    return value


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "registry_project.admin_site.RegistryAdminConfig",  # django.contrib.admin with the console's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "axes",
    "kernel",
    "models_app",
    "pipelines_app",
    "policies_app",
    "bindings_app",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Database statements and their time per request, by route (kernel/metrics.py).
    "kernel.metrics.RequestMetricsMiddleware",
    "registry_project.middleware.RequestIdMiddleware",
    "registry_project.logs.AccessLogMiddleware",
    # Under MLflow's paths (models_app/mlflow_api), MLflow's error shape for what the next one answers.
    "models_app.mlflow_api.errors.MlflowErrorShapeMiddleware",
    # Outermost of ours: any non-JSON error under /api/ (Django's debug pages, a bad Host) gets the error shape.
    "kernel.api.errors_middleware.ApiErrorShapeMiddleware",
    "registry_project.middleware.RejectNulBytesMiddleware",
    "registry_project.middleware.RejectEmptyQueryValuesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who made a change (API key or admin user), for the change log's entries.
    "kernel.models.changelog.ChangeActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # A database failure is a 503 with Retry-After, never a 500; a read on a lost connection runs once more.
    "registry_project.middleware.DatabaseFailureMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "registry_project.urls"
# API paths have no trailing slash (as in DESIGN.md); never redirect a POST to a slashed URL.
APPEND_SLASH = False
WSGI_APPLICATION = "registry_project.wsgi.application"

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
            ],
        },
    },
]

# Database: SQLite is the embedded default for a first run; PostgreSQL (DATABASE_URL) in production and CI.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Opening a PostgreSQL connection costs ~9 ms here, more than a whole lookup: keep connections open.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer-transaction; docs/production.md, "Behind PgBouncer")
# each transaction may run in another server session, so nothing may outlive one: no server-side cursors (Django's
# .iterator() declares them WITH HOLD outside a transaction), no prepared statements unless PgBouncer 1.21+ keeps them
# (max_prepared_statements: then DATABASE_PREPARED_STATEMENTS=true), no session-level advisory locks
# (registry_project.db.sessions_outlive_transactions says which to skip).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="none").strip().lower()
if DATABASE_POOLER not in ("none", "pgbouncer-transaction"):
    raise ImproperlyConfigured(f"DATABASE_POOLER={DATABASE_POOLER!r} must be 'none' or 'pgbouncer-transaction'.")
DATABASES["default"]["POOLER"] = DATABASE_POOLER
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_POOLER == "pgbouncer-transaction"
# The hot path's fixed reads (document lookups, the credential token) as server-prepared statements (registry_project/db).
DATABASES["default"]["PREPARED_STATEMENTS"] = env_bool("DATABASE_PREPARED_STATEMENTS", DATABASE_POOLER == "none")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith(("postgresql", "postgis"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that polls the socket instead of sending SELECT 1 (registry_project/db).
    DATABASES["default"]["ENGINE"] = "registry_project.db"
# Read replicas (registry_project/replicas.py; docs/production.md, "Read replicas"): PostgreSQL streaming replicas,
# comma-separated URLs, each the alias replica_1, replica_2, ... API reads (GET, HEAD) go to one in rotation; writes,
# and every read of a write, to the primary. None: no router and no middleware, everything on the primary.
DATABASE_REPLICA_URLS = env.list("DATABASE_REPLICA_URLS", default=[])
# A read without a consistency token sees data at most this old; a replica further behind is out of rotation.
DATABASE_REPLICA_MAX_LAG_SECONDS = env_float("DATABASE_REPLICA_MAX_LAG_SECONDS", 5.0, minimum=0.1)
# How often each process checks its replicas' positions (when a read needs them), at most.
DATABASE_REPLICA_CHECK_SECONDS = env_float("DATABASE_REPLICA_CHECK_SECONDS", 1.0, minimum=0.05)
REPLICA_CONNECTION_OPTIONS = {
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 10000,  # milliseconds
}
if DATABASE_REPLICA_URLS:
    if not IS_POSTGRES:
        raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs a PostgreSQL primary (DATABASE_URL).")
    if DATABASE_REPLICA_CHECK_SECONDS >= DATABASE_REPLICA_MAX_LAG_SECONDS:
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_CHECK_SECONDS must be below DATABASE_REPLICA_MAX_LAG_SECONDS (a replica may fall one "
            "check interval behind before it is checked again)."
        )
    for number, url in enumerate(DATABASE_REPLICA_URLS, start=1):
        replica = env.db_url_config(url)
        if replica["ENGINE"] != "django.db.backends.postgresql":
            raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS: replica {number} is not a PostgreSQL URL.")
        # A replica out of reach is soon out of rotation: a new connection gives up after 2 s, and one whose host
        # stops answering mid-read fails within about 10 s (TCP keepalives and tcp_user_timeout, libpq's), not after
        # the kernel's 2 hours of keepalive or 15 minutes of retransmissions. A URL's own values win.
        for option, value in REPLICA_CONNECTION_OPTIONS.items():
            replica.setdefault("OPTIONS", {}).setdefault(option, value)
        DATABASES[f"replica_{number}"] = {
            **DATABASES["default"],
            **replica,
            "ENGINE": DATABASES["default"]["ENGINE"],
            "TEST": {"MIRROR": "default"},
        }
    DATABASE_ROUTERS = ["registry_project.replicas.ReplicaRouter"]
    # Inside DatabaseFailureMiddleware: a read whose replica failed is answered again, from another database.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("registry_project.middleware.DatabaseFailureMiddleware") + 1,
        "registry_project.replicas.ReplicaReadMiddleware",
    )
# django.contrib.postgres stays installed on SQLite too: its hooks do nothing there, and from Django 6.0 a
# SearchVectorField without it is a system check error (postgres.E005), which would stop `make run`.

# Cache: Redis when REDIS_URL is set (shared by every replica), process-local memory otherwise.
REDIS_URL = env.str("REDIS_URL", default="")
# Redis is an accelerator (registry_project/resilience.py): tens of milliseconds at most per call, and a circuit
# breaker that stops calling it for REDIS_BREAKER_RESET_SECONDS after REDIS_BREAKER_FAIL_MAX failures in a row.
REDIS_CACHE_TIMEOUT_MS = env_int("REDIS_CACHE_TIMEOUT_MS", 50, minimum=1)
REDIS_BREAKER_FAIL_MAX = env_int("REDIS_BREAKER_FAIL_MAX", 2, minimum=1)
REDIS_BREAKER_RESET_SECONDS = env_int("REDIS_BREAKER_RESET_SECONDS", 30, minimum=1)
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "registry_project.resilience.ResilientRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: without a broker, tasks run inline so the embedded default needs no services.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it starts unless it declares itself idempotent (acks_late=True on the task): only
# those may run twice after a worker dies mid-task.
CELERY_TASK_ACKS_LATE = False
# Defaults for every task; the lifecycle jobs set their own (kernel/tasks.py and models_app/tasks.py read the settings below).
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Lifecycle jobs (docs/operations.md, "Worker and beat"). Intervals in seconds; one beat process only.
RETENTION_KEEP = env_int("RETENTION_KEEP", 3, minimum=1)
if RETENTION_KEEP > 10:
    raise ImproperlyConfigured(f"RETENTION_KEEP={RETENTION_KEEP} must be between 1 and 10.")
RETENTION_PURGE_AFTER_DAYS = env_int("RETENTION_PURGE_AFTER_DAYS", 30, minimum=0)
RETENTION_BATCH_MODELS = env_int("RETENTION_BATCH_MODELS", 2000, minimum=1)
RETENTION_INTERVAL_SECONDS = env_int("RETENTION_INTERVAL_SECONDS", 3600, minimum=1)
RETENTION_TIME_LIMIT_SECONDS = env_int("RETENTION_TIME_LIMIT_SECONDS", 1800, minimum=10)
STATS_REFRESH_SECONDS = env_int("STATS_REFRESH_SECONDS", 60, minimum=1)
STATS_TIME_LIMIT_SECONDS = env_int("STATS_TIME_LIMIT_SECONDS", 120, minimum=10)
# Redis redelivers an unacknowledged task after the visibility timeout: it must outlast the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": max(3600, 2 * RETENTION_TIME_LIMIT_SECONDS)}
CELERY_BEAT_SCHEDULE: dict = {
    "apply-retention": {"task": "models_app.tasks.apply_retention", "schedule": float(RETENTION_INTERVAL_SECONDS)},
    "refresh-stats": {"task": "kernel.tasks.refresh_stats", "schedule": float(STATS_REFRESH_SECONDS)},
}
# Beat's own record of last runs (a file, not the database: docs/operations.md says why not django-celery-beat).
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "celerybeat-schedule"))
# Exactly one beat, enforced (registry_project/beat.py): it takes a lock in the broker's Redis or exits with status 1,
# renews it on every pass, releases it when it stops; a dead beat's lock expires this long after its last renewal.
CELERY_BEAT_SCHEDULER = "registry_project.beat:SingleBeatScheduler"
BEAT_LOCK_TTL_SECONDS = env_int("BEAT_LOCK_TTL_SECONDS", 30, minimum=3)
# Webhooks (kernel/models/webhooks.py): the beat job relays the change log's outbox and sends what is due.
WEBHOOK_RELAY_INTERVAL_SECONDS = env_int("WEBHOOK_RELAY_INTERVAL_SECONDS", 5, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_BACKOFF_BASE_SECONDS = env_int("WEBHOOK_BACKOFF_BASE_SECONDS", 10, minimum=1)
WEBHOOK_BACKOFF_CAP_SECONDS = env_int("WEBHOOK_BACKOFF_CAP_SECONDS", 3600, minimum=1)
# Webhooks go to globally routable addresses only (kernel/egress.py); these names, addresses or CIDRs
# (comma-separated) are the operator's exceptions for internal receivers, e.g. "hooks.corp,10.1.2.0/24".
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
try:
    from kernel.egress import parse_allow_list

    parse_allow_list(WEBHOOK_ALLOWED_HOSTS)
except ValueError as error:
    raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_HOSTS: {error}.") from None
# Deliveries have their own queue and worker (docs/operations.md): a slow receiver never delays the lifecycle jobs.
CELERY_TASK_ROUTES = {
    "kernel.tasks.deliver_webhooks": {"queue": "webhooks"},
    "kernel.tasks.deliver_webhook_lane": {"queue": "webhooks"},
}
CELERY_BEAT_SCHEDULE["deliver-webhooks"] = {
    "task": "kernel.tasks.deliver_webhooks",
    "schedule": float(WEBHOOK_RELAY_INTERVAL_SECONDS),
}
# Idempotency keys (kernel/models/idempotency.py): how long a key answers its stored response, and how often the
# lifecycle job deletes expired ones.
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24, minimum=1)
CELERY_BEAT_SCHEDULE["purge-idempotency-keys"] = {"task": "kernel.tasks.purge_idempotency_keys", "schedule": 3600.0}
# Re-read every stored artifact and recompute its BLAKE3 (models_app/artifacts/verify.py): weekly, Sunday 03:00 UTC.
CELERY_BEAT_SCHEDULE["verify-artifacts"] = {
    "task": "models_app.tasks.verify_artifacts",
    "schedule": crontab(minute=0, hour=3, day_of_week="sunday"),
}
# Backups (kernel/backup_jobs.py, docs/operations.md "Scheduled backups"): beat writes an export to the artifact
# storage under BACKUP_PREFIX/registry-<UTC time>-<id>.jsonl.gz every BACKUP_INTERVAL_SECONDS, keeps the newest
# BACKUP_KEEP, and every RESTORE_CHECK_INTERVAL_SECONDS restores the newest into a scratch database
# (RESTORE_CHECK_DATABASE_NAME on PostgreSQL's server, created and dropped by the check; a temporary file on SQLite).
BACKUP_INTERVAL_SECONDS = env_int("BACKUP_INTERVAL_SECONDS", 86400, minimum=1)
BACKUP_KEEP = env_int("BACKUP_KEEP", 7, minimum=1)
if BACKUP_KEEP > 1000:
    raise ImproperlyConfigured(f"BACKUP_KEEP={BACKUP_KEEP} must be between 1 and 1000.")
BACKUP_PREFIX = env.str("BACKUP_PREFIX", default="_registry/backups").strip("/")
BACKUP_TIME_LIMIT_SECONDS = env_int("BACKUP_TIME_LIMIT_SECONDS", 3600, minimum=10)
RESTORE_CHECK_INTERVAL_SECONDS = env_int("RESTORE_CHECK_INTERVAL_SECONDS", 86400, minimum=1)
RESTORE_CHECK_DATABASE_NAME = env.str("RESTORE_CHECK_DATABASE_NAME", default="")
CELERY_BEAT_SCHEDULE["backup-registry"] = {
    "task": "kernel.tasks.backup_registry",
    "schedule": float(BACKUP_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE["check-restore"] = {
    "task": "kernel.tasks.check_restore",
    "schedule": float(RESTORE_CHECK_INTERVAL_SECONDS),
}
# Publishing never waits long on a stalled broker: short socket timeouts, no publish retries, and a circuit
# breaker around apply_async (registry_project/celery.py).
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_TIMEOUT_MS", 500, minimum=1) / 1000
CELERY_BROKER_TRANSPORT_OPTIONS.update(
    {
        "socket_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
        "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
        "max_retries": 0,
    }
)
CELERY_TASK_PUBLISH_RETRY = False

# Admin login brute-force protection (django-axes): AXES_FAILURE_LIMIT wrong passwords for one username from one
# IP address lock that pair out for AXES_COOLOFF_MINUTES (other users and addresses are unaffected). Attempts are
# rows in the database, so every worker and replica shares them; `manage.py axes_reset` lifts every lockout. API
# keys never pass through these backends, so the API is unaffected.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Not verbose: django-axes would log its "AXES: BEGIN version ..." banner at every start, so every management
# command printed it; lockouts are still logged.
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registry_project/admin_locked_out.html"
# The client address the lockout keys on: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT reverse proxies the address
# the outermost one saw (registry_project.request_context.client_address). Without it every client behind a proxy
# shares the proxy's address and the lockout becomes per username alone.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "registry_project.request_context.client_address"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# gunicorn serves the admin's and Swagger UI's static files through WhiteNoise; finders make it work before (or
# without) collectstatic.
WHITENOISE_USE_FINDERS = True
# Before collectstatic has run, STATIC_ROOT does not exist; the finders serve everything, so that is fine.
warnings.filterwarnings("ignore", message="No directory at: ")

# Request limits. A body over MAX_REQUEST_BYTES is a 413; JSON nested deeper than MAX_JSON_DEPTH is a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024)
MAX_JSON_DEPTH = env_int("MAX_JSON_DEPTH", 32, minimum=4)
# Longer URLs under /api/ get a JSON 414 (gunicorn's own limit_request_line, 4094 by default, applies before this).
MAX_URL_LENGTH = env_int("MAX_URL_LENGTH", 4000, minimum=256)

# Registry rules that operators tune.
MODEL_ARTIFACT_MAX_BYTES = env_int("MODEL_ARTIFACT_MAX_BYTES", 500 * 10**9, minimum=1)
MAX_PIPELINE_STEPS = env_int("MAX_PIPELINE_STEPS", 50, minimum=1)
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50, minimum=1)
MAX_POLICY_RULES = env_int("MAX_POLICY_RULES", 100, minimum=1)
# What a policy evaluation answers when no hard rbac rule matches: deny unless an operator opts out.
POLICY_DEFAULT_EFFECT = env.str("POLICY_DEFAULT_EFFECT", default="deny").strip().lower()
if POLICY_DEFAULT_EFFECT not in ("allow", "deny"):
    raise ImproperlyConfigured(f"POLICY_DEFAULT_EFFECT={POLICY_DEFAULT_EFFECT!r} must be 'allow' or 'deny'.")
API_MAX_PAGE_SIZE = 100
# A list counts its matches exactly up to this many (or to the page's end, when further); past it, ``count`` is a
# lower bound and ``count_is_exact`` is false, so a page of a large registry never costs a count of everything. The
# count reads up to this many matches (more rows when a filter is unselective): 1,000 keeps it within a few pages'
# cost (docs/benchmarks.md, "Scale").
API_LIST_COUNT_LIMIT = env_int("API_LIST_COUNT_LIMIT", 1_000, minimum=1)

# Lineage and attestations (models_app/lineage/, models_app/attestations/).
# A metric is better when higher unless named here (a model may override either way: metric_directions).
METRICS_LOWER_IS_BETTER = env.list(
    "METRICS_LOWER_IS_BETTER",
    default=[
        "latency_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "loss",
        "perplexity",
        "error_rate",
        "wer",
        "cer",
        "cost_per_1k_tokens",
    ],
)
LINEAGE_MAX_DEPTH = env_int("LINEAGE_MAX_DEPTH", 1000, minimum=1)  # ancestors a version may have
LINEAGE_MAX_NODES = env_int("LINEAGE_MAX_NODES", 1000, minimum=1)  # descendants one lineage answer lists
# The Ed25519 key that signs attestations: a PEM file (PKCS#8), never the database. `make run` (DEBUG) creates a
# local one at the default path; production sets the path (a mounted secret) or issues no attestations.
ATTESTATION_SIGNING_KEY_FILE = env.str(
    "ATTESTATION_SIGNING_KEY_FILE", default=str(BASE_DIR / ".local" / "attestation-ed25519.pem") if DEBUG else ""
)
# Retired keys (PEM files, public or private) whose old attestations must stay verifiable after a rotation.
ATTESTATION_RETIRED_KEY_FILES = env.list("ATTESTATION_RETIRED_KEY_FILES", default=[])


# Provider bindings: live figures over a window of time slices (bindings_app/latency.py), SLO moves, routing.
BINDING_SLICE_SECONDS = env_int("BINDING_SLICE_SECONDS", 60, minimum=1)
BINDING_WINDOW_MINUTES = env_int("BINDING_WINDOW_MINUTES", 15, minimum=1)
if BINDING_WINDOW_MINUTES * 60 % BINDING_SLICE_SECONDS:
    raise ImproperlyConfigured("BINDING_WINDOW_MINUTES must be a whole number of BINDING_SLICE_SECONDS slices.")
# Below this many reports in the window a binding shows "no data" and its status does not move.
BINDING_SLO_MIN_SAMPLES = env_int("BINDING_SLO_MIN_SAMPLES", 20, minimum=1)
BINDING_MAX_REPORT_BATCH = 1000
BINDING_REPORT_MAX_CLOCK_SKEW_SECONDS = 300
# Balanced routing score = the weighted mean of success, latency and cost scores (each 0..1); see bindings_app/routing.py.
ROUTE_WEIGHTS = {
    "success": env_float("ROUTE_WEIGHT_SUCCESS", 0.5),
    "latency": env_float("ROUTE_WEIGHT_LATENCY", 0.3),
    "cost": env_float("ROUTE_WEIGHT_COST", 0.2),
}
if not sum(ROUTE_WEIGHTS.values()) > 0:
    raise ImproperlyConfigured(
        "At least one of ROUTE_WEIGHT_SUCCESS, ROUTE_WEIGHT_LATENCY, ROUTE_WEIGHT_COST must be above 0."
    )
# The score a binding with "no data" gets for success and latency: neither best nor worst.
ROUTE_NO_DATA_SCORE = env_float("ROUTE_NO_DATA_SCORE", 0.5)
if ROUTE_NO_DATA_SCORE > 1:
    raise ImproperlyConfigured("ROUTE_NO_DATA_SCORE must be between 0 and 1.")
# Artifact storage (models_app/artifacts/storage.py): the filesystem under ARTIFACT_ROOT, or an S3-compatible store with
# ARTIFACT_STORAGE=s3. Credentials come from the environment only, never from the database.
ARTIFACT_STORAGE = env.str("ARTIFACT_STORAGE", default="filesystem").strip().lower()
if ARTIFACT_STORAGE not in ("filesystem", "s3"):
    raise ImproperlyConfigured(f"ARTIFACT_STORAGE={ARTIFACT_STORAGE!r} must be 'filesystem' or 's3'.")
ARTIFACT_ROOT = env.str("ARTIFACT_ROOT", default=str(BASE_DIR / "artifacts"))
# Largest stored file: the platform's 500 GB, or 1 GB on the embedded default (SQLite, local disk).
ARTIFACT_MAX_FILE_BYTES = env_int("ARTIFACT_MAX_FILE_BYTES", 500 * 10**9 if IS_POSTGRES else 10**9, minimum=1)
# How long a presigned S3 download URL stays valid.
ARTIFACT_URL_EXPIRE_SECONDS = env_int("ARTIFACT_URL_EXPIRE_SECONDS", 300, minimum=1)
ARTIFACT_S3 = {
    "bucket_name": env.str("ARTIFACT_S3_BUCKET", default=""),
    "endpoint_url": env.str("ARTIFACT_S3_ENDPOINT_URL", default="") or None,
    "region_name": env.str("ARTIFACT_S3_REGION", default="") or None,
    "access_key": env.str("ARTIFACT_S3_ACCESS_KEY_ID", default="") or None,
    "secret_key": env.str("ARTIFACT_S3_SECRET_ACCESS_KEY", default="") or None,
    "location": env.str("ARTIFACT_S3_PREFIX", default=""),
}
if ARTIFACT_STORAGE == "s3" and not ARTIFACT_S3["bucket_name"]:
    raise ImproperlyConfigured("ARTIFACT_STORAGE=s3 needs ARTIFACT_S3_BUCKET.")


def env_rate(name: str, default: str) -> tuple[int, int]:
    """``"100/min burst 150"`` -> (100 requests per minute, bursts of 150)."""
    raw = env.str(name, default=default)
    match = re.fullmatch(r"\s*(\d+)\s*/\s*min(?:\s+burst\s+(\d+))?\s*", raw)
    if not match or int(match[1]) < 1 or (match[2] and int(match[2]) < int(match[1])):
        raise ImproperlyConfigured(f"{name}={raw!r} must look like '100/min burst 150' (burst >= rate >= 1).")
    return int(match[1]), int(match[2] or match[1])


# Per API key (or session user): requests per minute and burst; validate/evaluate have their own bucket.
API_RATE_LIMIT = env_rate("API_RATE_LIMIT", "100/min burst 150")
API_CHECK_RATE_LIMIT = env_rate("API_CHECK_RATE_LIMIT", "1000/min burst 1500")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kernel.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["kernel.api.auth.RegistryAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["kernel.api.throttling.RegistryRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["kernel.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "kernel.api.pagination.StrictLimitOffsetPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "kernel.api.schema.RegistryAutoSchema",
    "DEFAULT_METADATA_CLASS": "kernel.api.metadata.RegistryMetadata",
    "EXCEPTION_HANDLER": "kernel.api.errors.exception_handler",
    "PAGE_SIZE": API_PAGE_SIZE,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ML Registry API",
    "DESCRIPTION": "Models, pipelines, policies and provider bindings: registered, versioned, validated.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI are public, and the UI's assets are served from this app (no CDN).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The enum hook is drf-spectacular's default; add_links writes the links from creating operations.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "kernel.api.schema.add_links"],
    # Choice sets whose field names ("type", ...) other kinds also use.
    "ENUM_NAME_OVERRIDES": {
        # JSON Schema enums are hashed by their values alone, so these list values, not TextChoices.
        "PolicyTypeEnum": ["rate_limit", "quota", "rbac"],
        "PolicyEnforcementEnum": ["hard", "soft"],
        "BindingStatusEnum": "bindings_app.choices.BindingStatus",
        "VersionStatusEnum": ["active", "deprecated", "archived"],
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`; create one with `python manage.py create_api_key <username>`.",
            }
        }
    },
    "SECURITY": [{"ApiKeyAuth": []}],
    "AUTHENTICATION_WHITELIST": [],
}

# One JSON object per line in production, readable lines for local development (registry_project/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json").strip().lower()
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be 'json' or 'console'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "registry_project.logs.formatter", "log_format": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # HTTPS only, with HSTS: safe production defaults, each switchable from the environment (docs/production.md,
    # "TLS proxy"). Load-balancer probes and Prometheus scrape over plain HTTP inside the network.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics\Z"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients), trust it so Django
# knows the request was HTTPS. Off by default: trusting it without such a proxy lets any client claim HTTPS.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
