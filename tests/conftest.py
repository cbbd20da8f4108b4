import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data directory {SHARED_DATA} (absent on this machine)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (JVM start-up is the slow part)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from corpusforge.job import SparkOptions
    from pipelines.engines.spark import spark_session

    session = spark_session(
        SparkOptions(master="local[2]", app_name="corpusforge-tests", conf={"spark.sql.shuffle.partitions": "4"})
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def s3():
    """A real S3-compatible server (moto) on 127.0.0.1 for the module, every S3 client pointed at it."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    from tests.s3_server import S3Server, s3_environment

    server = S3Server()
    server.start()
    try:
        with s3_environment(server.endpoint):
            yield server
    finally:
        server.stop()
