"""What a binding protects in the model registry (registered from ``BindingsAppConfig.ready``): a version with a
binding in service (pending, active or degraded) cannot be archived, nor its model deleted. Disable the binding
first; a disabled binding holds nothing back."""

from __future__ import annotations


def _labels(bindings) -> list[str]:
    return [
        f"{binding} of {binding.model_version.version}"
        for binding in bindings.select_related("model_version").order_by("id")
    ]


def bindings_of_model(model) -> list[str]:
    from bindings_app.models import ProviderBinding

    return _labels(ProviderBinding.objects.in_service().filter(model_version__model=model))


def bindings_of_model_version(model_version) -> list[str]:
    from bindings_app.models import ProviderBinding

    return _labels(ProviderBinding.objects.in_service().filter(model_version=model_version))


# The set forms (kernel.rules.dependencies): which of many rows a binding in service protects, in one query,
# for set-based jobs such as retention.
def models_with_bindings(models):
    from bindings_app.models import ProviderBinding

    return (
        ProviderBinding.objects.in_service()
        .filter(model_version__model__in=models.values("pk"))
        .values_list("model_version__model_id", flat=True)
        .distinct()
    )


def model_versions_with_bindings(model_versions):
    from bindings_app.models import ProviderBinding

    return (
        ProviderBinding.objects.in_service()
        .filter(model_version__in=model_versions.values("pk"))
        .values_list("model_version_id", flat=True)
        .distinct()
    )
