"""Lineage: which registered version a model version improves on, the metric deltas between them, who
contributed, and the walks up to the baseline and down to the descendants.

The link is ``ModelVersion.derived_from``, a foreign key to the parent version's immutable id (any model, not
only the same one), so renaming a model never breaks it. A document names the parent as ``{"model", "version",
"relation"}``; registration resolves it once and the document is rendered back from the key, with today's names.

Cycles cannot be built: a version can only derive from a version that already exists, the link is set once at
registration and never changes, and a version naming itself is rejected (``lineage_cycle``). The database also
refuses a row linked to itself, and the walks stop after ``LINEAGE_MAX_DEPTH`` steps whatever the data.

- ``rules``: addresses and the document rules (run by ``models_app.validation.model_validator``);
- ``record``: registration (``ModelVersion.split_document`` and ``on_registered`` call it);
- ``deltas``: metric deltas and contributors' shares;
- ``walk``: the lineage answer (ancestors, descendants) and the export record;
- ``impact``: what an address contributed;
- ``picture``: the admin's SVG and delta table.

The ORM models are ``models_app.models.ModelVersion`` (the link) and ``Contribution``.
"""
