"""MLflow's Model Registry REST API (``/api/2.0/mlflow/...`` and the UI's ``/ajax-api/2.0/mlflow/...``) over the
same models, so MLflow's own client works with ``MLFLOW_TRACKING_URI=<registry>`` and
``MLFLOW_TRACKING_TOKEN=<api key>``. Every write goes through the kernel's verbs (``kernel.writes``,
``kernel.models.aliases``), so what MLflow's client does appears in ``/api/v1``, the change log and the webhooks
like any other write; this package only translates (docs/api/mlflow.md says the same for users).

How the two registries meet:

- **Version numbers.** MLflow numbers a model's versions 1, 2, 3; this registry names them by semver. Each
  version has both: ``ModelVersion.mlflow_number`` (registration order per model, assigned by the database on
  insert, never reused; migration 0013) is MLflow's ``version``, and the semver is shown to MLflow as the tag
  ``registry.semver``. A version created through MLflow gets the semver ``<N>.0.0`` with N one above the model's
  highest major (so an MLflow-only model's versions 1, 2, 3 are 1.0.0, 2.0.0, 3.0.0), or the semver given as the
  tag ``registry.semver`` on create.
- **A version's spec.** MLflow's ``source``, ``run_id`` and ``run_link`` are kept in the spec's ``mlflow`` block
  (immutable, as in MLflow); the spec's ``artifact`` is derived from the source (``s3://b/p`` gives bucket ``b``,
  path ``p``; a URI without a host gives its scheme as the bucket) with format ``mlflow``, and ``runtime`` is
  ``custom``. A version registered through ``/api/v1`` shows MLflow the source ``s3://<bucket>/<path>``.
- **Tags.** A registered model's MLflow tags are its labels (``Definition.labels``, written by
  ``kernel.writes.update.set_labels``): a tag that is not a label is refused; tags stored before that which could
  not be labels stay in ``Model.mlflow_tags`` (migration 0015), shown and deletable. A version's MLflow tags are
  any text, kept in its ``metadata["mlflow_tags"]`` (versions have no labels; setting one is a
  ``model.version_updated``). The registry's own list tags are not shown as MLflow tags.
- **Renames** are the kernel's (``kernel.writes.rename``).
- **Stages** (MLflow's deprecated workflow, for older clients): ``Production`` is the current version
  (``activate``), ``Staging`` the alias ``staging``, ``Archived`` archived, ``None`` anything else.
  transition-stage makes the same moves; to ``None`` it deprecates a current version and removes a ``staging``
  alias that points at it.
- **Names** follow this registry's rule (lowercase slugs), and so do alias names; deleting a model is the
  registry's soft delete (its name stays taken until an administrator restores it).
"""
