"""The models section of a registry backup (see ``kernel.backup``)."""

from types import SimpleNamespace

SECTION, ORDER = "models", 10


def section():
    from kernel.backup import DefinitionSection
    from models_app.models import Model

    return DefinitionSection(Model)


def lineage_section():
    """Lineage links (derived_from, relation, deltas, depth) travel on the version rows above; contributions,
    attestations (each envelope exactly as signed) and artifact file rows (the metadata, not the bytes) here."""
    from kernel.backup_rows import RowsSection, SectionGroup
    from models_app.models import ArtifactFile, Attestation, Contribution

    return SectionGroup(
        {
            "contribution": RowsSection(Contribution, key=("version", "address")),
            "attestation": RowsSection(Attestation, key=("version",)),
            "artifact_file": RowsSection(ArtifactFile, key=("storage_key",)),
        }
    )


# More sections of this app (see ``kernel.backup.sections``): after the versions they refer to.
MORE = [SimpleNamespace(SECTION="lineage", ORDER=11, section=lineage_section)]
