"""Tests of the video reading layer on real third-party clips (../shared/realdata)."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vcop_lab.data import video
from vcop_lab.data.video import (
    VideoInfo,
    VideoReader,
    available_backends,
    choose_backend,
    main_inspect,
    probe,
    read_frames,
    require_frames,
)
from vcop_lab.errors import SettingsError, VideoError

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
CLIPS_CSV = REALDATA / "clips.csv"
HAS_DECORD = "decord" in available_backends()
needs_decord = pytest.mark.skipif(not HAS_DECORD, reason="decord does not import here")

MP4 = "videos/kinetics400/R6llTwEh07w.mp4"
AVI = "videos/ucf101/v_SoccerJuggling_g23_c01.avi"
HMDB = "videos/hmdb51/RATRACE_wave_f_nm_np1_fr_goo_37.avi"
SHORT = "videos/hmdb51/TrumanShow_wave_f_nm_np1_fr_med_26.avi"
GIF = "videos/ucf101/v_CricketShot_g04_c01_rgb.gif"


def _rows() -> list[dict[str, str]]:
    if not CLIPS_CSV.exists():
        return []
    with open(CLIPS_CSV, newline="") as f:
        return list(csv.DictReader(f))


ROWS = _rows()
ROW = {row["path"]: row for row in ROWS}
ALL = [row["path"] for row in ROWS] or ["<no real data>"]
NOT_GIF = [p for p in ALL if not p.endswith(".gif")]
# Frame-exact reading is checked on every AVI (all B-frame MPEG-4 Part 2, where decoders go
# wrong), the GIF, the MKV and two MP4s; decoding every long MP4 would add little but time.
READ = [
    p
    for p in ALL
    if p.endswith((".avi", ".gif", ".mkv")) or p in (MP4, "videos/activitynet/v_GGSY1Qvo990.mp4")
] or ALL


def _path(rel: str) -> Path:
    if not CLIPS_CSV.exists():
        pytest.skip(f"real test data not found at {REALDATA}")
    return REALDATA / rel


def _decode(path: Path, wanted) -> dict[int, np.ndarray]:
    """The frames at ``wanted``, found by plainly decoding the whole file with PyAV."""
    wanted = set(wanted)
    with av.open(str(path), metadata_errors="ignore") as container:
        return {
            i: frame.to_ndarray(format="rgb24")
            for i, frame in enumerate(container.decode(video=0))
            if i in wanted
        }


def _count(rel: str) -> int:
    return int(ROW[rel]["decoded_frames"]) if rel in ROW else 0


def _mad(a: torch.Tensor | np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - b.astype(np.int16)).mean())


def _tuple_indices(count: int, start: int) -> list[int]:
    """Frame indices of a 16-8-3 tuple (three 16-frame clips 8 frames apart)."""
    return [start + c * 24 + k for c in range(3) for k in range(16) if start + c * 24 + k < count]


# --- probing --------------------------------------------------------------------------------


def _check_probe(rel: str, backend: str) -> VideoInfo:
    row = ROW.get(rel) or pytest.skip("real test data not found")
    info = probe(_path(rel), backend)
    assert info.num_frames == int(row["decoded_frames"])
    assert (info.width, info.height) == (int(row["width"]), int(row["height"]))
    assert info.fps == pytest.approx(float(row["fps"]), abs=0.01)
    assert info.path == str(_path(rel))
    return info


@pytest.mark.parametrize("rel", ALL)
def test_probe_auto_counts_decoded_frames(rel):
    info = _check_probe(rel, "auto")
    expected = "decord" if HAS_DECORD and not rel.endswith(".gif") else "pyav"
    assert info.backend == expected


@pytest.mark.parametrize("rel", ALL)
def test_probe_pyav_counts_decoded_frames(rel):
    assert _check_probe(rel, "pyav").backend == "pyav"


@needs_decord
@pytest.mark.parametrize("rel", NOT_GIF)
def test_probe_decord_counts_decoded_frames(rel):
    assert _check_probe(rel, "decord").backend == "decord"


@needs_decord
def test_decord_header_count_is_one_too_many_on_hmdb51():
    # Why the count is verified: decord's own count says 73, but 72 frames decode.
    import decord

    assert len(decord.VideoReader(str(_path(HMDB)))) == _count(HMDB) + 1
    assert probe(_path(HMDB), "decord").num_frames == _count(HMDB)


# --- reading ---------------------------------------------------------------------------------


def _keyframe_indices(rel: str, count: int) -> list[int]:
    """Frames next to the keyframes decord knows, where its seeking goes wrong."""
    if not HAS_DECORD or rel.endswith(".gif"):
        return []
    import decord

    keys = decord.VideoReader(str(_path(rel))).get_key_indices()
    return sorted({i for k in keys for i in (k - 1, k, k + 1) if 0 <= i < count})


def _wrong(frames: torch.Tensor, wanted: list[int], ref: dict[int, np.ndarray]) -> list[int]:
    """The requested indices whose returned frame is not the reference frame."""
    return [i for k, i in enumerate(wanted) if _mad(frames[k], ref[i]) > 0.5]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("rel", READ)
def test_read_frames_match_sequential_decode(rel, backend):
    """Every requested frame is the frame at that decode index."""
    if backend == "decord" and (not HAS_DECORD or rel.endswith(".gif")):
        pytest.skip("decord is not available or cannot read GIF")
    count = _count(rel)
    # A tuple in the middle, frames around every keyframe and the last frame, out of order.
    wanted = _tuple_indices(count, max(0, (count - 64) // 2))
    wanted += _keyframe_indices(rel, count) + [count - 1, 0]
    wanted = wanted[::-1]
    frames = read_frames(_path(rel), wanted, backend=backend, num_frames=count)
    assert frames.dtype == torch.uint8
    ref = _decode(_path(rel), wanted)
    assert tuple(frames.shape) == (len(wanted), *ref[0].shape)
    assert not _wrong(frames, wanted, ref)


@pytest.mark.parametrize("backend", available_backends())
def test_request_order_and_repeats(backend):
    wanted = [40, 3, 40, 0, 71, 3]
    frames = read_frames(_path(HMDB), wanted, backend=backend)  # count unknown
    assert tuple(frames.shape) == (6, 240, 560, 3)
    ref = _decode(_path(HMDB), wanted)
    assert not _wrong(frames, wanted, ref)
    assert torch.equal(frames[0], frames[2])
    assert _mad(frames[0], ref[3]) > 5  # distinct frames really differ: the check has teeth
    assert torch.equal(read_frames(_path(HMDB), torch.tensor([3]), backend=backend)[0], frames[1])


@needs_decord
@pytest.mark.parametrize("rel", [AVI, HMDB, MP4])
@pytest.mark.parametrize("size", [None, (128, 171)])
def test_decord_and_pyav_agree(rel, size):
    wanted = _tuple_indices(_count(rel), 5)
    a = read_frames(_path(rel), wanted, backend="decord", size=size)
    b = read_frames(_path(rel), wanted, backend="pyav", size=size)
    assert a.shape == b.shape
    # Measured: identical at full size; 0.11 (UCF101), 0.37 (HMDB51), 0.24 (MP4) resized.
    assert _mad(a, b.numpy()) < 1.0


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("rel", [AVI, MP4, GIF])
def test_resize_in_decoder(rel, backend):
    if backend == "decord" and rel.endswith(".gif"):
        pytest.skip("decord cannot read GIF")
    frames = read_frames(_path(rel), [0, 9], backend=backend, size=(128, 171))
    assert tuple(frames.shape) == (2, 128, 171, 3)
    assert frames.dtype == torch.uint8
    # The resized frame is frame 9, scaled: compare with torch's antialiased bilinear resize.
    # Measured: 0.03-1.3 grey levels; frame 0 instead of frame 9 gives 6 (GIF) to 53 (MP4).
    full = torch.from_numpy(_decode(_path(rel), [9])[9]).permute(2, 0, 1)[None].float()
    small = torch.nn.functional.interpolate(full, (128, 171), mode="bilinear", antialias=True)
    assert _mad(frames[1].permute(2, 0, 1)[None], small.round().numpy()) < 2.5


def test_reader_is_lazy_reusable_and_picklable():
    ref = _decode(_path(AVI), [5, 7, 10, 11, 100, 120])
    reader = VideoReader(_path(AVI), backend="pyav")
    assert reader._handle is None  # nothing opened by the constructor
    first = reader.get([10, 11])
    later = reader.get([100, 120])  # continues forward
    earlier = reader.get([5])  # starts again from the beginning
    for frames, wanted in [(first, [10, 11]), (later, [100, 120]), (earlier, [5])]:
        assert not _wrong(frames, wanted, ref)
    reader._pid = -1  # as if forked into a DataLoader worker after use: it opens its own
    stale = reader._handle
    assert not _wrong(reader.get([120]), [120], ref)
    assert reader._handle is not stale
    copy = pickle.loads(pickle.dumps(reader))
    assert copy._handle is None
    assert not _wrong(copy.get([7]), [7], ref)
    assert reader.num_frames == _count(AVI)
    reader.close()
    copy.close()


@pytest.mark.parametrize("backend", available_backends())
def test_decoder_threads_keep_decode_order(backend):
    wanted = _tuple_indices(_count(HMDB), 8)
    one = read_frames(_path(HMDB), wanted, backend=backend, threads=1)
    assert torch.equal(read_frames(_path(HMDB), wanted, backend=backend, threads=2), one)


@needs_decord
@pytest.mark.parametrize("rel", [p for p in ALL if "/hmdb51/" in p] or ["<no real data>"])
def test_decord_reads_hmdb51_exactly(rel):
    # decord's own skip_frames returned frame 68 for [68, 73] on SchoolRules...; next() works.
    count = _count(rel)
    ref = _decode(_path(rel), range(count))
    wanted = [count - 6, count - 1, 0, 19, 20, 21, count - 2]
    assert not _wrong(read_frames(_path(rel), wanted, backend="decord"), wanted, ref)
    every = list(range(count))
    assert not _wrong(read_frames(_path(rel), every, backend="decord"), every, ref)


@needs_decord
def test_decord_reader_continues_across_keyframes():
    ref = _decode(_path(SHORT), range(48))  # keyframes at decord positions 0, 1 and 20
    with VideoReader(_path(SHORT), backend="decord") as reader:
        for wanted in ([0, 15], [19, 20, 21], [24, 39], [2]):
            assert not _wrong(reader.get(wanted), wanted, ref)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("known", [False, True])
@pytest.mark.parametrize("backend", available_backends())
def test_index_beyond_decodable_count_raises(backend, known):
    count = _count(HMDB)
    path = _path(HMDB)
    num_frames = count if known else None
    # count = decord's header count - 1: the frame that the header promises but never decodes.
    with pytest.raises(VideoError, match="out of range") as caught:
        read_frames(path, [0, count], backend=backend, num_frames=num_frames)
    assert str(path) in str(caught.value)
    with pytest.raises(VideoError, match="negative"):
        read_frames(path, [-1], backend=backend, num_frames=num_frames)
    assert read_frames(path, [count - 1], backend=backend, num_frames=num_frames).shape[0] == 1


def test_wrong_manifest_count_is_caught_while_decoding():
    path = _path(SHORT)
    with pytest.raises(VideoError, match="has 48 decodable frames"):
        read_frames(path, [50], backend="pyav", num_frames=60)


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {"missing": tmp_path / "missing.avi", "random": tmp_path / "random.mp4"}
    files["random"].write_bytes(rng.bytes(50_000))
    data = _path(MP4).read_bytes()
    files["truncated"] = tmp_path / "truncated.mp4"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["empty"] = tmp_path / "empty.avi"
    files["empty"].write_bytes(b"")
    return files


@pytest.mark.parametrize("backend", available_backends())
def test_unreadable_files_raise_video_error_naming_the_file(tmp_path, backend):
    for kind, path in _bad_files(tmp_path).items():
        for call in (lambda p=path: probe(p, backend), lambda p=path: read_frames(p, [0], backend)):
            with pytest.raises(VideoError) as caught:
                call()
            assert str(path) in str(caught.value), kind
            assert caught.value.fix, kind


@pytest.mark.parametrize("backend", available_backends())
def test_truncated_avi_reports_what_decodes(tmp_path, backend):
    data = _path(HMDB).read_bytes()
    path = tmp_path / "truncated.avi"
    path.write_bytes(data[: len(data) // 2])
    info = probe(path, backend)
    assert 0 < info.num_frames < _count(HMDB)
    with av.open(str(path)) as container:
        assert info.num_frames == sum(1 for _ in container.decode(video=0))
    # Frames before the cut are the original's; the last one decodes damaged, like in PyAV.
    wanted = [info.num_frames // 2, info.num_frames - 1]
    frames = read_frames(path, wanted, backend=backend)
    assert not _wrong(frames, wanted, _decode(path, wanted))
    assert not _wrong(frames[:1], wanted[:1], _decode(_path(HMDB), wanted[:1]))
    with pytest.raises(VideoError, match="out of range"):
        read_frames(path, [info.num_frames], backend=backend)


def test_require_frames():
    info = probe(_path(SHORT), "pyav")
    require_frames(info, info.num_frames)
    with pytest.raises(VideoError, match="has 48 frames, the setting needs 64") as caught:
        require_frames(info, 64)
    assert str(_path(SHORT)) in str(caught.value)
    assert "cl-it-tl" in str(caught.value)
    with pytest.raises(VideoError, match="x.avi"):
        require_frames(10, 11, "x.avi")


# --- backends and the inspect command -------------------------------------------------------


def test_backend_choice(monkeypatch, tmp_path):
    assert available_backends()[-1] == "pyav"
    assert choose_backend("clip.GIF") == "pyav"
    disguised = tmp_path / "clip.avi"
    disguised.write_bytes(b"GIF89a" + bytes(10))
    assert choose_backend(disguised) == "pyav"
    assert choose_backend("clip.avi", "pyav") == "pyav"
    with pytest.raises(SettingsError, match="unknown"):
        choose_backend("clip.avi", "opencv")
    if HAS_DECORD:
        assert choose_backend("clip.avi") == "decord"
        with pytest.raises(SettingsError, match="GIF"):
            choose_backend("clip.gif", "decord")
    # Where decord does not import (macOS on ARM), everything falls back to PyAV.
    monkeypatch.setattr(video, "_decord", lambda: None)
    assert available_backends() == ["pyav"]
    assert choose_backend("clip.avi") == "pyav"
    with pytest.raises(SettingsError, match="decord") as caught:
        choose_backend("clip.avi", "decord")
    assert "pyav" in caught.value.fix


def test_main_inspect(tmp_path, capsys):
    bad = _bad_files(tmp_path)
    good = [str(_path(HMDB)), str(_path(GIF))]
    assert main_inspect(good) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "frames=72" in out[0] and "560x240" in out[0]
    assert "frames=79" in out[1] and "backend=pyav" in out[1]
    paths = [good[0], str(bad["missing"]), str(bad["random"]), str(bad["truncated"])]
    assert main_inspect(paths) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1
    errors = captured.err.splitlines()
    assert [line.split(": ")[0] for line in errors] == paths[1:]
