"""Reads of versioned definitions that the services' hot path takes: a document by name and reference or by id.
The QuerySet vocabulary (``present``, ``latest_per_definition``, ``named``, ...) lives on the models' QuerySets;
lists are the API's (``kernel.api.views`` with ``kernel.fastpaths.page_documents``)."""
