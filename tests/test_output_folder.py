"""sep3d.output_folder: names, the ledger on disk, publishing into fresh and existing folders.

The expectations are the module's documented contract (its docstrings), checked on the
file system with plain pathlib/json, never through another sep3d call.
"""
import json

import pytest

from sep3d.output_folder import MANIFEST, OutputFolder, OutputFolderBusy, atomic_path, check_name, replace_path


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


def test_names_may_hold_spaces_but_no_control_characters():
    check_name("case 1", "case ID")                          # a space is a printable character
    for bad in ("case\x1f1", "case\x7f", "case\n1"):
        with pytest.raises(ValueError, match="control character"):
            check_name(bad, "case ID")


def test_atomic_path_creates_missing_parent_folders(tmp_path):
    final = tmp_path / "a" / "b" / "c.txt"
    with atomic_path(final) as tmp:
        tmp.write_text("x")
    assert final.read_text() == "x" and [p.name for p in final.parent.iterdir()] == ["c.txt"]


def test_a_foreign_manifest_is_refused_and_leaves_the_folder_unlocked(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("[1, 2, 3]")                 # a JSON file sep3d did not write
    for _ in range(2):   # the second time too: the first refusal released its lock
        with pytest.raises(ValueError):
            OutputFolder(out).__enter__()
    (out / MANIFEST).unlink()
    with OutputFolder(out):
        with pytest.raises(OutputFolderBusy):
            OutputFolder(out).__enter__()


def test_a_manifest_with_only_done_and_failed_sections_is_adopted(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"done": {"k": {"output": "./a.txt"}}, "failed": {}}))
    (out / "a.txt").write_text("earlier")
    with OutputFolder(out) as folder:             # an older sep3d's manifest: its outputs are its own
        assert folder.owned == {"a.txt": "k"}
