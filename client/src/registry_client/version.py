"""The client's version: its first two numbers follow the registry's API version (OpenAPI ``info.version``)."""

__version__ = "1.0.0"
# Servers this client speaks to: the registry's /api/v1 at API version 1.0 (the OpenAPI document's info.version).
SUPPORTED_API_VERSIONS = ("1.0",)
