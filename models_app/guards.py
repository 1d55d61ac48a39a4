"""What keeps a model's name from changing inside this app (``kernel.rules.dependencies.register_name_guard``,
from ``ModelsAppConfig.ready``): stored artifact files live under storage keys that start with the model's name,
and a backup's import checks each key against that prefix; a signed attestation names the model as it was signed.
Renaming such a model would leave a backup that cannot be restored and statements that name another model, so the
rename is refused while the model has either (``kernel.writes.rename``)."""

from __future__ import annotations


def stored_under_its_name(model) -> list[str]:
    from models_app.models import ArtifactFile, Attestation

    found = []
    for rows, what in (
        (ArtifactFile.objects, "stored files (their storage keys and a backup's checks use the name)"),
        (Attestation.objects, "signed attestations (their statements name it)"),
    ):
        versions = sorted(set(rows.filter(version__model=model).values_list("version__version", flat=True)))
        if versions:
            shown = ", ".join(versions[:10]) + (f" and {len(versions) - 10} more" if len(versions) > 10 else "")
            found.append(f"the {what} of version{'s' if len(versions) > 1 else ''} {shown}")
    return found
