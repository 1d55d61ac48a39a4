"""The registry-wide sections of a backup: aliases (every kind's) and the change history, last, so that the
imported log describes what was imported. Entries keep their ids (the cursor of /api/v1/changes and of webhook
relays); importing them delivers nothing (no outbox items are written)."""

SECTION, ORDER = "registry", 90


def section():
    from kernel.backup_rows import RowsSection, SectionGroup
    from kernel.models.aliases import Alias
    from kernel.models.changelog import ChangeLogEntry

    return SectionGroup(
        {
            "alias": RowsSection(Alias, key=("kind", "definition_name", "alias")),
            "change": RowsSection(ChangeLogEntry, key=("id",), keep_ids=True),
        }
    )
