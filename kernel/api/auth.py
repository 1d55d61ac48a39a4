"""``Authorization: Api-Key <key>`` for services; the admin session for people in a browser."""

from __future__ import annotations

from typing import ClassVar

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from kernel.credentials import current_token, verified_keys
from kernel.models import ApiKey
from registry_project.private_apis.for_drf import leave_unauthenticated

KEYWORD = "Api-Key"
# Schemes clients commonly send an API key with. Refused with the scheme to use rather than ignored, which would
# answer "credentials were not provided" to a caller who did send them. (An endpoint that takes one of them, as an
# MLflow-compatible API takes Bearer, sets its own authentication classes.)
OTHER_KEY_SCHEMES = frozenset({b"bearer", b"token"})


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if header and header[0].lower() in OTHER_KEY_SCHEMES:
            raise exceptions.AuthenticationFailed(
                f"The Authorization scheme '{header[0].decode('ascii')}' is not accepted; send the key as "
                f"'Authorization: {KEYWORD} <key>'."
            )
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(f"The Authorization header must be '{KEYWORD} <key>'.")
        key = decoded_key(header[1])
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if isinstance(view, ConfirmsCredentialsLate) and view.confirms_late(request):
            cached = verified_keys.get_unconfirmed(key)
            if cached is not None and not cached[2].has_expired:
                token, user, api_key = cached
                request.unconfirmed_credentials = (key, token)  # confirmed before the answer: confirm_credentials
                return user, api_key
        return self.verified(key, current_token())

    @staticmethod
    def verified(key: str, token: str | None):
        """(user, api_key) for ``key`` as the database has it under the credential ``token``: from the cache when it
        was verified under that token, else looked up, checked and cached."""
        cached = verified_keys.get(key, token)
        if cached is not None:
            user, api_key = cached
            if not api_key.has_expired:
                _record_use(key, token, api_key)
                return user, api_key
        try:
            api_key = ApiKey.objects.get_from_key(key)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed(f"This API key expired at {api_key.expiry_date.isoformat()}.")
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("The user this API key belongs to is inactive.")
        api_key.record_use()
        # The user's permissions are read now and kept with it: the credential token also changes with any
        # change to permissions or groups (migration 0010), so a cached write never checks stale permissions.
        api_key.user.get_all_permissions()
        verified_keys.put(key, token, api_key.user, api_key)
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing.
        return KEYWORD


def decoded_key(raw: bytes) -> str:
    """The API key an Authorization header carries (its second word), refused when it cannot be one."""
    try:
        key = raw.decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("An API key is plain ASCII.") from None
    if "\x00" in key or len(key) > 200:
        raise exceptions.AuthenticationFailed("Invalid API key.")
    return key


class BearerApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <api key>`` (or ``Api-Key <api key>``), for an API whose clients send the key as a
    bearer token: MLflow's client sends ``MLFLOW_TRACKING_TOKEN`` so (models_app/mlflow_api/). The same keys,
    checks and cache as ``ApiKeyAuthentication``; only the scheme differs."""

    SCHEMES = frozenset({b"bearer", KEYWORD.lower().encode()})

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() not in self.SCHEMES:
            raise exceptions.AuthenticationFailed(
                f"The Authorization scheme '{header[0].decode('ascii', 'replace')}' is not accepted here; send the "
                "API key as 'Authorization: Bearer <key>' (MLFLOW_TRACKING_TOKEN=<key>)."
            )
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <key>'.")
        return ApiKeyAuthentication.verified(decoded_key(header[1]), current_token())

    def authenticate_header(self, request) -> str:
        return "Bearer"


def _record_use(key: str, token: str | None, api_key: ApiKey) -> None:
    # At most one write a minute (LAST_USED_PRECISION); the cache's own copy learns it, or every later hit would
    # write again.
    if api_key.record_use():
        verified_keys.note_use(key, token, api_key.last_used_at)


class ConfirmsCredentialsLate:
    """A view whose document reads (``late_confirmed_actions``, GET and HEAD) confirm a cached API key with the
    credential token their own statement selected (``kernel.reads.lookups``, ``credentials.token_column``)
    instead of reading the token first: one round trip less on the services' hot path.

    The guarantee is the one ``kernel.credentials`` gives, unchanged: nothing is answered to a key that
    the database no longer accepts, on any process, from its very next request. The key is confirmed before any
    answer leaves: by the handler with its statement's token (the same snapshot as the document), or, when the
    read ends otherwise (a 404, a 400, any exception), by reading the token then (``handle_exception``,
    ``finalize_response``). Until then the read has only read. The rate limit and the permissions are checked
    once the key is confirmed, with the key as the database has it then, and the key's use is recorded then.
    Every other request (lists, writes, OPTIONS) reads the token first, as before."""

    late_confirmed_actions: ClassVar[tuple[str, ...]] = ()

    def confirms_late(self, request) -> bool:
        return request.method in ("GET", "HEAD") and getattr(self, "action", None) in self.late_confirmed_actions

    def check_throttles(self, request):
        if getattr(request, "unconfirmed_credentials", None) is not None:
            return  # checked once the key is confirmed (confirm_credentials), against its limits as they are then
        super().check_throttles(request)

    def handle_exception(self, exc):
        try:
            confirm_credentials(self, self.request)
        except exceptions.APIException as refused:
            exc = refused
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        try:
            confirm_credentials(self, request)
        except exceptions.APIException as exc:
            response = self.handle_exception(exc)
        return super().finalize_response(request, response, *args, **kwargs)


def confirm_credentials(view, request, token: str | None = None) -> None:
    """Confirm the cached key a read was let in with (``ApiKeyAuthentication``), against ``token`` (the credential
    token a statement of the read selected) or, without one, the token read now; then check the permissions (if
    the key was verified again) and the rate limit that waited for it. A token that changed means the key is
    verified again: AuthenticationFailed, with the request then unauthenticated, when the database no longer
    accepts it. A no-op for a request that was authenticated up front."""
    pending = getattr(request, "unconfirmed_credentials", None)
    if pending is None:
        return
    request.unconfirmed_credentials = None
    key, cached_token = pending
    if token is None:
        token = current_token()
    if token is not None and token == cached_token:
        _record_use(key, token, request.auth)
    else:
        verified_keys.discard(key)
        try:
            request.user, request.auth = ApiKeyAuthentication.verified(key, token)
        except exceptions.AuthenticationFailed:
            leave_unauthenticated(request)
            raise
        view.check_permissions(request)
    view.check_throttles(request)


# The Django model permission a write needs, by HTTP method, for a viewset's standard actions (as DRF's
# DjangoModelPermissions); every other write (an ``@action``, an APIView's method) names its verb in
# ``permission_verbs``, or is refused.
METHOD_VERBS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}
STANDARD_ACTIONS = frozenset({"create", "update", "partial_update", "destroy"})


class RegistryAccess(BasePermission):
    """Any authenticated caller reads. A write needs, all at once:

    - the user's Django model permission for it (``models_app.add_modelversion`` to register a model version,
      ``change_modelversion`` to update or move one through its lifecycle, ``delete_model`` to delete a model),
      whether the user calls with an API key (keys act as their user) or a browser session;
    - with an API key, a read-write key (the read-only flag is a ceiling over the user's permissions);
    - with a browser session, a staff user.

    A write declares the permission it needs (``required_permission``): a viewset's standard actions take their
    verb from the HTTP method, any other write names it in ``permission_verbs`` ({action: verb}), and the model
    is ``permission_model(verb)`` or the queryset's. A write that declares none is refused, to everyone
    (superusers too): it fails closed. POST actions that compute an answer and change nothing (``validate``,
    ``evaluate``, ``verify``) are listed in the view's ``read_only_actions``; the permission walker
    (tests/kernel/test_permission_walker.py) holds them to its one list.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if is_read(request.method, view) or getattr(view, request.method.lower(), None) is None:
            return True  # a read; or a method the view does not take, which dispatch answers with a 405
        if isinstance(request.auth, ApiKey):
            if request.auth.read_only:
                raise exceptions.PermissionDenied(
                    "This API key is read-only; use a read-write key to change the registry."
                )
        elif not user.is_staff:
            raise exceptions.PermissionDenied("Only staff users may change the registry from a browser session.")
        permission = self.required_permission(request.method, view)
        if permission is None:
            raise exceptions.PermissionDenied(
                f"{request.method} {request.path} declares no permission, so nobody may call it (the server's fault)."
            )
        if not user.has_perm(permission):
            raise exceptions.PermissionDenied(f"User '{user.get_username()}' lacks the permission {permission}.")
        return True

    @staticmethod
    def required_permission(method: str, view) -> str | None:
        """The ``app_label.verb_model`` permission a write by ``method`` on ``view`` (its ``action`` set) declares,
        or None when it declares none."""
        action = getattr(view, "action", None)
        verb = getattr(view, "permission_verbs", {}).get(action)
        if verb is None and action in STANDARD_ACTIONS:
            verb = METHOD_VERBS.get(method)
        if verb is None:
            return None
        if hasattr(view, "permission_model"):
            model = view.permission_model(verb)
        else:
            model = getattr(getattr(view, "queryset", None), "model", None)
        return f"{model._meta.app_label}.{verb}_{model._meta.model_name}" if model is not None else None


def is_read(method: str, view) -> bool:
    """A read, or a POST that computes an answer and changes nothing (the view's ``read_only_actions``)."""
    return method in SAFE_METHODS or getattr(view, "action", None) in getattr(view, "read_only_actions", ())


def work_refused(request) -> str | None:
    """Why ``request`` may not make the registry do work on its behalf (a fresh statistics snapshot), or None:
    the work is staff's to ask for, and never with a read-only key (it is work, though it answers a GET)."""
    if not request.user.is_staff:
        return "Only staff may ask for a fresh snapshot; the stored one is refreshed on a schedule."
    if isinstance(request.auth, ApiKey) and request.auth.read_only:
        return (
            "This API key is read-only, and a refresh recomputes the statistics; use a read-write key, or read the "
            "stored snapshot (refreshed on a schedule)."
        )
    return None


class StaffOnly(BasePermission):
    """Administrative actions (restoring a deleted definition): the caller's user must be staff, whether it
    comes with an API key or a session."""

    message = "Only staff users may do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_staff)
