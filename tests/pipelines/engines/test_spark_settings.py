"""The settings a Spark session gives its executors: this project importable, Arrow's pool the one the CLI sets."""

from pipelines.engines.spark import executor_settings


def test_executors_get_the_system_arrow_pool_unless_chosen():
    assert executor_settings({}, {})["spark.executorEnv.ARROW_DEFAULT_MEMORY_POOL"] == "system"
    assert executor_settings({}, {"ARROW_DEFAULT_MEMORY_POOL": "jemalloc"})[
        "spark.executorEnv.ARROW_DEFAULT_MEMORY_POOL"
    ] == "jemalloc"
    chosen = {"spark.executorEnv.ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}
    assert "spark.executorEnv.ARROW_DEFAULT_MEMORY_POOL" not in executor_settings(chosen, {})
