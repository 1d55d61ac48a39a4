"""The API suite with a read replica configured (``make test-replica``; issue 31).

``python -m tests.replica_suite [pytest arguments]`` makes a PostgreSQL primary of its own and its streaming
replica (``tests/replica_cluster.py``: ``initdb``, then ``pg_basebackup -R``, each on a loopback port of its own),
runs pytest with ``DATABASE_URL`` on the primary and ``DATABASE_REPLICA_URLS`` on the replica, so the router and
the middleware of ``registry_project/replicas.py`` are installed and every API read in rotation is served by the
replica, then stops both and removes them.

What makes the suite's tests meaningful against a replica (``tests/replica_mode.py``, loaded with ``-p``):

- Every test that uses the database runs in autocommit (pytest-django's transactional mode), since a replica
  cannot see rows a test's open transaction holds: the replica's reads would all be of an empty database, and the
  router sends every read of a connection inside a transaction to the primary anyway.
- The primary commits with ``synchronous_commit = remote_apply`` and the replica as its synchronous standby: a
  commit returns once the replica has replayed it. A test that writes rows with the ORM and then reads them
  through the API holds no consistency token; without remote_apply it would depend on replay beating the test
  to its next line. The consistency token and the rotation still run on every request as in production; the
  replica tests (tests/kernel/test_read_replicas.py) are the ones that make it lag.
- Statement-count bounds count the statements of every database (a read's statements now run on the replica)
  and leave out the routing's own (the token after a write, a rotation check): they are a cost of having
  replicas, stated in docs/production.md, not of the operation measured.

After the run, most of the API reads the tests made must have been sent to the replica (counted in each test
process) and the replica's own statistics (``pg_stat_statements``) must show it ran them: a configuration that
sent everything to the primary would otherwise pass unnoticed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests import replica_cluster

# Enough for two pytest-xdist workers (each with a primary and a replica connection) and the servers some tests
# start (gunicorn workers, Celery), with room.
SETTINGS = ("max_connections = 200", "shared_buffers = 128MB")
SERVED_BY_THE_REPLICA = """
    SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
    WHERE dbid <> (SELECT oid FROM pg_database WHERE datname = 'postgres') AND query ILIKE 'select%%'
      AND query NOT ILIKE '%%pg_is_in_recovery%%' AND query NOT ILIKE '%%pg_last_wal_replay_lsn%%'
"""
# The share of the tests' API reads the replica must have served. The rest are the first reads after a quiet
# spell, when a replica's age is not known yet and the primary answers (8 of 1,732 in a full run).
AT_LEAST = 0.8


def main(args: list[str]) -> int:
    if not replica_cluster.available():
        print("test-replica: PostgreSQL's server programs (initdb, pg_basebackup) are not installed", file=sys.stderr)
        return 1
    with replica_cluster.primary_and_replica(SETTINGS) as (primary, replica, _):
        primary.query("postgres", "CREATE DATABASE registry")
        primary.query("postgres", "CREATE EXTENSION pg_stat_statements")
        replica_cluster.make_replica(primary, replica)
        replica_cluster.wait_for_replay(primary, replica, "postgres")
        # From here every commit waits until the replica has replayed it (module docstring).
        primary.query("postgres", "ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.query("postgres", "ALTER SYSTEM SET synchronous_commit = 'remote_apply'")
        primary.query("postgres", "SELECT pg_reload_conf()")
        primary.query("postgres", "SELECT pg_stat_statements_reset()")
        report = Path(tempfile.mkdtemp(prefix="registry-replica-report-"))
        env = {
            **os.environ,
            "REGISTRY_TEST_REPLICA_REPORT": str(report),
            "DATABASE_URL": primary.url("registry"),
            "REGISTRY_TEST_REPLICA_URLS": replica.url("registry"),  # tests/replica_mode.py
        }
        print(f"test-replica: primary on 127.0.0.1:{primary.port}, its replica on 127.0.0.1:{replica.port}", flush=True)
        status = subprocess.call([sys.executable, "-m", "pytest", "-p", "tests.replica_mode", *args], env=env)
        chosen = Counter()
        for worker in report.glob("*.json"):
            chosen.update(json.loads(worker.read_text()))
        shutil.rmtree(report, ignore_errors=True)
        (served,) = replica.query("postgres", SERVED_BY_THE_REPLICA)[0]
        reads = chosen["replica"] + chosen["primary"]
        print(
            f"test-replica: {chosen['replica']} of the tests' {reads} API reads were sent to the replica, which ran "
            f"{served} read statements (its pg_stat_statements)"
        )
        if status == 0 and (chosen["replica"] < AT_LEAST * reads or served == 0):
            print(f"test-replica: the replica served less than {AT_LEAST:.0%} of the reads", file=sys.stderr)
            return 1
        return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
