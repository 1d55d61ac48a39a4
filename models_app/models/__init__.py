"""Every ORM model of the model registry (app label ``models_app``, tables and migrations unchanged), each with its
fields, read vocabulary and the hooks the kernel calls. The behaviour (``models_app.artifacts``, ``lineage``,
``attestations``, ``retention``, ``validation``) imports these; these import none of it at module level."""

# In the order the single models.py registered them (the app registry lists models in this order).
from models_app.models.artifact_files import ArtifactFile
from models_app.models.attestations import Attestation
from models_app.models.contributions import Contribution
from models_app.models.model import MAX_RETENTION_KEEP, Model, ModelVersion
from models_app.models.retention_totals import RetentionTotals

__all__ = [
    "MAX_RETENTION_KEEP",
    "ArtifactFile",
    "Attestation",
    "Contribution",
    "Model",
    "ModelVersion",
    "RetentionTotals",
]
