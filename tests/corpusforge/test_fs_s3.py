"""corpusforge.fs against a real S3-compatible server (moto on 127.0.0.1): atomic writes, retries with backoff
while the store does not answer, one clear error naming the URL, and nothing half-written."""

from __future__ import annotations

import time

import pytest

from corpusforge.errors import StoreUnreachable
from corpusforge.fs import BACKOFF_ENV, TRIES_ENV, atomic_open, exists, expand, read_text, write_text
from tests.s3_server import S3Server, free_port, s3_environment


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setenv(TRIES_ENV, "3")
    monkeypatch.setenv(BACKOFF_ENV, "0.1")


def test_write_read_and_expand_on_s3(s3):
    root = s3.bucket()
    write_text(f"{root}/a/one.txt", "1")
    write_text(f"{root}/a/two.txt", "2")
    assert read_text(f"{root}/a/one.txt") == "1"
    assert expand([f"{root}/a"]) == [f"{root}/a/one.txt", f"{root}/a/two.txt"] == expand(f"{root}/a/*.txt")


def test_a_failed_write_uploads_nothing(s3):
    root = s3.bucket()
    with pytest.raises(RuntimeError), atomic_open(f"{root}/part.bin") as f:
        f.write(b"half")
        raise RuntimeError("killed")
    assert not exists(f"{root}/part.bin")


def test_an_unreachable_store_is_retried_then_fails_naming_the_url(fast_retries):
    with s3_environment(f"http://127.0.0.1:{free_port()}"):  # nothing listens there
        start = time.monotonic()
        with pytest.raises(StoreUnreachable) as caught:
            exists("s3://bucket/out/config.yaml")
    message = str(caught.value)
    assert message.startswith("s3://bucket/out/config.yaml: ") and "after 3 tries" in message
    assert "\n" not in message
    assert time.monotonic() - start >= 0.1 + 0.2  # the backoff: 0.1 s, then 0.2 s


def test_a_store_that_goes_away_mid_write_keeps_nothing_half_written(fast_retries):
    server = S3Server()
    server.start()
    try:
        with s3_environment(server.endpoint):
            root = server.bucket()
            write_text(f"{root}/done.txt", "finished before")
            with pytest.raises(StoreUnreachable, match=f"{root}/part.bin"), atomic_open(f"{root}/part.bin") as f:
                f.write(b"x" * 1_000_000)
                server.stop()  # the store goes away before the upload
            server.start()
            assert not exists(f"{root}/part.bin")
            assert read_text(f"{root}/done.txt") == "finished before"
    finally:
        server.stop()
