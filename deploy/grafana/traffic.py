"""Traffic for deploy/grafana/preview.py's picture, against a registry on loopback: registrations (a new version each
time), artifact uploads and downloads, reads, invalid documents (400), unknown names (404), one burst of reads past the
rate limit (429) in the middle, and now and then ``refresh_stats``, ``backup_registry``, ``check_restore`` and
``deliver_webhooks`` (run here, with this process's environment: point it at the server's database and
``PROMETHEUS_MULTIPROC_DIR``)::

    KEY=<a read-write key> python deploy/grafana/traffic.py --host http://127.0.0.1:8000 --seconds 240

Prints the count of each response status at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "models_app" / "examples" / "llama2-7b-chat.json").read_text())
READS = (
    "/api/v1/models/llama2-7b-chat",
    "/api/v1/models?limit=20",
    "/api/v1/changes?kind=model&limit=10",
    "/api/v1/pipelines/text-generation-pipeline/execution-order",
)
JOBS = (("refresh_stats",), ("backup_registry",), ("check_restore",), ("deliver_webhooks",))


class Client:
    def __init__(self, host: str, key: str):
        self.host, self.key, self.statuses = host.rstrip("/"), key, Counter()

    def call(self, method: str, path: str, body: dict | bytes | None = None) -> int:
        binary = isinstance(body, bytes)
        request = urllib.request.Request(
            self.host + path,
            data=body if binary or body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Api-Key {self.key}",
                "Content-Type": "application/octet-stream" if binary else "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            error.read()
            status = error.code
        self.statuses[status] += 1
        return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--major", type=int, default=1, help="major version of the versions registered (default 1)")
    args = parser.parse_args()
    client = Client(args.host, os.environ["KEY"])
    end = time.monotonic() + args.seconds
    step = 0
    while (left := end - time.monotonic()) > 0:
        step += 1
        name, version = f"preview-{step % 7}", f"{args.major}.{step // 7}.0"
        document = {**EXAMPLE, "name": name, "version": version}
        if client.call("POST", "/api/v1/models", document) in (200, 201) and step % 3 == 0:
            artifact = f"/api/v1/models/{name}/versions/{version}/artifacts/model.bin"
            client.call("PUT", artifact, os.urandom(random.randint(20_000, 400_000)))
            client.call("GET", artifact)
        burst = 0.45 < left / args.seconds < 0.52
        for _ in range(8 if burst else 1):
            for path in (*READS, f"/api/v1/models/{name}"):
                client.call("GET", path)
        invalid = {**document, "version": "1.0", "runtime": {"type": "tgi"}}
        if step % 2 == 0:
            client.call("POST", "/api/v1/models", invalid)
            client.call("GET", "/api/v1/models/no-such-model")
            client.call("GET", "/api/v1/models?colour=blue")
        client.call("POST", "/api/v1/models/validate", invalid if step % 2 == 0 else document)
        client.call("GET", "/health/ready")
        if step % 60 == 1:
            for job in JOBS:
                subprocess.run([sys.executable, "manage.py", *job], cwd=ROOT, capture_output=True, timeout=300)
        time.sleep(0.02 if burst else 1.5)
    print(dict(sorted(client.statuses.items())))


if __name__ == "__main__":
    main()
