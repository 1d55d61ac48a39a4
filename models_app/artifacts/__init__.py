"""Stored artifact files of a model version (the rows are ``models_app.models.ArtifactFile``):

- ``storage``: where the bytes live (one Django storage, chosen by settings), opening and presigned URLs;
- ``upload``: streamed upload with both digests, declared-digest checks, sealing;
- ``verify``: integrity re-checks;
- ``purge``: deleting a version's files (retention's purge).

Each upload writes to a key of its own (``<model>/<version>/<upload id>/<filename>``), so a rejected or failed
upload only ever has its own object to delete, a replaced file's old object is deleted once the new row has
committed, and no two versions share an object (deleting one version's files cannot break another's).
"""
