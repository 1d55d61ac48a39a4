"""The bindings section of a registry backup: bindings (with their ids and live counters) and their status
moves. The windowed samples behind p50/p95 are not kept: they age out of the window within minutes."""

SECTION, ORDER = "bindings", 40


def section():
    from bindings_app.models import BindingStatusChange, ProviderBinding
    from kernel.backup_rows import RowsSection, SectionGroup

    return SectionGroup(
        {
            "binding": RowsSection(ProviderBinding, key=("id",), keep_ids=True),
            "status_change": RowsSection(
                BindingStatusChange, key=("binding", "at", "to_status"), order=("binding", "at", "to_status", "reason")
            ),
        }
    )
