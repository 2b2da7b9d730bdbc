from pathlib import Path

import pytest

from vcop_lab.data.manifest import (
    VideoRecord,
    class_names,
    load_manifest,
    select_split,
    train_val_split,
    write_manifest,
)
from vcop_lab.errors import ManifestError


def _records(n_per_class=5, classes=("a", "b", "c")):
    return [VideoRecord(f"v/{c}_{i}.mp4", c, k, "train" if i < n_per_class - 1 else "test",
                        40 + i, 25.0, 86, 64)
            for k, c in enumerate(classes) for i in range(n_per_class)]


def test_round_trip(tmp_path):
    recs = _records()
    write_manifest(recs, tmp_path / "manifest.csv")
    assert load_manifest(tmp_path) == recs
    assert class_names(recs) == ["a", "b", "c"]
    assert len(select_split(recs, "test")) == 3


def test_all_bad_rows_reported_at_once(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text(
        "path,label,label_index,split,num_frames,fps,width,height\n"
        "a.mp4,a,0,train,10,25,86,64\n"
        "b.mp4,b,x,train,10,25,86,64\n"        # label_index not an int
        "c.mp4,c,2,holdout,10,25,86,64\n"      # unknown split
        "d.mp4,d,3,train,0,25,86,64\n"         # zero frames
        "/abs.mp4,e,4,train,10,25,86,64\n"     # absolute path
        "a.mp4,a,0,test,10,25,86,64\n"         # duplicate path
    )
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    text = str(err.value)
    for needle in ("line 3", "line 4", "line 5", "line 6", "listed 2 times", str(path)):
        assert needle in text
    assert "5 bad row(s)" in text


def test_missing_column_and_missing_file(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label\nx.mp4,a\n")
    with pytest.raises(ManifestError, match="missing column"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "nowhere")


def test_check_files_reports_missing_videos(tmp_path):
    recs = _records(2)
    write_manifest(recs, tmp_path / "manifest.csv")
    Path(tmp_path / recs[0].path).parent.mkdir(parents=True)
    Path(tmp_path / recs[0].path).touch()
    with pytest.raises(ManifestError, match=f"{len(recs) - 1} bad row"):
        load_manifest(tmp_path, check_files=True)


def test_crlf_and_bom_accepted(tmp_path):
    recs = _records(2)
    write_manifest(recs, tmp_path / "m.csv")
    text = (tmp_path / "m.csv").read_text().replace("\n", "\r\n")
    (tmp_path / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_manifest(tmp_path) == recs


def test_train_val_split_is_stratified_and_deterministic():
    recs = _records(10)
    train, val = train_val_split(recs, 0.25, seed=3)
    assert len(val) == round(0.25 * 27)
    assert {r.label for r in val} == {"a", "b", "c"}
    assert not {r.path for r in train} & {r.path for r in val}
    assert train_val_split(recs, 0.25, seed=3) == (train, val)
    assert train_val_split(recs, 0.25, seed=4)[1] != val
    assert len(train_val_split(recs, 4, seed=0)[1]) == 4
