import pytest

from corpusforge.fs import atomic_open, exists, expand, read_text, write_text


@pytest.mark.parametrize("base", ["local", "memory://cf-test"])
def test_atomic_write_expand_and_read(tmp_path, base):
    root = str(tmp_path) if base == "local" else base
    write_text(f"{root}/a/one.txt", "1")
    write_text(f"{root}/a/two.txt", "2")
    assert read_text(f"{root}/a/one.txt") == "1"
    found = expand([f"{root}/a/*.txt"])
    assert [p.rsplit("/", 1)[-1] for p in found] == ["one.txt", "two.txt"]
    assert expand([f"{root}/a"]) == found
    assert all(exists(p) for p in found)


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "out" / "part.bin"
    with pytest.raises(RuntimeError), atomic_open(str(target)) as f:
        f.write(b"half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []
