"""The batch runner on dask.distributed: failures recorded, results intact, reruns resume."""
import json
import os
from pathlib import Path

import distributed
import numpy as np
import pytest
import scipy.ndimage as ndi

from batch_steps import engine_threads, flaky_step, half_written, record_step, smooth_case
from conftest import assert_close, inprocess_client, make_volume
from sep3d import batch



@pytest.fixture(scope="module", name="inprocess_client")
def inprocess_client_fixture():
    with inprocess_client(2) as client:
        yield client


def make_cases(folder, n_good=4, bad=("raise-1",), corrupt=("corrupt-1",), die=()):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items, volumes = [], {}
    for i in range(n_good):
        vol = make_volume((12, 14, 10), np.float32, seed=i)
        path = folder / f"case-{i}.npy"
        np.save(path, vol)
        items.append(str(path))
        volumes[str(path)] = vol
    for name in bad:
        items.append(str(folder / f"{name}.npy"))
    for name in corrupt:
        (folder / f"{name}.npy").write_bytes(b"\x93NUMPY garbage, not an array")
        items.append(str(folder / f"{name}.npy"))
    for name in die:
        np.save(folder / f"{name}.npy", make_volume((8, 8, 8), np.float32))
        items.append(str(folder / f"{name}.npy"))
    return items, volumes


def check_good_outputs(report, volumes):
    for item, vol in volumes.items():
        out = Path(report.done[item])
        assert out.exists()
        ref = ndi.gaussian_filter(vol.astype(np.float64), 1.5, mode="nearest")
        assert_close(np.load(out), ref, np.float32)


def test_failures_are_recorded_and_good_items_finish(tmp_path, inprocess_client):
    items, volumes = make_cases(tmp_path / "in")
    out = tmp_path / "out"
    report = batch.run(items, smooth_case, out, client=inprocess_client, retries=1, progress=False)
    check_good_outputs(report, volumes)
    assert set(report.failed) == {items[-2], items[-1]}
    assert "RuntimeError: step failed on purpose for raise-1.npy" == report.failed[items[-2]]
    assert "corrupt-1" not in "".join(os.listdir(out))  # no partial result
    manifest = json.loads((out / batch.MANIFEST).read_text())
    assert set(manifest["done"]) == set(volumes)
    assert manifest["failed"][items[-1]]["error"].startswith(("ValueError", "OSError", "EOFError"))
    assert "Traceback" in manifest["failed"][items[-1]]["traceback"]
    assert not (out / ".sep3d" / "staging").exists()


def test_rerun_skips_done_items_and_retries_failed_ones(tmp_path, inprocess_client):
    items, volumes = make_cases(tmp_path / "in")
    out = tmp_path / "out"
    first = batch.run(items, smooth_case, out, client=inprocess_client, progress=False)
    stamps = {p: Path(first.done[p]).stat().st_mtime_ns for p in volumes}
    np.save(items[-1], make_volume((12, 14, 10), np.float32, seed=9))  # the corrupt file repaired
    second = batch.run(items, smooth_case, out, client=inprocess_client, progress=False)
    assert sorted(second.skipped) == sorted(volumes)
    assert {p: Path(second.done[p]).stat().st_mtime_ns for p in volumes} == stamps  # not redone
    assert items[-1] in second.done and set(second.failed) == {items[-2]}
    # a done item whose output vanished is run again
    Path(second.done[items[0]]).unlink()
    third = batch.run(items, smooth_case, out, client=inprocess_client, progress=False)
    assert items[0] not in third.skipped and Path(third.done[items[0]]).exists()


def test_a_failing_step_leaves_nothing_half_written(tmp_path, inprocess_client):
    report = batch.run(["a", "b"], half_written, tmp_path, client=inprocess_client, retries=0,
                       progress=False)
    assert set(report.failed) == {"a", "b"} and "OSError: disk trouble on a" == report.failed["a"]
    assert sorted(os.listdir(tmp_path)) == [".sep3d", batch.MANIFEST]


def test_records_with_paths_are_published_into_out_dir(tmp_path, inprocess_client):
    items = [{"id": "p1", "value": 3}, {"id": "p2", "value": 5}]
    report = batch.run(items, record_step, tmp_path, client=inprocess_client, progress=False)
    key = batch.item_key(items[1])
    record = report.done[key]
    assert record["id"] == "p2" and record["value"] == 5
    assert [Path(f).read_text() for f in record["files"]] == ["5", "10"]
    assert all(Path(f).parent == tmp_path for f in record["files"])


def test_a_done_item_missing_one_of_its_outputs_is_computed_again(tmp_path, inprocess_client):
    items = [{"id": "p1", "value": 3}, {"id": "p2", "value": 5}]
    first = batch.run(items, record_step, tmp_path, client=inprocess_client, progress=False)
    lost = Path(first.done[batch.item_key(items[0])]["files"][1])     # one of p1's two files
    lost.unlink()
    second = batch.run(items, record_step, tmp_path, client=inprocess_client, progress=False)
    assert second.skipped == [batch.item_key(items[1])]               # p2 kept; p1 is not "done"
    record = second.done[batch.item_key(items[0])]
    assert [Path(f).read_text() for f in record["files"]] == ["3", "6"]   # value, 2 x value


def test_worker_process_death_is_recorded_and_the_batch_goes_on(tmp_path, capsys):
    """Real worker processes (LocalCluster default); one item kills its worker each try."""
    items, volumes = make_cases(tmp_path / "in", n_good=3, bad=(), corrupt=(), die=("die-1",))
    out = tmp_path / "out"
    report = batch.run(items, smooth_case, out, n_workers=2, retries=1)
    check_good_outputs(report, volumes)
    assert list(report.failed) == [items[-1]]
    assert "KilledWorker" in report.failed[items[-1]]
    assert not any(name.startswith("die") for name in os.listdir(out))  # written, never published
    assert "3 done, 1 failed, 0 remaining" in capsys.readouterr().err
    again = batch.run(items[:-1], smooth_case, out, n_workers=1)  # resumes without a cluster
    assert sorted(again.skipped) == sorted(volumes)


def test_chunked_filters_in_workers_use_the_workers_threads(inprocess_client):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        threads = client.gather(client.map(engine_threads, range(2), pure=False))
    assert threads == [1, 1]


def test_bad_arguments_and_manifest_are_errors(tmp_path):
    with pytest.raises(TypeError, match="`step` must be a callable"):
        batch.run(["a"], "not callable", tmp_path)
    with pytest.raises(ValueError, match="`retries` must be an int >= 0"):
        batch.run(["a"], smooth_case, tmp_path, retries=-1)
    with pytest.raises(ValueError, match=r"`items` must have unique keys; repeated: \['a'\]"):
        batch.run(["a", "a"], smooth_case, tmp_path)
    with pytest.raises(TypeError, match="either `client` or `scheduler`"):
        batch.run(["a"], smooth_case, tmp_path, client=object(), scheduler="tcp://x:1")
    (tmp_path / batch.MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="is not a sep3d batch manifest"):
        batch.run(["a"], smooth_case, tmp_path)


def test_atomic_path_replaces_only_on_success(tmp_path):
    final = tmp_path / "result.txt"
    final.write_text("old")
    with pytest.raises(KeyError):
        with batch.atomic_path(final) as tmp:
            tmp.write_text("new but broken")
            raise KeyError("boom")
    assert final.read_text() == "old" and os.listdir(tmp_path) == ["result.txt"]
    with batch.atomic_path(final) as tmp:
        tmp.write_text("new")
    assert final.read_text() == "new" and os.listdir(tmp_path) == ["result.txt"]
    store = tmp_path / "store.zarr"
    with batch.atomic_path(store) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("1")
    assert (store / "chunk").read_text() == "1"


def test_fingerprint_ignores_key_order_and_sees_every_value():
    spec = {"steps": [{"gaussian": {"sigma": 1.5}}], "sinks": ["nrrd"], "source": {"files": ["a.nrrd"]}}
    reordered = {"source": {"files": ["a.nrrd"]}, "sinks": ["nrrd"], "steps": [{"gaussian": {"sigma": 1.5}}]}
    assert batch.fingerprint(spec) == batch.fingerprint(reordered)     # a YAML edit that moves keys is no change
    changed = {**spec, "steps": [{"gaussian": {"sigma": 1.6}}]}
    assert batch.fingerprint(changed) != batch.fingerprint(spec)


def test_a_local_cluster_has_the_workers_asked_for_but_no_more_than_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    for asked, expected in ((5, 2), (None, 2)):                      # 5 asked, 2 cores; none asked: the cores
        client, cluster = batch._local_client(asked, False, 0)
        try:
            assert len(cluster.workers) == expected
        finally:
            client.close()
            cluster.close()


def test_a_batch_creates_a_nested_output_folder(tmp_path, inprocess_client):
    out = tmp_path / "a" / "b" / "out"
    report = batch.run([{"id": "p1", "value": 3}], record_step, out, client=inprocess_client, progress=False)
    assert [Path(f).read_text() for f in report.done[batch.item_key({"id": "p1", "value": 3})]["files"]] == ["3", "6"]


def test_an_item_failing_after_an_earlier_success_is_no_longer_done(tmp_path, inprocess_client):
    flag = tmp_path / "fail"
    items = [{"id": "p1", "value": 3, "fail_if": str(flag)}]
    out = tmp_path / "out"
    batch.run(items, flaky_step, out, client=inprocess_client, progress=False)
    flag.touch()
    second = batch.run(items, flaky_step, out, client=inprocess_client, retries=2, force=True, progress=False)
    key = batch.item_key(items[0])
    manifest = json.loads((out / batch.MANIFEST).read_text())
    assert key not in manifest["done"] and list(second.failed) == [key]
    assert manifest["failed"][key]["attempts"] == 3                   # the first try and 2 retries
    flag.unlink()
    third = batch.run(items, flaky_step, out, client=inprocess_client, progress=False)
    assert third.skipped == [] and (out / "p1.txt").read_text() == "3"


def test_by_default_a_failing_item_is_tried_twice(tmp_path, inprocess_client):
    (tmp_path / "fail").touch()
    items = [{"id": "p1", "value": 3, "fail_if": str(tmp_path / "fail")}]
    batch.run(items, flaky_step, tmp_path / "out", client=inprocess_client, progress=False)   # retries=1
    manifest = json.loads((tmp_path / "out" / batch.MANIFEST).read_text())
    assert manifest["failed"][batch.item_key(items[0])]["attempts"] == 2


def test_item_keys_of_dicts_ignore_key_order():
    assert batch.item_key({"id": "p1", "value": 3}) == batch.item_key({"value": 3, "id": "p1"})
    assert batch.item_key({"id": "p1", "value": 3}) != batch.item_key({"id": "p1", "value": 4})
