"""sep3d.output_folder: names, the ledger on disk, publishing into fresh and existing folders.

The expectations are the module's documented contract (its docstrings), checked on the
file system with plain pathlib/json, never through another sep3d call.
"""
import json

import pytest

from sep3d.output_folder import MANIFEST, OutputFolder, check_name, replace_path


@pytest.mark.parametrize("value", [3, None, b"case", "", "   "])
def test_check_name_refuses_non_strings_and_blank_names_with_a_value_error(value):
    with pytest.raises(ValueError, match=r"^case ID must be a non-empty string; got "):
        check_name(value, "case ID")


def test_a_claim_is_in_the_manifest_on_disk_at_once(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        path = folder.claim("case1/log.nrrd", "case1")
        assert path == out / "case1" / "log.nrrd"
        # before the run ends: a crash now must still know who owns the file
        on_disk = json.loads((out / MANIFEST).read_text())
        assert on_disk["owned"] == {"case1/log.nrrd": "case1"}


def make_staging(root, text):
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "c.txt").write_text(text)
    store = root / "s.zarr"
    store.mkdir()
    (store / ".zgroup").write_text("{}")
    (store / text).write_text(text)          # a chunk named after the run
    return root


def test_publish_moves_nested_files_and_a_store_into_a_fresh_folder_then_replaces_them(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        rels = folder.publish(make_staging(tmp_path / "first", "one"), "k")
        assert sorted(rels) == ["a/b/c.txt", "s.zarr"]            # the store moves as one unit
        assert (out / "a" / "b" / "c.txt").read_text() == "one"
        rels = folder.publish(make_staging(tmp_path / "second", "two"), "k")
    assert (out / "a" / "b" / "c.txt").read_text() == "two"
    assert sorted(p.name for p in (out / "s.zarr").iterdir()) == [".zgroup", "two"]   # replaced, not merged
    assert json.loads((out / MANIFEST).read_text())["owned"] == {"a/b/c.txt": "k", "s.zarr": "k"}


def test_replace_path_puts_a_folder_in_place_of_an_existing_one(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "stale").write_text("x")
    new.mkdir()
    (new / "fresh").write_text("y")
    replace_path(new, old)
    assert [p.name for p in old.iterdir()] == ["fresh"] and not new.exists()
