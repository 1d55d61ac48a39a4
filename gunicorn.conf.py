"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py registry_project.wsgi:application``.

Every value can be overridden from the environment (GUNICORN_BIND, WEB_CONCURRENCY, GUNICORN_THREADS,
GUNICORN_TIMEOUT) or on the command line. Metrics are correct across workers through prometheus_client's
multiprocess mode: each worker writes its samples to PROMETHEUS_MULTIPROC_DIR, /metrics merges them, the
directory is emptied when the server starts (stale files from a previous run would be counted again) and a
worker's live gauges are dropped when it exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# (2 x cores) + 1 is gunicorn's rule of thumb; the registry is I/O-bound on PostgreSQL.
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1) + 1)))
# Threads, not processes, wait for slow clients: an upload holds one thread while its bytes stream through, and
# a worker takes connections only while it has an idle thread (registry_project/gunicorn_workers.py says why).
# Each thread keeps its own database connection: workers x threads is the most the server opens.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# With threads this is an idle deadline: a client that sends or takes nothing for this long is cut off. The length
# of a transfer is not bounded (the worker's heartbeat runs on its own thread).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Answers gunicorn's own errors (414, 431, malformed requests) in the API's JSON error shape, too.
worker_class = "registry_project.gunicorn_workers.RegistryThreadWorker"
# Bound what a client may send before Django sees it (DATA_UPLOAD_MAX_MEMORY_SIZE bounds the body).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Access lines come from the registry's own request log (JSON, with the request id); gunicorn's would repeat them.
# Its logger class also skips building them (gunicorn would, because logconfig_dict is set).
accesslog = None
logger_class = "registry_project.gunicorn_workers.RegistryLogger"
errorlog = "-"
# gunicorn's own lines (start, worker boot and timeouts) in the registry's format too (registry_project/logs.py;
# LOG_FORMAT as in settings: json unless DEBUG is on).
_debug = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "registry_project.logs.formatter",
            "log_format": os.environ.get("LOG_FORMAT", "console" if _debug else "json").strip().lower(),
        }
    },
    "handlers": {
        "error_console": {"class": "logging.StreamHandler", "formatter": "structured", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "gunicorn.error": {
            "level": "INFO",
            "handlers": ["error_console"],
            "propagate": False,
            "qualname": "gunicorn.error",
        },
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False, "qualname": "gunicorn.access"},
    },
    "root": {"level": "INFO", "handlers": []},
}
# The TLS proxy in front sets X-Forwarded-Proto; gunicorn trusts it only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Multiprocess metrics: the directory must exist before any worker imports prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "registry-prometheus"))


def on_starting(server) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# Tracing (registry_project/tracing.py) starts in each worker after the fork: the span processor's export thread
# would not survive a fork from the master. Off unless the OTEL_* variables ask for it.
def post_fork(server, worker) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_project.settings")
    from registry_project import tracing

    tracing.start()


def worker_exit(server, worker) -> None:
    from registry_project import tracing

    tracing.shutdown()
