"""Webhooks delivered from the change log as a transactional outbox.

Every change-log entry that an active subscription wants (its event patterns match the entry's action) also
appends an ``OutboxItem`` in the same transaction (``changelog.on_record``), so a committed change is delivered
at least once even if the broker or the worker was down at commit time: nothing is sent from the web request
and nothing depends on ``delay_on_commit``. A subscription therefore receives the changes committed while it is
active (and matches them); one created or re-activated later does not get the earlier ones. A Celery beat job (``deliver_webhooks``)
runs ``relay_outbox`` (claims outbox items with ``SELECT ... FOR UPDATE SKIP LOCKED``, fans them out to the
matching subscriptions as ``WebhookDelivery`` rows and deletes them, in one transaction) and then starts a
``deliver_lane`` task per subscription with work (one sender per subscription at a time, so a slow receiver
delays only its own lane), which sends each object's deliveries in change order (a delivery waits while an
earlier one of the same object to the same subscription is pending) through ``kernel.egress`` (checked
destination, total deadline, bounded read), signed per the Standard Webhooks convention, with
exponential backoff capped at ``WEBHOOK_BACKOFF_CAP_SECONDS``, every attempt recorded, and a dead letter after
``WEBHOOK_MAX_ATTEMPTS``. Written by hand rather than with a library: the only maintained Standard Webhooks
package (``standardwebhooks``) signs but has no outbox, retry or persistence, and the signing is ten lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from opentelemetry.trace import StatusCode

from kernel import egress
from kernel.models import changelog, tallies
from registry_project import tracing
from registry_project.db import sessions_outlive_transactions

EVENT_PATTERN = re.compile(r"[a-z*][a-z0-9_.*]{0,63}")
# A subscription's target, matched whole (fullmatch; the OpenAPI schema uses it as `^...\Z`): http or https, a DNS
# name or an IPv4/IPv6 literal, an optional port, then printable ASCII without spaces. The serializer, the model
# (admin) and the schema use this one pattern, so every URL the schema allows is accepted and no other.
URL_PATTERN = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::[0-9]{1,5})?"
    r"(?:[/?#][!-~]*)?"
)
URL_MAX_LENGTH = 2000
MAX_EVENT_PATTERNS = 50
SECRET_PREFIX = "whsec_"
# One relay at a time (a PostgreSQL transaction-level advisory lock): with two, a later batch could commit its
# deliveries before an earlier one and reorder an object's events.
RELAY_LOCK_KEY = 0x52454C4159  # "RELAY"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


REDACTED = "REDACTED"
QUERY_KEY = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,64}")
# A path segment shown as it is: a short lowercase word ('hooks', 'v1', 'registry-events'). Anything else may be a
# token, as receivers that authenticate by URL put theirs in the path (Slack's /services/T../B../<token>, Discord's
# /api/webhooks/<id>/<token>, Teams' GUIDs), so it is shown as REDACTED.
PATH_SEGMENT = re.compile(r"[a-z0-9._-]{1,16}")


def redacted_url(url: str) -> str:
    """``url`` as shown to anyone but the staff user who set it (the change log, the admin's lists): no
    credentials, every query value and the fragment replaced, a query key kept only when it looks like a name, a
    path segment only when it is a short lowercase word (``PATH_SEGMENT``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [
            (key if QUERY_KEY.fullmatch(key) else REDACTED, REDACTED)
            for key, _ in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]",
    )
    if parts.query and not query:
        query = REDACTED
    path = "/".join(
        segment if not segment or PATH_SEGMENT.fullmatch(segment) else REDACTED for segment in parts.path.split("/")
    )
    return urlunsplit((parts.scheme, netloc, path, query, REDACTED if parts.fragment else ""))


def check_destination(url: str) -> None:
    """A subscription's URL must name a destination the registry sends to (kernel/egress.py): checked when it is
    written (API, admin) and again before every attempt."""
    try:
        egress.destination(url)
    except egress.Refused as refused:
        raise ValidationError(str(refused), code="destination") from None


def event_matches(patterns: list[str], action: str) -> bool:
    """``*`` matches everything, ``model.*`` every model event, anything else exactly."""
    for pattern in patterns:
        if pattern == "*" or pattern == action or (pattern.endswith("*") and action.startswith(pattern[:-1])):
            return True
    return False


# event_matches in SQL, for a pattern ``p.pattern`` and an entry's ``e.action`` (the outbox's set form below);
# tests/kernel/test_rules_in_sql.py holds the two equal over many patterns and actions. starts_with, not LIKE: a
# pattern's '%' or '_' is a character like any other, as in Python.
EVENT_MATCH_SQL = "(p.pattern = e.action OR (right(p.pattern, 1) = '*' AND starts_with(e.action, left(p.pattern, -1))))"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``v1`` signature: base64 HMAC-SHA256 of ``id.timestamp.body`` keyed by the
    secret's base64 part."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookSubscription(models.Model):
    url = models.CharField(
        max_length=URL_MAX_LENGTH,
        validators=[
            RegexValidator(
                rf"^(?:{URL_PATTERN.pattern})\Z",
                "Enter an http or https URL (a host name or an IP literal, no spaces).",
            )
        ],
    )
    events = models.JSONField(default=list, help_text='Event types; "*" for all, "model.*" for a prefix.')
    secret = models.CharField(max_length=100, default=new_secret)
    # Rotation: deliveries are signed with both secrets until the receiver has switched and this is cleared.
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")
    # When a lane task was queued for this subscription and not yet finished (``queue_lanes``): one queued task per
    # lane, so a slow lane's backlog cannot crowd the other lanes out of the queue.
    lane_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "registry_project"
        db_table = "registry_webhook_subscription"
        ordering = ("id",)

    def __str__(self) -> str:
        return f"webhook {self.id} -> {redacted_url(self.url)}"

    def clean(self) -> None:
        if self.url and URL_PATTERN.fullmatch(self.url):
            try:
                check_destination(self.url)
            except ValidationError as error:
                raise ValidationError({"url": error.messages}) from None

    def rotate_secret(self) -> str:
        with transaction.atomic():
            self.previous_secret, self.secret = self.secret, new_secret()
            self.save(update_fields=["secret", "previous_secret", "updated_at"])
            self.record("webhook.secret_rotated", {"secret": ["(old)", "(new)"]})
        return self.secret

    def record(self, action: str, changes: dict) -> None:
        changelog.record(action, kind="webhook", name=str(self.pk), object_id=self.pk, changes=changes)

    def signatures(self, message_id: str, timestamp: int, body: bytes) -> str:
        return " ".join(sign(s, message_id, timestamp, body) for s in (self.secret, self.previous_secret) if s)

    def send_test_event(self) -> WebhookDelivery:
        payload = {"type": "webhook.test", "timestamp": timezone.now().isoformat(), "data": {"subscription": self.pk}}
        return WebhookDelivery.objects.create(subscription=self, object_key=f"webhook:{self.pk}:test", payload=payload)


class OutboxItem(models.Model):
    """A change-log entry not yet fanned out to subscriptions (written with the entry, deleted by the relay)."""

    entry = models.OneToOneField(changelog.ChangeLogEntry, on_delete=models.PROTECT, related_name="+")
    # The W3C traceparent of the change ("" without tracing): its deliveries continue that trace.
    trace_context = models.CharField(max_length=tracing.TRACEPARENT_MAX, blank=True, default="")

    class Meta:
        app_label = "registry_project"
        db_table = "registry_webhook_outbox"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookDelivery(models.Model):
    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False
    )  # the webhook-id (stable across retries)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    entry = models.ForeignKey(
        changelog.ChangeLogEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_key = models.CharField(max_length=200, help_text="kind:name; an object's deliveries go out in order.")
    order = models.BigIntegerField(default=0, help_text="The change-log id (0 for a test event): the send order.")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    trace_context = models.CharField(
        max_length=tracing.TRACEPARENT_MAX, blank=True, default="", help_text="The change's W3C traceparent, if traced."
    )

    class Meta:
        app_label = "registry_project"
        db_table = "registry_webhook_delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ("order", "created_at")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="registry_webhook_due")]

    def redeliver(self) -> None:
        """Send again (a dead letter, or one already delivered), from now."""
        WebhookDelivery.objects.filter(pk=self.pk).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), attempts=0
        )

    def body(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":"), sort_keys=True).encode()


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        app_label = "registry_project"
        db_table = "registry_webhook_attempt"
        ordering = ("id",)


def wanted(actions) -> set[str]:
    """Which of ``actions`` some active subscription's patterns match (one query). The relay fans an outbox item
    out to those subscriptions only, so an entry no subscription wants gets no outbox item: a registry without
    webhooks (or whose subscriptions want other events) does not write every change twice."""
    patterns = list(WebhookSubscription.objects.filter(active=True).values_list("events", flat=True))
    return {action for action in actions if any(event_matches(events, action) for events in patterns)}


def delivered(action: str) -> bool:
    """Whether entries with ``action`` are events at all: a subscription's own entries (``webhook.*``, which name
    other subscribers' URLs) are staff-only (changelog.STAFF_ONLY_KINDS) and never sent to subscribers, ``*`` or
    not. An action is ``<kind>.<verb>``, so the kind is its first part (the set form below sees only actions)."""
    return action.split(".", 1)[0] not in changelog.STAFF_ONLY_KINDS


def _outbox(rows: list) -> None:
    rows = [row for row in rows if delivered(row.action)]
    wants = wanted({row.action for row in rows})
    traceparent = tracing.current_traceparent()
    OutboxItem.objects.bulk_create(
        [OutboxItem(entry_id=row.pk, trace_context=traceparent) for row in rows if row.action in wants]
    )


def _outbox_sql() -> str:
    """The set form (``changelog.record_many`` and ``appending`` on PostgreSQL): the outbox items in the appending
    statement itself, for the entries some active subscription's patterns match, matched in SQL exactly as
    ``event_matches`` does (``*``, the action itself, or a ``prefix*``), so no round trip reads the
    subscriptions first."""
    staff_only = "".join(f" AND NOT starts_with(e.action, '{kind}.')" for kind in changelog.STAFF_ONLY_KINDS)
    return (
        f"INSERT INTO {OutboxItem._meta.db_table} (entry_id, trace_context) SELECT e.id, {{traceparent}} FROM {{entries}} e"
        f" WHERE TRUE{staff_only} AND EXISTS ("
        f"SELECT 1 FROM {WebhookSubscription._meta.db_table} s,"
        " jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.events) = 'array' THEN s.events ELSE '[]' END) p(pattern)"
        f" WHERE s.active AND {EVENT_MATCH_SQL})"
    )


changelog.on_record(_outbox, set_form=_outbox_sql)


def payload_of(entry) -> dict:
    return {"type": entry.action, "timestamp": entry.at.isoformat().replace("+00:00", "Z"), "data": entry.as_dict()}


def relay_outbox(batch: int = 500) -> int:
    """Fan committed change-log entries out to the subscriptions whose patterns match; returns how many items
    were relayed."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RELAY_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    return 0
        items = list(
            OutboxItem.objects.select_for_update(skip_locked=True).select_related("entry").order_by("entry_id")[:batch]
        )
        if not items:
            return 0
        subscriptions = list(WebhookSubscription.objects.filter(active=True))
        deliveries = [
            WebhookDelivery(
                subscription=subscription,
                entry=item.entry,
                object_key=f"{item.entry.kind}:{item.entry.name}",
                order=item.entry.pk,
                payload=payload_of(item.entry),
                trace_context=item.trace_context,
            )
            for item in items
            for subscription in subscriptions
            if delivered(item.entry.action) and event_matches(subscription.events, item.entry.action)
        ]
        WebhookDelivery.objects.bulk_create(deliveries)
        OutboxItem.objects.filter(pk__in=[item.pk for item in items]).delete()
    return len(items)


def backoff(attempts: int) -> timedelta:
    return timedelta(
        seconds=min(settings.WEBHOOK_BACKOFF_CAP_SECONDS, settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    )


# A lane is one subscription's deliveries, sent by one worker at a time (a PostgreSQL session-level advisory lock
# keyed by the subscription), so a slow receiver holds up only its own lane and a delivery is never sent twice
# at once. The lock goes with the connection if the worker dies; a lease on each delivery covers the same.
LANE_LOCK_KEY = 0x4C414E45  # "LANE"
# A claimed delivery's lease: the attempt's total deadline plus this, so it always outlives the attempt it covers.
LEASE_MARGIN_SECONDS = 30
# One lane task sends at most this much before it returns (the next beat tick starts it again): fair to others.
LANE_MAX_ATTEMPTS = 100
LANE_BUDGET_SECONDS = 60
MAX_LANES_PER_TICK = 1000


@contextmanager
def lane(subscription_id: int) -> Iterator[bool]:
    """Whether this process holds ``subscription_id``'s lane (False: another worker is sending it). Behind PgBouncer
    in transaction mode no lock is taken (its unlock could run in another server session): the lane's queued mark
    keeps it to one task in the usual case, and each delivery's lease still keeps it from being sent twice at once."""
    if connection.vendor != "postgresql" or not sessions_outlive_transactions(connection):
        yield True  # the embedded default runs tasks inline, one at a time
        return
    key = [LANE_LOCK_KEY, subscription_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def queue_lanes() -> list[int]:
    """The subscriptions with work whose lane has no task queued (or one queued so long ago that it was lost),
    marked queued; the beat job starts a lane task for each. A lane task clears the mark when it ends."""
    now = timezone.now()
    lost = now - timedelta(seconds=LANE_BUDGET_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)
    with transaction.atomic():
        ids = list(
            WebhookSubscription.objects.filter(pk__in=due_subscriptions())
            .filter(models.Q(lane_queued_at=None) | models.Q(lane_queued_at__lt=lost))
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        WebhookSubscription.objects.filter(pk__in=ids).update(lane_queued_at=now)
    return ids


def lane_trace_contexts(subscription_ids: list[int]) -> dict[int, str]:
    """Each lane's head delivery's trace context (the change that is next to go out): the beat job publishes the
    lane's task in that trace, so a change's trace shows the task that delivered it. One query; asked only when
    tracing is on."""
    head = (
        WebhookDelivery.objects.filter(subscription=OuterRef("pk"), status=DeliveryStatus.PENDING)
        .order_by("order", "created_at")
        .values("trace_context")[:1]
    )
    return dict(
        WebhookSubscription.objects.filter(pk__in=subscription_ids)
        .annotate(head_trace=Subquery(head))
        .values_list("pk", "head_trace")
    )


def lane_done(subscription_id: int) -> None:
    WebhookSubscription.objects.filter(pk=subscription_id).update(lane_queued_at=None)


def due_subscriptions() -> list[int]:
    """Active subscriptions with a delivery due now (their lanes have work)."""
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now(), subscription__active=True
        )
        .order_by()
        .values_list("subscription_id", flat=True)
        .distinct()[:MAX_LANES_PER_TICK]
    )


def _claim_next(subscription_id: int) -> WebhookDelivery | None:
    """The subscription's next due delivery that heads its object's queue, leased (next_attempt_at pushed past
    the attempt's deadline) in the same transaction, so nobody else takes it while the HTTP call runs outside any
    transaction. A deactivated subscription's deliveries are not claimed: it stops retrying."""
    now = timezone.now()
    earlier = WebhookDelivery.objects.filter(
        subscription=OuterRef("subscription"),
        object_key=OuterRef("object_key"),
        status=DeliveryStatus.PENDING,
        order__lt=OuterRef("order"),
    )
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.filter(
                subscription_id=subscription_id,
                subscription__active=True,
                status=DeliveryStatus.PENDING,
                next_attempt_at__lte=now,
            )
            .filter(~Exists(earlier))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .order_by("order", "created_at")
            .first()
        )
        if delivery is not None:
            lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=lease)
    return delivery


def span_attributes(delivery: WebhookDelivery) -> dict:
    """What a delivery's span says (registry_project/tracing.py): which change went where, never the payload, the
    secret or the URL's tokens."""
    payload = delivery.payload if isinstance(delivery.payload, dict) else {}
    entry = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return {
        "http.request.method": "POST",
        "url.full": redacted_url(delivery.subscription.url),
        "registry.event": str(payload.get("type", "")),
        **{f"registry.{key}": str(entry[key]) for key in ("kind", "name", "version") if entry.get(key)},
        "registry.webhook.subscription": delivery.subscription_id,
        "registry.webhook.delivery": str(delivery.pk),
        "registry.webhook.attempt": delivery.attempts + 1,
    }


def send(delivery: WebhookDelivery) -> bool:
    """One attempt: POST the signed payload, record the attempt, and mark the delivery delivered, due again
    (backoff), or dead; True when it was delivered."""
    subscription = delivery.subscription
    body = delivery.body()
    timestamp = int(time.time())
    message_id = f"msg_{delivery.pk.hex}"
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": subscription.signatures(message_id, timestamp, body),
        "user-agent": "ml-registry-webhooks/1",
    }
    started = time.monotonic()
    status_code, error = None, ""
    with tracing.span_continuing("webhook deliver", delivery.trace_context, span_attributes(delivery)) as span:
        tracing.inject(headers)  # the receiver continues the trace: traceparent (W3C Trace Context)
        try:
            # Checked again at send time (the name may resolve elsewhere now), and the POST connects to the addresses
            # this check resolved, so there is no second lookup to rebind. The lookup and the POST share one deadline.
            until = started + settings.WEBHOOK_TIMEOUT_SECONDS
            destination = egress.destination(subscription.url, resolve_within=until - time.monotonic())
            status_code = egress.post(destination, body, headers, deadline_seconds=until - time.monotonic())
            span.set_attribute("http.response.status_code", status_code)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except egress.Refused as refused:
            error = f"destination refused: {refused}"[:500]
        except egress.DeliveryFailed as failed:
            error = str(failed)
        if error:
            span.set_status(StatusCode.ERROR, error.split(":", 1)[0])
    duration = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        DeliveryAttempt.objects.create(delivery=delivery, status_code=status_code, duration_ms=duration, error=error)
        attempts = delivery.attempts + 1
        if not error:
            update = {"status": DeliveryStatus.DELIVERED, "delivered_at": timezone.now(), "last_error": ""}
            outcome = "delivered"
        elif attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            update = {"status": DeliveryStatus.DEAD, "last_error": error}
            outcome = "gave_up"
        else:
            update = {"next_attempt_at": timezone.now() + backoff(attempts), "last_error": error}
            outcome = "failed"
        WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=attempts, **update)
        # Counted in the database with the attempt (workers may run on other machines than the web's /metrics).
        tallies.add("registry_webhook_deliveries_total", {"outcome": outcome})
    return not error


def deliver_lane(subscription_id: int) -> int:
    """Send one subscription's due deliveries, each object's in change order, until none is due, one fails (the
    receiver is unwell: the rest wait for the next tick rather than each spending a deadline), or the lane's
    budget is spent; returns the number of attempts made (0 when another worker holds the lane)."""
    made = 0
    started = time.monotonic()
    try:
        with lane(subscription_id) as held:
            while held and made < LANE_MAX_ATTEMPTS and time.monotonic() - started < LANE_BUDGET_SECONDS:
                delivery = _claim_next(subscription_id)
                if delivery is None:
                    break
                made += 1
                if not send(delivery):
                    break
    finally:
        lane_done(subscription_id)
    return made


def deliver_due() -> int:
    """Every lane that has work, one after another (the embedded default and tests; the worker runs each lane as
    its own task, ``kernel.tasks.deliver_webhook_lane``); returns the number of attempts made."""
    return sum(deliver_lane(subscription_id) for subscription_id in due_subscriptions())
