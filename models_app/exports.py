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
            "attestation": RowsSection(Attestation, key=("version",), check=check_attestations),
            "artifact_file": RowsSection(ArtifactFile, key=("storage_key",), check=check_artifact_files),
        }
    )


def _versions_of(numbered) -> dict:
    from models_app.models import ModelVersion

    ids = {row.version_id for _, row in numbered}
    return ModelVersion.objects.select_related("model", "derived_from__model").in_bulk(ids)


def check_attestations(numbered) -> list[str]:
    """An attestation is imported only onto the version its signed statement names, with that version's digest."""
    from models_app.attestations.verify import problem_with_attestation

    versions = _versions_of(numbered)
    problems = []
    for line, row in numbered:
        version = versions.get(row.version_id)
        problem = (
            problem_with_attestation(row.envelope, row.key_id, version)
            if version
            else "it attests a version the file does not hold"
        )
        if problem:
            problems.append(f"Line {line}: attestation refused: {problem}.")
    return problems


def check_artifact_files(numbered) -> list[str]:
    """A file row's storage key stays inside the artifact store, under its own version's prefix, ending in its file
    name (as upload writes it); the key itself is not repeated in the message (it may hold anything)."""
    from kernel.exceptions import RegistryError
    from models_app.artifacts.storage import key_problem
    from models_app.artifacts.upload import check_filename

    versions = _versions_of(numbered)
    problems = []
    for line, row in numbered:
        version = versions.get(row.version_id)
        problem = key_problem(row.storage_key)
        if problem is None:
            try:
                check_filename(row.filename)
            except RegistryError as exc:
                problem = str(exc)
        if problem is None and version is None:
            problem = "the file belongs to a version the file does not hold"
        if problem is None:
            prefix = f"{version.model.name}/{version.version}/"
            if not row.storage_key.startswith(prefix) or row.storage_key.rsplit("/", 1)[-1] != row.filename:
                problem = f"a storage key of {version} is {prefix}<upload id>/{row.filename}"
        if problem:
            problems.append(f"Line {line}: storage_key refused: {problem}.")
    return problems


# More sections of this app (see ``kernel.backup.sections``): after the versions they refer to.
MORE = [SimpleNamespace(SECTION="lineage", ORDER=11, section=lineage_section)]
