"""The curator UI for policies: versions with their rules as a table, and an "evaluate" page that asks the same
``Policy.evaluate`` the API answers with."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.shortcuts import render
from django.urls import path
from django.utils.html import format_html, format_html_join

from kernel.admin.base import DefinitionAdmin, DefinitionVersionAdmin, attach_issues
from policies_app.choices import Action
from policies_app.models import Policy, PolicyVersion
from policies_app.validation import evaluation_request_issues

RULE_COLUMNS = {
    "rate_limit": ("entity", "resource", "requests", "window_seconds", "burst"),
    "quota": ("entity", "resource", "limit", "period", "unit"),
    "rbac": ("subject", "resource", "actions", "effect"),
}


class EvaluationForm(forms.Form):
    entity = forms.CharField(help_text="A concrete 'kind:name', e.g. user:alice.")
    resource = forms.CharField(help_text="e.g. api:inference or model:llama2-7b-chat.")
    action = forms.ChoiceField(choices=Action.choices)
    roles = forms.CharField(required=False, help_text="Space- or comma-separated, e.g. role:ml-engineer role:admin.")

    def request_body(self) -> dict:
        data = self.cleaned_data
        roles = [r for r in data["roles"].replace(",", " ").split() if r]
        return {"entity": data["entity"], "resource": data["resource"], "action": data["action"], "roles": roles}


@admin.register(Policy)
class PolicyAdmin(DefinitionAdmin):
    fields = ("name", "owner", "created_at", "updated_at", "deleted_at")
    change_list_template = "admin/policies_app/policy_change_list.html"

    def kind_sections(self, definition: Policy, versions: list) -> list:
        latest = next((v for v in versions if v.pk == definition.latest_version_id), None)
        return [(f"Rules of the latest version, {latest.version}", rules_table(latest))] if latest else []

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("evaluate/", self.admin_site.admin_view(self.evaluate_view), name="{}_{}_evaluate".format(*info)),
            *super().get_urls(),
        ]

    def evaluate_view(self, request):
        """Ask what applies, through the same request validation and ``Policy.evaluate`` as the API."""
        form = EvaluationForm(request.POST or None)
        decision = None
        if request.method == "POST" and form.is_valid():
            body = form.request_body()
            errors = evaluation_request_issues(body)
            if errors:
                attach_issues(form, errors)
            else:
                decision = Policy.evaluate(**body).as_dict()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Evaluate policies",
            "form": form,
            "decision": decision,
        }
        return render(request, "admin/policies_app/evaluate.html", context)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(DefinitionVersionAdmin):
    list_display = (
        "__str__",
        "policy_type",
        "enforcement",
        "priority",
        "rule_count",
        "status",
        "is_current",
        "created_at",
    )
    readonly_fields = (*DefinitionVersionAdmin.readonly_fields, "rules_table")
    fieldsets = (
        (None, {"fields": ("definition_link", "version", "status", "is_current", "id")}),
        ("Rules", {"fields": ("rules_table",)}),
        ("Spec (immutable)", {"fields": ("spec_json",), "classes": ("collapse",)}),
        *DefinitionVersionAdmin.fieldsets[2:],
    )

    @admin.display(description="type")
    def policy_type(self, obj: PolicyVersion) -> str:
        return obj.spec.get("type", "")

    @admin.display(description="enforcement")
    def enforcement(self, obj: PolicyVersion) -> str:
        return obj.spec.get("enforcement", "")

    @admin.display(description="priority")
    def priority(self, obj: PolicyVersion):
        return obj.spec.get("priority")

    @admin.display(description="rules")
    def rule_count(self, obj: PolicyVersion) -> int:
        return len(obj.rules)

    @admin.display(description="rules")
    def rules_table(self, obj: PolicyVersion):
        return rules_table(obj)


def rules_table(obj: PolicyVersion):
    """The version's rules as a table, with the columns of its policy type."""
    columns = RULE_COLUMNS.get(obj.spec.get("type"), ())

    def cell(value) -> str:
        if isinstance(value, list):
            return ", ".join(map(str, value))
        return "" if value is None else str(value)

    header = format_html_join("", "<th>{}</th>", ((c,) for c in ("#", *columns)))
    rows = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((cell(v),) for v in (index, *(rule.get(c) for c in columns)))),)
            for index, rule in enumerate(obj.rules)
        ),
    )
    return format_html(
        '<p>{} policy, {} enforcement, priority {}.</p><table class="policy-rules"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        obj.spec.get("type"),
        obj.spec.get("enforcement"),
        obj.spec.get("priority"),
        header,
        rows,
    )
