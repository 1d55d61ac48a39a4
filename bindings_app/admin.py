"""The curator's view of bindings: their own list with a health column, enable / disable actions, the status
history (degraded / recovered moves with their reasons), and the bindings inline on a model version's page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from bindings_app.models import SETTINGS_FIELDS, BindingSample, BindingStatusChange, ProviderBinding
from bindings_app.querysets import WindowFigures
from kernel.admin.base import attach_issues
from kernel.choices import Lifecycle
from kernel.exceptions import RegistryError
from kernel.rules.validation import DocumentInvalid
from models_app.admin import ModelAdmin, ModelVersionAdmin

STATUS_COLOURS = {"active": "#2e7d32", "pending": "#6d6d6d", "degraded": "#e65100", "disabled": "#b71c1c"}


class ProviderBindingForm(forms.ModelForm):
    """Runs the same checks as the API (config per provider, no credentials), each shown beside its field."""

    endpoint_url = forms.URLField(max_length=2048, assume_scheme="https")

    class Meta:
        model = ProviderBinding
        fields = ("model_version", *SETTINGS_FIELDS)

    def clean(self):
        cleaned = super().clean()
        version = cleaned.get("model_version")
        if (
            version is not None
            and version.status == Lifecycle.ARCHIVED
            and version.pk != self.instance.model_version_id
        ):
            self.add_error("model_version", f"{version} is archived; a binding cannot point at an archived version.")
        # The unique placement is checked by the form's constraint validation (and by the database).
        if not self.errors:
            try:
                ProviderBinding.check_settings(cleaned)
            except DocumentInvalid as exc:
                attach_issues(self, exc.errors)
        return cleaned


class BindingStatusChangeInline(admin.TabularInline):
    model = BindingStatusChange
    verbose_name_plural = "Status history (enabled, disabled, degraded, recovered)"
    fields = ("at", "from_status", "to_status", "reason")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


def health_html(binding: ProviderBinding, figures: WindowFigures) -> str:
    colour = STATUS_COLOURS.get(binding.status, "#000")
    status = format_html('<strong style="color: {}">{}</strong>', colour, binding.status)
    if not figures.has_data:
        detail = format_html("no data ({} of {} samples)", figures.samples, settings.BINDING_SLO_MIN_SAMPLES)
    else:
        p95 = figures.p95_ms
        slo = f" / SLO {binding.slo_latency_p95_ms} ms" if binding.slo_latency_p95_ms else ""
        detail = format_html(
            "success {} %, p95 {} ms{}",
            f"{figures.success_rate * 100:.1f}",
            f"{p95:.0f}" if p95 is not None else "?",
            slo,
        )
    last = binding.last_report_at.strftime("%Y-%m-%d %H:%M:%S") if binding.last_report_at else "never"
    return format_html('<span class="binding-health">{} · {} · last report {}</span>', status, detail, last)


@admin.register(ProviderBinding)
class ProviderBindingAdmin(admin.ModelAdmin):
    form = ProviderBindingForm
    list_display = ("__str__", "version_link", "provider", "environment", "region", "weight", "health")
    list_filter = ("status", "provider", "environment", "region")
    search_fields = ("model_version__model__name", "provider_model_id", "region")
    list_select_related = ("model_version__model",)
    actions = ("enable", "disable")
    inlines = [BindingStatusChangeInline]
    readonly_fields = (
        "status",
        "status_reason",
        "status_changed_at",
        "health_now",
        "request_count",
        "success_count",
        "input_tokens",
        "output_tokens",
        "last_report_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "model_version",
                    "provider",
                    "provider_model_id",
                    "endpoint_url",
                    "region",
                    "environment",
                    "weight",
                )
            },
        ),
        ("Config (secrets by reference only)", {"fields": ("config",)}),
        (
            "Cost and SLO",
            {
                "fields": (
                    "cost_per_1k_input_tokens",
                    "cost_per_1k_output_tokens",
                    "slo_latency_p95_ms",
                    "slo_success_rate",
                )
            },
        ),
        (
            "Health",
            {
                "fields": (
                    "status",
                    "status_reason",
                    "status_changed_at",
                    "health_now",
                    "request_count",
                    "success_count",
                    "input_tokens",
                    "output_tokens",
                    "last_report_at",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    raw_id_fields = ("model_version",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is not None and obj.status == "disabled"

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new binding has no history yet

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One grouped query for the page's window figures; the template iterates the same (cached) rows.
        page = list(changelist.result_list)
        figures = BindingSample.objects.figures([binding.pk for binding in page])
        for binding in page:
            binding.window_figures = figures.get(binding.pk, WindowFigures())
        return changelist

    @admin.display(description="health")
    def health(self, obj: ProviderBinding):
        return health_html(obj, getattr(obj, "window_figures", None) or obj.figures())

    @admin.display(description="health over the window")
    def health_now(self, obj: ProviderBinding):
        return health_html(obj, obj.figures()) if obj.pk else "-"

    @admin.display(description="model version", ordering="model_version__model__name")
    def version_link(self, obj: ProviderBinding):
        url = reverse("admin:models_app_modelversion_change", args=[obj.model_version_id])
        return format_html('<a href="{}">{}</a>', url, obj.model_version)

    def save_model(self, request, obj, form, change):
        # The form has run the same checks; the model methods lock, record and keep the invariants.
        values = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS}
        saved = (
            obj.change_settings(values)
            if change
            else ProviderBinding.deploy(form.cleaned_data["model_version"], **values)
        )
        obj.pk = saved.pk

    def _move(self, request, queryset, move: str):
        done = 0
        for binding in queryset:
            try:
                getattr(binding, move)()
                done += 1
            except RegistryError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        if done:
            self.message_user(request, f"{move.capitalize()}d {done} binding(s).", messages.SUCCESS)

    @admin.action(description="Enable selected bindings (a deployment)")
    def enable(self, request, queryset):
        self._move(request, queryset, "enable")

    @admin.action(description="Disable selected bindings")
    def disable(self, request, queryset):
        self._move(request, queryset, "disable")


class ProviderBindingInline(admin.TabularInline):
    model = ProviderBinding
    fields = (
        "provider",
        "environment",
        "region",
        "status",
        "status_reason",
        "weight",
        "request_count",
        "last_report_at",
    )
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Shown on the version page, never part of its POST: saving the version's own fields needs no formset
        # data for the bindings (edit those on their own page).
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)


# The model app's version page shows its bindings; the model app does not import this one.
ModelVersionAdmin.inlines = [*ModelVersionAdmin.inlines, ProviderBindingInline]


BINDINGS_SHOWN = 100


def model_bindings_section(model_admin, model, versions: list):
    """The model page's bindings (of every version shown) with their health over the window: two queries."""
    bindings = list(
        ProviderBinding.objects.filter(model_version__in=[v.pk for v in versions])
        .select_related("model_version")
        .order_by("-model_version__major", "-model_version__minor", "-model_version__patch", "provider", "pk")[
            :BINDINGS_SHOWN
        ]
    )
    if not bindings:
        return ("Bindings", "No provider serves a version of this model.")
    figures = BindingSample.objects.figures([binding.pk for binding in bindings])
    rows = format_html_join(
        "",
        '<tr data-binding="{}"><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                binding.pk,
                reverse("admin:bindings_app_providerbinding_change", args=[binding.pk]),
                binding.model_version.version,
                binding.provider,
                binding.environment,
                binding.region,
                health_html(binding, figures.get(binding.pk, WindowFigures())),
            )
            for binding in bindings
        ),
    )
    return (
        "Bindings and their health",
        format_html(
            '<table class="registry-bindings"><thead><tr><th scope="col">version</th><th scope="col">provider</th>'
            '<th scope="col">environment</th><th scope="col">region</th><th scope="col">health</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        ),
    )


ModelAdmin.extra_sections = [*ModelAdmin.extra_sections, model_bindings_section]
