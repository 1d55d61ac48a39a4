"""Registration's side of lineage: the spec as stored, and the contributors, link, deltas and attestation a
version gets when it is registered (``ModelVersion.split_document`` and ``ModelVersion.on_registered``)."""

from __future__ import annotations

from kernel.rules.validation import DocumentInvalid
from models_app.attestations import sign
from models_app.lineage.deltas import compute_deltas, improvements
from models_app.lineage.rules import checksum_address, resolve_parent
from models_app.models import Attestation, Contribution, ModelVersion


def normalised_spec(spec: dict) -> dict:
    """The spec as stored: ``derived_from`` lives in the foreign key (not the spec, where a name could go stale),
    addresses in EIP-55 form, weights normalised to sum to exactly 1 (equal shares when none is given)."""
    spec = {k: v for k, v in spec.items() if k != "derived_from"}
    contributors = spec.get("contributors")
    if isinstance(contributors, list) and contributors:
        weights = [c.get("weight") for c in contributors]
        if all(w is None for w in weights):
            weights = [1.0] * len(contributors)
        total = sum(weights)
        spec["contributors"] = [
            {**c, "address": checksum_address(c["address"]) or c["address"], "weight": weight / total}
            for c, weight in zip(contributors, weights)
        ]
    return spec


def record_lineage(version: ModelVersion, document: dict) -> None:
    """Registration hook (``ModelVersion.on_registered``): contributors, the parent link, the deltas and, for an
    improvement, the signed attestation, all in the registration's transaction."""
    Contribution.objects.bulk_create(
        Contribution(version=version, address=c["address"], role=c["role"], weight=c["weight"])
        for c in version.spec.get("contributors") or []
    )
    ref = document.get("derived_from")
    if not ref:
        return
    parent, issue = resolve_parent(ref, registering=version)
    if issue is not None:  # validated a moment ago; only a concurrent change gets here
        raise DocumentInvalid([issue])
    version.derived_from = parent
    version.relation = ref["relation"]
    version.lineage_depth = parent.lineage_depth + 1
    version.deltas = compute_deltas(
        parent.spec.get("metrics") or {}, version.spec.get("metrics") or {}, version.model.metric_directions
    )
    version.save(update_fields=["derived_from", "relation", "lineage_depth", "deltas"])
    if improvements(version.deltas):
        sign.issue(version)


def refresh_deltas(version: ModelVersion) -> None:
    """After ``version``'s metrics changed (an evaluation, ``models_app.evaluations``): its deltas against its
    parent and its derivatives' against it, from the latest metrics, in the caller's transaction. Attestations
    stay as issued (they attest what was registered); a version that now improves on its parent and has none is
    issued one."""
    directions = version.model.metric_directions
    metrics = version.spec.get("metrics") or {}
    changed = []
    if version.derived_from_id is not None:
        parent = ModelVersion.objects.get(pk=version.derived_from_id)
        version.deltas = compute_deltas(parent.spec.get("metrics") or {}, metrics, directions)
        version.save(update_fields=["deltas"])
        changed.append(version)
    for child in ModelVersion.objects.filter(derived_from=version).select_related("model"):
        child.deltas = compute_deltas(metrics, child.spec.get("metrics") or {}, child.model.metric_directions)
        child.save(update_fields=["deltas"])
        changed.append(child)
    attested = set(Attestation.objects.filter(version__in=changed).values_list("version", flat=True))
    for item in changed:
        if item.pk not in attested and improvements(item.deltas):
            sign.issue(item)
