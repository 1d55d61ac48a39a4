"""The PostgreSQL database engine the registry runs on (``ENGINE = "registry_project.db"``): Django's own, with a
connection health check that costs no round trip (``base.DatabaseWrapper.is_usable``) and server-prepared
statements for the hot path's fixed reads (``base.DatabaseWrapper.prepared_cursor``)."""


def sessions_outlive_transactions(connection) -> bool:
    """Whether what a session holds (a session-level advisory lock, a prepared statement, a ``SET``) is still there
    in the connection's next transaction: not behind PgBouncer in transaction mode (``DATABASE_POOLER``), which may
    run each transaction in another server session."""
    return connection.settings_dict.get("POOLER", "none") != "pgbouncer-transaction"
