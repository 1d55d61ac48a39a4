"""What a binding protects in the model registry (registered from ``BindingsAppConfig.ready``): a version with a
binding in service (pending, active or degraded) cannot be archived, nor its model deleted. Disable the binding
first; a disabled binding holds nothing back.

``model_versions_bound`` is the version guard's set form, for retention's set-based archiving: one query whatever
the number of versions."""

from __future__ import annotations


def _labels(bindings) -> list[str]:
    return [f"{binding} of {binding.model_version.version}" for binding in bindings.select_related("model_version").order_by("id")]


def bindings_of_model(model) -> list[str]:
    from bindings_app.models import ProviderBinding

    return _labels(ProviderBinding.objects.in_service().filter(model_version__model=model))


def bindings_of_model_version(model_version) -> list[str]:
    from bindings_app.models import ProviderBinding

    return _labels(ProviderBinding.objects.in_service().filter(model_version=model_version))


def model_versions_bound(versions) -> set:
    """Primary keys among the ModelVersion queryset ``versions`` with a binding in service."""
    from bindings_app.models import ProviderBinding

    in_service = ProviderBinding.objects.in_service().filter(model_version__in=versions.order_by().values("pk"))
    return set(in_service.order_by().values_list("model_version_id", flat=True).distinct())
