"""gunicorn's private APIs, behind a function and a class. Read in gunicorn 27.0.1.

Django is not imported here: gunicorn's master and workers load this through ``gunicorn.conf.py``."""

from __future__ import annotations

from collections.abc import Callable

from gunicorn import util
from gunicorn.glogging import Logger


def replace_error_writer(write: Callable[..., None]) -> None:
    """Have gunicorn's workers answer the requests they refuse themselves (414, 431, 400 before any WSGI call)
    with ``write(sock, status_int, reason, mesg)`` instead of their HTML page.

    Relies on ``gunicorn.workers.base.Worker.handle_error`` calling ``util.write_error(client, status_int, reason,
    mesg)`` through the module attribute at call time, so replacing ``gunicorn.util.write_error`` reaches every
    worker of this process (gunicorn 27.0.1). Called only by a module that a gunicorn process loads."""
    util.write_error = write


class LoggerHooks(Logger):
    """gunicorn's ``Logger`` with a public hook, ``wants_access_lines()``, for whether an access line is built.

    Relies on ``Logger._compute_access_log_enabled()``, which ``Logger.setup`` calls to set what the
    ``access_log_enabled`` property answers (and whose False keeps the protocol handlers from building the access
    line's atoms); gunicorn 27.0.1 (a version without that method would never call the hook)."""

    def wants_access_lines(self) -> bool:
        return super()._compute_access_log_enabled()

    def _compute_access_log_enabled(self):
        return self.wants_access_lines()
