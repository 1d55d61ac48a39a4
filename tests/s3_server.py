"""A real S3 API for the artifact tests: moto's server mode in a child process on a free loopback port (the
registry talks to it over HTTP with boto3, exactly as to any S3-compatible store; nothing is mocked in-process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "registry-test", "aws_secret_access_key": "registry-test-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    port = free_port()
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def s3_client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, config=Config(s3={"addressing_style": "path"}), **CREDENTIALS
    )


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    """A fresh bucket per test, so tests never see each other's objects."""
    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def use_s3(settings, endpoint: str, bucket: str) -> None:
    """Point the artifact storage at ``bucket`` of the test S3 server (pytest-django's ``settings`` fixture)."""
    settings.ARTIFACT_STORAGE = "s3"
    settings.ARTIFACT_S3 = {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": REGION,
        "location": "",
        "access_key": CREDENTIALS["aws_access_key_id"],
        "secret_key": CREDENTIALS["aws_secret_access_key"],
    }
