"""Memory of streamed artifact uploads: gunicorn (1 sync worker) on PostgreSQL, the body sent from this process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reg_artifacts_bench .venv/bin/python bench/artifact_upload.py

Creates (and afterwards drops) the database named in DATABASE_URL, then PUTs files of 16 MiB, 256 MiB and 1 GiB
to the filesystem storage (and, with BENCH_S3=1, to a moto S3 server on a free loopback port) and reports the
worker's peak resident memory (VmHWM) after each: it must stay flat, not grow with the file. Paste the table into
docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_load import free_port, gunicorn, manage, recreate_database  # noqa: E402
from bench.models_api import EXAMPLE  # noqa: E402

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/reg_artifacts_bench")
MIB = 1024 * 1024
SIZES = [16 * MIB, 256 * MIB, 1024 * MIB]
BLOCK = os.urandom(MIB)


def seed(env: dict) -> str:
    manage(env, "migrate", "--verbosity", "0")
    script = (
        "import json\nfrom django.contrib.auth import get_user_model\nfrom models_app.models import Model\nfrom kernel.writes.register import register\n"
        f"doc = json.loads({json.dumps(json.dumps(EXAMPLE))})\n"
        "for v in ('1.0.0', '2.0.0'):\n    register(Model, {**doc, 'version': v})\n"
        "get_user_model().objects.create_superuser('bench', 'bench@example.invalid', 'bench-pass-123')\n"
    )
    manage(env, "shell", "-c", script)
    return manage(env, "create_api_key", "bench").strip().splitlines()[-1]


def worker_pid(port: int) -> int:
    """The gunicorn worker: of the processes serving this port, the one whose parent is among them."""
    pids = [
        int(p)
        for p in subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout.split()
    ]
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        ppid = int(status.split("PPid:")[1].split()[0])
        if ppid in pids:
            return pid
    raise RuntimeError(f"no gunicorn worker among {pids}")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def body(size: int):
    sent = 0
    while sent < size:
        chunk = BLOCK[: min(MIB, size - sent)]
        sent += len(chunk)
        yield chunk


def upload(port: int, key: str, path: str, size: int) -> tuple[int, float, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    conn.request(
        "PUT",
        path,
        body=body(size),
        headers={
            "Authorization": f"Api-Key {key}",
            "Content-Length": str(size),
            "Content-Type": "application/octet-stream",
        },
    )
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, time.perf_counter() - started, text


def run(label: str, env: dict, key: str, version: str) -> list[str]:
    rows = []
    with gunicorn(env, workers=1, extra=("--timeout", "900")) as port:
        worker = worker_pid(port)
        status, _, text = upload(
            port, key, f"/api/v1/models/llama2-7b-chat/versions/{version}/artifacts/warmup.bin", MIB
        )
        assert status == 201, text
        rows.append(f"| {label} | warm-up 1 MiB | {peak_rss_mib(worker):.1f} | | |")
        for size in SIZES:
            status, seconds, text = upload(
                port, key, f"/api/v1/models/llama2-7b-chat/versions/{version}/artifacts/f{size}.bin", size
            )
            assert status == 201, text
            rows.append(
                f"| {label} | {size // MIB} MiB | {peak_rss_mib(worker):.1f} | {seconds:.1f} | {size / MIB / seconds:.0f} |"
            )
    return rows


def main() -> None:
    recreate_database(DATABASE_URL)
    with tempfile.TemporaryDirectory(prefix="artifact-bench-") as root:
        env = {
            "DATABASE_URL": DATABASE_URL,
            "DEBUG": "false",
            "SECRET_KEY": "bench",
            "ALLOWED_HOSTS": "127.0.0.1",
            "ARTIFACT_ROOT": root,
            "ARTIFACT_MAX_FILE_BYTES": str(2 * 1024 * MIB),
        }
        key = seed(env)
        rows = run("filesystem", env, key, "1.0.0")
        if os.environ.get("BENCH_S3"):
            port = free_port()
            moto = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                time.sleep(3)
                import boto3

                s3 = {
                    "endpoint_url": f"http://127.0.0.1:{port}",
                    "region_name": "us-east-1",
                    "aws_access_key_id": "b",
                    "aws_secret_access_key": "b",
                }
                boto3.client("s3", **s3).create_bucket(Bucket="bench")
                s3_env = {
                    **env,
                    "ARTIFACT_STORAGE": "s3",
                    "ARTIFACT_S3_BUCKET": "bench",
                    "ARTIFACT_S3_ENDPOINT_URL": s3["endpoint_url"],
                    "ARTIFACT_S3_REGION": "us-east-1",
                    "ARTIFACT_S3_ACCESS_KEY_ID": "b",
                    "ARTIFACT_S3_SECRET_ACCESS_KEY": "b",
                }
                rows += run("s3 (moto)", s3_env, key, "2.0.0")
            finally:
                moto.terminate()
                moto.wait(timeout=20)
    print("| storage | upload | worker peak RSS MiB (VmHWM) | seconds | MiB/s |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
