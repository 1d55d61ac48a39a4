"""The bindings section of a registry backup: bindings (with their ids and live counters) and their status
moves. The windowed samples behind p50/p95 are not kept: they age out of the window within minutes."""

SECTION, ORDER = "bindings", 40


def section():
    from bindings_app.models import BindingStatusChange, ProviderBinding
    from kernel.backup_rows import RowsSection, SectionGroup

    return SectionGroup(
        {
            "binding": RowsSection(ProviderBinding, key=("id",), keep_ids=True, check=check_bindings),
            "status_change": RowsSection(
                BindingStatusChange, key=("binding", "at", "to_status"), order=("binding", "at", "to_status", "reason")
            ),
        }
    )


def check_bindings(numbered) -> list[str]:
    """A binding's settings pass the API's rules (its provider's config schema, no credentials anywhere)."""
    from bindings_app.validation import check_settings

    problems = []
    for line, row in numbered:
        values = {name: getattr(row, name) for name in ("provider", "provider_model_id", "endpoint_url", "config")}
        problems.extend(
            f"Line {line}: binding refused: {issue.path}: {issue.message}" for issue in check_settings(values)
        )
    return problems
