import pytest
import torch

pytest.importorskip("megatron.core")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    torch.set_num_threads(1)  # tiny models: thread start-up costs more than it saves on 2 shared cores


@pytest.fixture
def shards(tmp_path):
    from tests.training.factory import write_shards

    return write_shards(tmp_path / "shards")
