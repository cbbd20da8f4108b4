"""A real S3-compatible server for tests: moto in server mode on 127.0.0.1, reached over HTTP by s3fs, boto3
and Megatron exactly as they reach any S3 endpoint (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's threaded server; ``stop``/``start`` keep its objects (moto holds them in this process)."""

    def __init__(self, port: int | None = None):
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server_cls = ThreadedMotoServer
        self.server = None

    def start(self) -> None:
        self.server = self._server_cls(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def bucket(self) -> str:
        """A new, empty bucket's URL."""
        import s3fs

        name = f"cf-{uuid.uuid4().hex[:12]}"
        s3fs.S3FileSystem(endpoint_url=self.endpoint, skip_instance_cache=True).mkdir(name)
        return f"s3://{name}"


@contextmanager
def s3_environment(endpoint: str):
    """Point every S3 client of this process (and of processes it starts) at ``endpoint``."""
    import s3fs

    values = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep another endpoint
    try:
        yield values
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3fs.S3FileSystem.clear_instance_cache()
