"""Provider bindings: which provider serves a model version in which region and environment, how well it does
(live counters and a latency histogram fed by the gateway's reports), and its SLO state.

A binding is a plain entity, not a versioned document. Its counters are updated in the database with ``F()``
under the binding's row lock, never read and written back from Python, so concurrent reports are never lost.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from bindings_app import latency
from bindings_app.choices import BindingStatus, Environment, Provider
from bindings_app.querysets import BindingQuerySet, BindingSampleQuerySet, WindowFigures, slice_start, window_start
from bindings_app.validation import Outcome, check_settings
from kernel.choices import Lifecycle
from kernel.exceptions import Conflict
from kernel.models import changelog
from kernel.rules.validation import DocumentInvalid, Issue, same_json

REGION_PATTERN = r"[a-z0-9][a-z0-9-]{0,63}"
region_validator = RegexValidator(rf"\A{REGION_PATTERN}\Z", "A region is a lowercase slug such as 'eu-west-1'.")
MAX_WEIGHT = 1000
MAX_LATENCY_SLO_MS = 3_600_000

# Fields a curator sets; everything else (status, counters) moves through the binding's methods.
SETTINGS_FIELDS = (
    "provider",
    "provider_model_id",
    "endpoint_url",
    "region",
    "environment",
    "weight",
    "config",
    "cost_per_1k_input_tokens",
    "cost_per_1k_output_tokens",
    "slo_latency_p95_ms",
    "slo_success_rate",
)


def percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"


class ProviderBinding(models.Model):
    model_version = models.ForeignKey("models_app.ModelVersion", on_delete=models.PROTECT, related_name="bindings")
    provider = models.CharField(max_length=32, choices=Provider.choices)
    provider_model_id = models.CharField(
        max_length=255, help_text="The provider's name for the model, e.g. gpt-4o-2024-08-06."
    )
    endpoint_url = models.URLField(max_length=2048, validators=[URLValidator(schemes=["http", "https"])])
    region = models.CharField(max_length=64, validators=[region_validator])
    environment = models.CharField(max_length=16, choices=Environment.choices)
    status = models.CharField(max_length=16, choices=BindingStatus.choices, default=BindingStatus.ACTIVE, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    weight = models.PositiveIntegerField(
        default=100,
        validators=[MaxValueValidator(MAX_WEIGHT)],
        help_text="Routing preference, 0-1000 (100 is neutral; 0 never routes).",
    )
    config = models.JSONField(
        default=dict, blank=True, help_text="Provider settings; secrets only by reference (…_secret: 'vault:…')."
    )
    cost_per_1k_input_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal(0), validators=[MinValueValidator(0)]
    )
    cost_per_1k_output_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal(0), validators=[MinValueValidator(0)]
    )
    slo_latency_p95_ms = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_LATENCY_SLO_MS)]
    )
    slo_success_rate = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)])
    # Live counters since the binding was created; see BindingSample for the windowed figures.
    request_count = models.BigIntegerField(default=0, editable=False)
    success_count = models.BigIntegerField(default=0, editable=False)
    input_tokens = models.BigIntegerField(default=0, editable=False)
    output_tokens = models.BigIntegerField(default=0, editable=False)
    last_report_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BindingQuerySet.as_manager()

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "provider", "region", "environment"],
                name="%(app_label)s_%(class)s_unique_placement",
            ),
            models.CheckConstraint(
                condition=Q(cost_per_1k_input_tokens__gte=0) & Q(cost_per_1k_output_tokens__gte=0),
                name="%(app_label)s_%(class)s_costs_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(endpoint_url__regex=r"^https?://"), name="%(app_label)s_%(class)s_endpoint_http"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BindingStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(environment__in=Environment.values), name="%(app_label)s_%(class)s_environment_valid"
            ),
            models.CheckConstraint(condition=Q(weight__lte=MAX_WEIGHT), name="%(app_label)s_%(class)s_weight_range"),
            models.CheckConstraint(
                condition=Q(slo_success_rate__isnull=True) | (Q(slo_success_rate__gte=0) & Q(slo_success_rate__lte=1)),
                name="%(app_label)s_%(class)s_slo_success_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(request_count__gte=F("success_count")) & Q(success_count__gte=0),
                name="%(app_label)s_%(class)s_counters_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"binding {self.pk} ({self.provider}/{self.environment}/{self.region})"

    @property
    def model_name(self) -> str:
        return self.model_version.model.name

    @property
    def blended_cost(self) -> Decimal:
        """Price per 1k tokens for a 1:1 input/output mix: what ``max_cost`` and cost ranking compare."""
        return (self.cost_per_1k_input_tokens + self.cost_per_1k_output_tokens) / 2

    @property
    def lifetime_success_rate(self) -> float | None:
        if self.request_count < settings.BINDING_SLO_MIN_SAMPLES:
            return None
        return self.success_count / self.request_count

    def figures(self, now: dt.datetime | None = None) -> WindowFigures:
        return BindingSample.objects.figures([self.pk], now).get(self.pk, WindowFigures())

    def _changelog(self, action: str, changes: dict) -> None:
        version = self.model_version
        changelog.record(
            action, kind="binding", name=version.model.name, version=version.version, object_id=self.pk, changes=changes
        )

    def _record_deployment(self, before: str | None) -> None:
        """Creating an active binding or enabling one is the registry's record of deploying a version to an
        environment: the platform's ``model.deployed`` event for other services. It is that write's one
        change-log entry (about the binding, so its history and status answers stay whole), in place of
        ``binding.created`` / ``binding.enabled``, with the status move and where the version now serves."""
        self._changelog(
            "model.deployed",
            {
                "status": [before, self.status],
                "provider": self.provider,
                "environment": self.environment,
                "region": self.region,
            },
        )

    # -- creation and settings --------------------------------------------------------------------------------

    @classmethod
    def check_settings(cls, values: dict) -> None:
        """The rules beyond field types: a config fit for the provider, and no credentials in it or the endpoint."""
        issues = check_settings(values)
        if issues:
            raise DocumentInvalid(issues)

    @staticmethod
    def _lock_version(model_version):
        """Lock the version's model row, which archiving also locks, and re-read the version: a binding is never
        created on a version that is being archived."""
        from models_app.models import Model

        Model.objects.select_for_update().get(pk=model_version.model_id)
        version = type(model_version).objects.select_related("model").get(pk=model_version.pk)
        if version.status == Lifecycle.ARCHIVED:
            raise Conflict(
                f"{version} is archived; a binding cannot point at an archived version.",
                code="archived",
                path="/version",
            )
        if version.model.deleted_at is not None:
            raise Conflict(f"The model {version.model.name} is deleted.", code="deleted", path="/model")
        return version

    @classmethod
    def deploy(cls, model_version, **values) -> ProviderBinding:
        """Create a binding (``status`` pending or active, default active)."""
        cls.check_settings(values)
        status = values.pop("status", BindingStatus.ACTIVE)
        if status not in (BindingStatus.PENDING, BindingStatus.ACTIVE):
            raise DocumentInvalid(
                [
                    Issue(
                        "/status",
                        "invalid_choice",
                        "A new binding is 'pending' or 'active'; disable it afterwards if need be.",
                    )
                ]
            )
        with transaction.atomic():
            version = cls._lock_version(model_version)
            try:
                with transaction.atomic():
                    binding = cls.objects.create(
                        model_version=version, status=status, status_changed_at=timezone.now(), **values
                    )
            except IntegrityError:
                placement = {k: values.get(k) for k in ("provider", "region", "environment")}
                if not cls.objects.filter(model_version=version, **placement).exists():
                    raise  # another constraint: the serializer or form should have caught it
                raise Conflict(
                    f"{version} already has a {placement['provider']} binding in {placement['environment']} / {placement['region']}.",
                    code="binding_exists",
                ) from None
            if status == BindingStatus.ACTIVE:
                binding._record_deployment(None)
            else:
                binding._changelog("binding.created", {"status": [None, status]})
        return binding

    def change_settings(self, values: dict) -> ProviderBinding:
        """Change curator-set fields; status and counters are not among them."""
        unknown = set(values) - set(SETTINGS_FIELDS)
        if unknown:
            raise ValueError(f"not settings: {sorted(unknown)}")
        with transaction.atomic():
            binding = type(self).objects.select_for_update().with_version().get(pk=self.pk)
            proposed = {name: values.get(name, getattr(binding, name)) for name in SETTINGS_FIELDS}
            self.check_settings(proposed)
            changed = {
                name: [str(getattr(binding, name)), str(value)]
                for name, value in values.items()
                if name != "config" and getattr(binding, name) != value
            }
            if "config" in values and not same_json(values["config"], binding.config):
                changed["config"] = ["changed"]
            for name, value in values.items():
                setattr(binding, name, value)
            try:
                with transaction.atomic():
                    binding.save()
            except IntegrityError:
                placement = {k: getattr(binding, k) for k in ("provider", "region", "environment")}
                if (
                    not type(self)
                    .objects.filter(model_version=binding.model_version, **placement)
                    .exclude(pk=binding.pk)
                    .exists()
                ):
                    raise
                raise Conflict(
                    f"{binding.model_version} already has a binding at that provider, region and environment.",
                    code="binding_exists",
                ) from None
            if changed:
                binding._changelog("binding.updated", changed)
        return binding

    def remove(self) -> None:
        """Delete a binding; only a disabled one, so nothing in service disappears by accident."""
        with transaction.atomic():
            binding = type(self).objects.select_for_update().with_version().get(pk=self.pk)
            if binding.status != BindingStatus.DISABLED:
                raise Conflict(f"{binding} is {binding.status}; disable it before deleting it.", code="in_service")
            binding._changelog("binding.deleted", {"status": [binding.status, None]})
            binding.delete()

    # -- status moves -----------------------------------------------------------------------------------------

    @classmethod
    def status_at(cls, pk: int, moment) -> tuple[bool, str | None]:
        """(known, status) of binding ``pk`` at ``moment``, from the change log: every status move (creation,
        deployment, enable, disable, SLO degrade/recover, deletion) records ``status: [before, after]``. ``known``
        is False when the log has no entry about the binding at all (no such binding); the status is None
        before it was created and after it was deleted."""
        entries = changelog.ChangeLogEntry.objects.filter(kind="binding", object_id=str(pk))
        if not entries.exists():
            return False, None
        _, status = entries.state_at("status", moment)
        return True, status

    def _move(self, status: str, reason: str, action: str | None) -> None:
        """Set the status (the caller holds the row lock) and record the move with its reason (``action`` None:
        the caller records it)."""
        old, now = self.status, timezone.now()
        self.status, self.status_reason, self.status_changed_at = status, reason[:500], now
        type(self).objects.filter(pk=self.pk).update(
            status=status, status_reason=self.status_reason, status_changed_at=now, updated_at=now
        )
        BindingStatusChange.objects.create(
            binding=self, from_status=old, to_status=status, reason=self.status_reason, at=now
        )
        if action is not None:
            self._changelog(action, {"status": [old, status], "reason": self.status_reason})

    def enable(self) -> ProviderBinding:
        """pending or disabled -> active (a deployment); active or degraded stay as they are."""
        with transaction.atomic():
            binding = type(self).objects.select_for_update().get(pk=self.pk)
            if binding.status in (BindingStatus.PENDING, BindingStatus.DISABLED):
                binding.model_version = self._lock_version(binding.model_version)
                before = binding.status
                binding._move(BindingStatus.ACTIVE, "enabled", None)
                binding._record_deployment(before)
            return type(self).objects.with_version().get(pk=self.pk)

    def disable(self) -> ProviderBinding:
        with transaction.atomic():
            binding = type(self).objects.select_for_update().with_version().get(pk=self.pk)
            if binding.status != BindingStatus.DISABLED:
                binding._move(BindingStatus.DISABLED, "disabled", "binding.disabled")
            return type(self).objects.with_version().get(pk=self.pk)

    def slo_breaches(self, figures: WindowFigures) -> list[str]:
        """How the window's figures miss this binding's SLO; empty when they meet it or there is no data."""
        if not figures.has_data:
            return []
        breaches = []
        if self.slo_success_rate is not None and figures.success_rate < self.slo_success_rate:
            breaches.append(f"success {percent(figures.success_rate)} < SLO {percent(self.slo_success_rate)}")
        p95 = figures.p95_ms
        if self.slo_latency_p95_ms is not None and p95 is not None and p95 > self.slo_latency_p95_ms:
            breaches.append(f"p95 {p95:.0f} ms > SLO {self.slo_latency_p95_ms} ms")
        return breaches

    def apply_slo(self, figures: WindowFigures) -> None:
        """Degrade an active binding that misses its SLO over the window, recover a degraded one that meets it;
        with fewer than BINDING_SLO_MIN_SAMPLES reports nothing moves. The caller holds the row lock."""
        if not figures.has_data or self.status not in (BindingStatus.ACTIVE, BindingStatus.DEGRADED):
            return
        window = f"over {figures.minutes} min"
        breaches = self.slo_breaches(figures)
        if breaches and self.status == BindingStatus.ACTIVE:
            self._move(BindingStatus.DEGRADED, f"{', '.join(breaches)} {window}", "binding.degraded")
        elif not breaches and self.status == BindingStatus.DEGRADED:
            met = [f"success {percent(figures.success_rate)}"]
            if figures.p95_ms is not None:
                met.append(f"p95 {figures.p95_ms:.0f} ms")
            self._move(BindingStatus.ACTIVE, f"within SLO {window}: {', '.join(met)}", "binding.recovered")

    # -- reports ----------------------------------------------------------------------------------------------

    def report(self, outcomes: list[Outcome], now: dt.datetime | None = None) -> tuple[ProviderBinding, WindowFigures]:
        """Count the gateway's outcomes, then move the status if the SLO says so. Returns the binding as counted
        and the window's figures, both read inside the transaction that counted: an answer built from them needs
        no read after the commit, which could fail (a dropped connection) after the reports were counted.

        The row lock serialises reports of one binding (so SLO moves see every earlier report) and the counters
        grow by ``F()`` in the same UPDATE, so no concurrent report is lost."""
        now = now or timezone.now()
        oldest = window_start(now)
        samples = Counter(
            (slice_start(o.at), latency.bucket_of(o.latency_ms), o.success) for o in outcomes if o.at >= oldest
        )
        with transaction.atomic():
            binding = type(self).objects.select_for_update().with_version().get(pk=self.pk)
            type(self).objects.filter(pk=self.pk).update(
                request_count=F("request_count") + len(outcomes),
                success_count=F("success_count") + sum(o.success for o in outcomes),
                input_tokens=F("input_tokens") + sum(o.input_tokens for o in outcomes),
                output_tokens=F("output_tokens") + sum(o.output_tokens for o in outcomes),
                last_report_at=Greatest(F("last_report_at"), max(o.at for o in outcomes))
                if binding.last_report_at is not None
                else max(o.at for o in outcomes),
            )
            BindingSample.objects.add(binding.pk, samples)
            BindingSample.objects.filter(binding=binding).older_than_window(now).delete()
            figures = binding.figures(now)
            binding.apply_slo(figures)
            counted = type(self).objects.with_version().get(pk=self.pk)
        return counted, figures


class BindingSampleManager(models.Manager.from_queryset(BindingSampleQuerySet)):
    def add(self, binding_id: int, counts: Counter) -> None:
        """Add counts per (slice, bucket, outcome) with one upsert per chunk: ``count = count + excluded.count``
        in the database, so concurrent reports add up (the same SQL runs on PostgreSQL and SQLite)."""
        if not counts:
            return
        table = connection.ops.quote_name(self.model._meta.db_table)
        rows = [
            (binding_id, connection.ops.adapt_datetimefield_value(s), b, ok, n)
            for (s, b, ok), n in sorted(counts.items())
        ]
        with connection.cursor() as cursor:
            for start in range(0, len(rows), 200):
                chunk = rows[start : start + 200]
                cursor.execute(
                    f"INSERT INTO {table} (binding_id, slice_start, bucket, success, count) VALUES "
                    + ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
                    + f" ON CONFLICT (binding_id, slice_start, bucket, success) DO UPDATE SET count = {table}.count + EXCLUDED.count",
                    [value for row in chunk for value in row],
                )


class BindingSample(models.Model):
    """Reports of one binding in one time slice and latency bucket, by outcome (see bindings_app.latency)."""

    binding = models.ForeignKey(ProviderBinding, on_delete=models.CASCADE, related_name="samples")
    slice_start = models.DateTimeField()
    bucket = models.SmallIntegerField(help_text="Latency bucket; -1 for reports without a latency.")
    success = models.BooleanField()
    count = models.BigIntegerField()

    objects = BindingSampleManager()

    class Meta:
        constraints = [
            # Also the index the window query (binding, slice_start >= ...) uses.
            models.UniqueConstraint(
                fields=["binding", "slice_start", "bucket", "success"], name="%(app_label)s_%(class)s_unique_cell"
            ),
            models.CheckConstraint(condition=Q(count__gte=0), name="%(app_label)s_%(class)s_count_not_negative"),
        ]


class BindingStatusChange(models.Model):
    """Each status move of a binding with its reason: enabled, disabled, degraded (which SLO, by how much) and
    recovered. The change log gets the same entry; this table is the binding's own health history."""

    binding = models.ForeignKey(ProviderBinding, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=BindingStatus.choices)
    to_status = models.CharField(max_length=16, choices=BindingStatus.choices)
    reason = models.CharField(max_length=500)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}: {self.reason}"
