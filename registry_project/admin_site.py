"""The admin site of the curator console: Django's stock admin (its dark mode, responsive layout and every
ModelAdmin stay as they are) with the console's landing page as its index, the search box and the comparison of
two versions as its own URLs (``kernel.admin.console``), the registry's apps first and the login-lockout section
last. ``RegistryAdminConfig`` replaces ``django.contrib.admin`` in INSTALLED_APPS to make this ``admin.site``."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.urls import path

# Apps in the order a curator looks for them; any other app comes after these and before the last ones.
FIRST_APPS = ("models_app", "pipelines_app", "policies_app", "bindings_app", "registry_project")
LAST_APPS = ("auth", "axes")
# django-axes names its section after itself.
APP_NAMES = {"axes": "Login lockouts"}


class RegistryAdminSite(AdminSite):
    site_header = "Model registry"
    site_title = "Model registry"
    index_title = "What is going on"
    # "View site" opens the API's documentation: the registry has no public site besides its API.
    site_url = "/api/docs/"
    index_template = "admin/registry/index.html"

    def get_app_list(self, request, app_label=None):
        found = super().get_app_list(request, app_label)
        for app in found:
            app["name"] = APP_NAMES.get(app["app_label"], app["name"])

        def place(app) -> tuple[int, int]:
            label = app["app_label"]
            if label in FIRST_APPS:
                return (0, FIRST_APPS.index(label))
            if label in LAST_APPS:
                return (2, LAST_APPS.index(label))
            return (1, 0)

        return sorted(found, key=place)

    def index(self, request, extra_context=None):
        from kernel.admin.console import landing

        return super().index(request, {**landing(request), **(extra_context or {})})

    def get_urls(self):
        from kernel.admin import console

        return [
            path(
                "search/", self.admin_view(lambda request: console.search_view(request, self)), name="registry-search"
            ),
            path(
                "compare/<str:kind>/<str:name>/",
                self.admin_view(lambda request, kind, name: console.compare_view(request, self, kind, name)),
                name="registry-compare",
            ),
            *super().get_urls(),
        ]


class RegistryAdminConfig(AdminConfig):
    default_site = "registry_project.admin_site.RegistryAdminSite"
