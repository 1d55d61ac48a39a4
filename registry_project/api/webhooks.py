"""``/api/v1/webhooks``: subscriptions (staff only), their deliveries, a test event and manual redelivery. The
secret is shown when a subscription is created or its secret rotated, never listed."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from registry_project.exceptions import DefinitionNotFound
from registry_project.webhooks import EVENT_PATTERN, MAX_EVENT_PATTERNS, WebhookDelivery, WebhookSubscription

MAX_DELIVERIES_LISTED = 100


class StaffOnly(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.is_staff:
            raise PermissionDenied("Webhook subscriptions are managed by staff.")
        if getattr(request.auth, "read_only", False) and request.method not in ("GET", "HEAD", "OPTIONS"):
            raise PermissionDenied("This API key is read-only; use a read-write key to change the registry.")
        return True


class SubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.CharField(max_length=64, validators=[RegexValidator(
            rf"^{EVENT_PATTERN.pattern}\Z", "Not an event pattern; use 'model.version_activated', 'model.*' or '*'.",
        )]),
        min_length=1, max_length=MAX_EVENT_PATTERNS,
    )

    class Meta:
        model = WebhookSubscription
        fields = ("id", "url", "events", "active", "description", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields) - {"secret"})
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Only http and https targets are allowed.")
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        bad = [pattern for pattern in value if not EVENT_PATTERN.fullmatch(pattern)]
        if bad:
            raise serializers.ValidationError(f"Not an event pattern: {bad[0][:64]!r}; use 'model.version_activated', 'model.*' or '*'.")
        return value


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Webhook subscriptions: the change log's entries, delivered signed (Standard Webhooks) and in order."""

    queryset = WebhookSubscription.objects.all()
    serializer_class = SubscriptionSerializer
    permission_classes = [StaffOnly]
    lookup_value_regex = r"[0-9]{1,18}"

    def openapi_request(self, schema):
        """The body create accepts, closed as the serializer is (any other field is a 400)."""
        if self.action != "create":
            return None
        return schema.component("WebhookSubscriptionRequest", {
            "type": "object",
            "required": ["url", "events"],
            "additionalProperties": False,
            "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": 2000, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
                "events": {"type": "array", "minItems": 1, "maxItems": MAX_EVENT_PATTERNS,
                           "items": {"type": "string", "maxLength": 64, "pattern": rf"^{EVENT_PATTERN.pattern}\Z"}},
                "active": {"type": "boolean"},
                "description": {"type": "string", "maxLength": 200},
                "secret": {"type": "string", "maxLength": 100, "description": "Ignored: the registry generates the secret and shows it once."},
            },
        })

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            subscription = serializer.save()
            subscription.record("webhook.created", {"url": [None, subscription.url], "events": [None, subscription.events]})
        return Response({**serializer.data, "secret": subscription.secret}, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        before = SubscriptionSerializer(subscription).data
        serializer = self.get_serializer(subscription, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            serializer.save()
            after = serializer.data
            subscription.record("webhook.updated", {k: [before[k], after[k]] for k in ("url", "events", "active", "description") if before[k] != after[k]})
        return Response(serializer.data)

    def destroy(self, request, pk=None):
        subscription = self.get_object()
        with transaction.atomic():
            subscription.record("webhook.deleted", {"url": [subscription.url, None]})
            subscription.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret; deliveries are signed with the new and the previous one until the next rotation."""
        return Response({"id": int(pk), "secret": self.get_object().rotate_secret()})

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Queue a `webhook.test` event to this subscription (sent by the worker, not by this request)."""
        subscription = self.get_object()
        with transaction.atomic():
            delivery = subscription.send_test_event()
            subscription.record("webhook.test_queued", {"delivery": str(delivery.pk)})
        return Response({"delivery": str(delivery.pk)}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The newest deliveries with their attempts (status, duration, error)."""
        rows = self.get_object().deliveries.order_by("-order", "-created_at").prefetch_related("attempt_log")[:MAX_DELIVERIES_LISTED]
        return Response({"results": [delivery_dict(d) for d in rows]})

    @extend_schema(request=None, parameters=[OpenApiParameter("delivery", str, OpenApiParameter.PATH)])
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery>[0-9a-f-]{32,36})/redeliver")
    def redeliver(self, request, pk=None, delivery=None):
        """Send a delivery again (a dead letter, or one already delivered)."""
        found = WebhookDelivery.objects.filter(subscription=self.get_object(), pk=delivery).first()
        if found is None:
            raise DefinitionNotFound(f"No delivery {delivery} for this subscription.", path="delivery")
        with transaction.atomic():
            found.redeliver()
            found.subscription.record("webhook.redelivery_queued", {"delivery": str(found.pk)})
        return Response({"delivery": str(found.pk), "status": "pending"}, status=status.HTTP_202_ACCEPTED)


def delivery_dict(delivery: WebhookDelivery) -> dict:
    return {
        "id": str(delivery.pk),
        "event": delivery.payload.get("type"),
        "entry_id": delivery.entry_id,
        "status": delivery.status,
        "attempts": [
            {"at": a.at.isoformat(), "status_code": a.status_code, "duration_ms": a.duration_ms, "error": a.error}
            for a in delivery.attempt_log.all()
        ],
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "last_error": delivery.last_error,
    }
