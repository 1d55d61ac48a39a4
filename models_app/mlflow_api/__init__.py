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
- **Tags.** MLflow's tags are key -> text; this registry's are lists of slugs. A version's MLflow tags live in
  its ``metadata["mlflow_tags"]`` (so ``/api/v1`` shows them, and setting one is a ``model.version_updated``);
  a registered model's in ``Model.mlflow_tags`` (``model.updated``). The registry's own list tags are left as
  they are and are not shown as MLflow tags.
- **Stages** (MLflow's deprecated workflow, for older clients): ``Production`` is the current version
  (``activate``), ``Staging`` the alias ``staging``, ``Archived`` archived, ``None`` anything else.
  transition-stage makes the same moves; to ``None`` it deprecates a current version and removes a ``staging``
  alias that points at it.
- **Names** follow this registry's rule (lowercase slugs), and so do alias names; deleting a model is the
  registry's soft delete (its name stays taken until an administrator restores it).
"""
