"""A real S3-compatible server for tests: moto's server in a child process on a free loopback port.

The server checks credentials and signatures (moto's IAM enforcement is switched on after the
first three requests, which create the one user and its access key), so a wrong key is refused
as a real object store would refuse it. :func:`s3_server` yields an :class:`S3Server` and stops
the process afterwards.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Iterator

import pg

REGION = "us-east-1"


@dataclasses.dataclass
class S3Server:
    port: int
    key_id: str
    secret: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.key_id,
                            aws_secret_access_key=self.secret, region_name=REGION)

    def create_bucket(self, prefix: str = "lake") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def env(self, data_path: str) -> dict[str, str]:
        """The environment that points a store's data path at this server."""
        return {"BORDERWATCH_DATA_PATH": data_path, "AWS_ACCESS_KEY_ID": self.key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_REGION": REGION,
                "BORDERWATCH_S3_ENDPOINT": self.endpoint, "BORDERWATCH_S3_URL_STYLE": "path"}


def _wait(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with status {proc.returncode}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        time.sleep(0.1)
    raise RuntimeError("moto_server did not start listening in time")


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    import boto3

    port = pg.free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port, proc)
        iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="setup",
                           aws_secret_access_key="setup", region_name=REGION)
        iam.create_user(UserName="borderwatch")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="borderwatch", PolicyName="lake", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="borderwatch")["AccessKey"]
        yield S3Server(port, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
