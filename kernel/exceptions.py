"""Domain errors raised by model methods; the API's exception handler maps each to one HTTP status."""

from __future__ import annotations


class RegistryError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, path: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.path = path
        self.details = details or {}


class Conflict(RegistryError):
    """The request is well-formed but the registry's state forbids it (409)."""

    status_code = 409
    code = "conflict"


class NotFound(RegistryError):
    """No such thing (404): a definition, a version, or a plain entity such as a provider binding."""

    status_code = 404
    code = "not_found"


class DefinitionNotFound(NotFound):
    """No such definition or version."""
