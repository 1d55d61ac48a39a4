from django.apps import AppConfig


class PoliciesAppConfig(AppConfig):
    name = "policies_app"
    verbose_name = "Policy registry"
