"""The PostgreSQL database engine the registry runs on (``ENGINE = "registry_project.db"``): Django's own, with a
connection health check that costs no round trip (``base.DatabaseWrapper.is_usable``) and server-prepared
statements for the hot path's fixed reads (``base.DatabaseWrapper.prepared_cursor``)."""
