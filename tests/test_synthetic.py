"""The embedded synthetic action videos: files, determinism, motion-only classes, ground truth."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace

import av
import numpy as np
import pytest

from vcop_lab.data.manifest import load_manifest
from vcop_lab.data.synthetic import (
    CLASSES,
    MAIN_CLASSES,
    OBJECT_COLOURS,
    PERIODIC_CLASSES,
    PRESETS,
    SECOND_CLASSES,
    TIME_REVERSED_PAIRS,
    SynthConfig,
    ensure_synthetic,
    generate_style,
    generate_synthetic,
    load_ground_truth,
    render_video,
    video_seed,
    write_video,
)
from vcop_lab.data.synthetic.scene import _STYLE_PARAMS
from vcop_lab.errors import ManifestError, SettingsError

TINY = SynthConfig(train_per_class=2, test_per_class=1, frames=16, seed=3)
MICRO = SynthConfig(train_per_class=1, test_per_class=1, frames=8, seed=5)
REGION = (14.5, 3.5, 70.5, 59.5)  # the central 56x56 square of a 64x86 frame (x0, y0, x1, y1)


def decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def keyframes(path) -> int:
    with av.open(str(path)) as container:
        return sum(p.is_keyframe for p in container.demux(video=0) if p.size)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return root, generate_synthetic(root, TINY, workers=1, progress=False)


def _truths(style: str, frames: int, seed: int) -> dict[str, list[dict]]:
    """Ground truth of 24 renders per class of ``style``, no encoding."""
    cfg = SynthConfig(train_per_class=1, test_per_class=1, frames=frames, seed=seed)
    return {label: [render_video(label, style, np.random.default_rng(
                        video_seed(seed, style, label, i)), cfg)[1] for i in range(24)]
            for label in CLASSES[style]}


@pytest.fixture(scope="module")
def renders():
    """Main style, 32 frames: motion and appearance."""
    return _truths("main", 32, 11)


@pytest.fixture(scope="module")
def second_renders():
    """Second style, 4 frames: appearance and nuisances only."""
    return _truths("second", 4, 12)


def actor(truth: dict) -> np.ndarray:
    """The actor's (T, 4) trajectory: x, y, size, angle."""
    assert truth["objects"][0]["role"] == "actor"
    return np.array(truth["objects"][0]["trajectory"])


def features(traj: np.ndarray) -> dict[str, float]:
    """Motion summary: mean velocity, size change, turning, and speed change (2nd - 1st half)."""
    step = np.diff(traj, axis=0)
    turn = (step[:, 3] + 180) % 360 - 180
    speed = np.hypot(step[:, 0], step[:, 1])
    half = len(speed) // 2
    return {"vx": step[:, 0].mean(), "vy": step[:, 1].mean(),
            "grow": np.log(traj[-1, 2] / traj[0, 2]), "turn": turn.mean(),
            "accel": speed[half:].mean() - speed[:half].mean()}


# ----------------------------------------------------------------------------- files

def test_generate_every_style(tiny):
    root, manifests = tiny
    assert set(manifests) == {"main", "second", "qa"}
    for style, classes in (("main", MAIN_CLASSES), ("second", SECOND_CLASSES),
                           ("qa", MAIN_CLASSES)):
        records = load_manifest(manifests[style], check_files=True)
        counts = Counter((r.label, r.split) for r in records)
        for label in classes:
            assert counts[(label, "train")] == TINY.train_per_class
            assert counts[(label, "test")] == TINY.test_per_class
        assert {r.label: r.label_index for r in records} == {c: i for i, c in enumerate(classes)}
        for rec in records:
            assert rec.path == f"videos/{rec.label}/{rec.label}_{int(rec.path[-8:-4]):04d}.mp4"
            frames = decode(root / style / rec.path)
            assert frames.shape == (rec.num_frames, TINY.height, TINY.width, 3)
            assert rec.num_frames == TINY.frames and rec.fps == TINY.fps
        info = json.loads((root / style / "synth_info.json").read_text())
        assert info["config"]["seed"] == TINY.seed and info["classes"] == list(classes)
        assert info["generation_seconds"] > 0
        assert not (root / style / ".partial").exists()


def test_videos_are_h264_with_short_gop(tiny):
    root, manifests = tiny
    rec = load_manifest(manifests["main"])[0]
    path = root / "main" / rec.path
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
    assert keyframes(path) >= TINY.frames // 8  # a keyframe at least every 8 frames


def test_ground_truth_matches_manifest(tiny):
    root, manifests = tiny
    for style in ("main", "second", "qa"):
        records = load_manifest(manifests[style])
        truth = load_ground_truth(root / style)
        assert set(truth) == {r.path for r in records}
        for rec in records:
            g = truth[rec.path]
            assert (g["label"], g["split"], g["style"]) == (rec.label, rec.split, style)
            assert (g["num_frames"], g["width"], g["height"]) == (rec.num_frames, rec.width,
                                                                  rec.height)
            assert g["num_objects"] == len(g["objects"]) >= 1
            assert [o["role"] for o in g["objects"]].count("actor") == 1
            for obj in g["objects"]:
                assert obj["colour"] in OBJECT_COLOURS
                assert len(obj["trajectory"]) == rec.num_frames
                assert all(len(step) == 4 for step in obj["trajectory"])
            assert g["events"][0] == {"frame": 0, "name": "start"}
            assert g["start_region"] in {"top", "bottom", "left", "right", "centre"}
            assert g["periodic"] == (rec.label in PERIODIC_CLASSES)
            assert len(g["camera_drift"]) == 2 and {"texture", "colour"} <= set(g["background"])
            assert g["speed"] in {"slow", "fast"}
        counts = {g["num_objects"] for g in truth.values()}
        if style == "second":  # one to three distractors
            assert counts <= {2, 3, 4}
        if style == "qa":  # one or two static objects beside the actor, and no camera drift
            assert counts <= {2, 3} and len(counts) == 2
            for g in truth.values():
                assert g["camera_drift"] == [0.0, 0.0]
                for obj in g["objects"][1:]:
                    assert not obj["moving"] and len({tuple(s) for s in obj["trajectory"]}) == 1
        if style == "main":
            assert counts == {1}


def test_qa_style_has_the_main_look():
    """The qa style draws shapes, colours and backgrounds from main's palette."""
    cfg = replace(TINY, frames=16)
    seen = {"shape": set(), "colour": set(), "background": set()}
    for i, label in enumerate(MAIN_CLASSES):
        rng = np.random.default_rng(video_seed(0, "qa", label, i))
        _, g = render_video(label, "qa", rng, cfg)
        seen["background"].add(g["background"]["colour"])
        for obj in g["objects"]:
            seen["shape"].add(obj["shape"])
            seen["colour"].add(obj["colour"])
    main = _STYLE_PARAMS["main"]
    assert seen["shape"] <= set(main.shapes) and seen["colour"] <= set(main.colours)
    assert seen["background"] <= set(main.backgrounds)


# ----------------------------------------------------------------------------- determinism

def test_same_seed_same_videos_whatever_the_workers(tiny, tmp_path):
    root, _ = tiny
    again = generate_style(tmp_path / "second", "second", TINY, workers=2, progress=False)
    first, second = load_ground_truth(root / "second"), load_ground_truth(again.parent)
    assert first == second
    for path in first:
        assert np.array_equal(decode(root / "second" / path), decode(again.parent / path))


def test_other_seed_other_videos(tiny, tmp_path):
    root, _ = tiny
    other = generate_style(tmp_path / "second", "second", replace(TINY, seed=TINY.seed + 1),
                           workers=1, progress=False)
    first, second = load_ground_truth(root / "second"), load_ground_truth(other.parent)
    assert first.keys() == second.keys()
    assert all(first[p]["objects"] != second[p]["objects"] for p in first)
    path = next(iter(first))
    assert not np.array_equal(decode(root / "second" / path), decode(other.parent / path))


def test_render_is_a_pure_function_of_the_rng():
    a = render_video("orbit", "main", np.random.default_rng(7), MICRO)
    b = render_video("orbit", "main", np.random.default_rng(7), MICRO)
    c = render_video("orbit", "main", np.random.default_rng(8), MICRO)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.uint8 and a[0].shape == (MICRO.frames, MICRO.height, MICRO.width, 3)


def test_encoding_is_byte_identical(tmp_path):
    """Identical frames give identical files (x264's MB-tree broke this in ~3% of encodes)."""
    cfg = replace(TINY, frames=16)
    videos = [render_video(label, "second", np.random.default_rng(i), cfg)[0]
              for i, label in enumerate(("orbit", "bounce", "spin", "zigzag", "rise", "grow"))]
    seen: dict[int, set[bytes]] = {}
    rng, garbage = np.random.default_rng(0), []
    for _ in range(8):
        for k, frames in enumerate(videos):
            assert write_video(frames, tmp_path / "v.mp4", cfg.fps) == cfg.frames
            seen.setdefault(k, set()).add((tmp_path / "v.mp4").read_bytes())
            garbage = garbage[-40:] + [rng.bytes(int(rng.integers(1000, 200_000)))]  # stir the heap
    assert all(len(files) == 1 for files in seen.values())


# ----------------------------------------------------------------------------- motion only

def chi_square(table: np.ndarray) -> tuple[float, int]:
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    keep = expected.sum(0) > 0
    stat = ((table[:, keep] - expected[:, keep]) ** 2 / expected[:, keep]).sum()
    return float(stat), (table.shape[0] - 1) * (int(keep.sum()) - 1)


@pytest.mark.parametrize("style", ["main", "second"])
@pytest.mark.parametrize("attribute", ["colour", "shape", "texture", "background"])
def test_appearance_does_not_predict_the_class(renders, second_renders, style, attribute):
    runs_of = renders if style == "main" else second_renders

    def value(g):
        obj = g["objects"][0]
        return {"colour": obj["colour"], "shape": obj["shape"],
                "texture": g["background"]["texture"], "background": g["background"]["colour"],
                }[attribute]

    values = sorted({value(g) for runs in runs_of.values() for g in runs})
    assert len(values) >= 4
    table = np.array([[sum(value(g) == v for g in runs_of[c]) for v in values]
                      for c in CLASSES[style]])
    # every value turns up in most classes, and every class uses several values
    assert ((table > 0).mean(axis=0) >= 0.7).all(), table
    assert ((table > 0).sum(axis=1) >= min(4, len(values))).all(), table
    stat, dof = chi_square(table)
    assert stat < dof + 5 * np.sqrt(2 * dof), (stat, dof)  # far from a class-dependent table


def test_size_and_start_position_do_not_predict_the_class(renders, second_renders):
    sizes = {c: np.mean([g["objects"][0]["size"] for g in runs]) for c, runs in renders.items()}
    overall = np.mean(list(sizes.values()))
    assert all(abs(s - overall) < 0.6 for s in sizes.values()), sizes
    # distractors and camera drift belong to the second style, in every class
    assert all(g["num_objects"] == 1 and not any(g["camera_drift"])
               for runs in renders.values() for g in runs)
    for runs in second_renders.values():
        assert all(2 <= g["num_objects"] <= 4 for g in runs)
        drift = [np.hypot(*g["camera_drift"]) for g in runs]
        assert 0 < max(drift) <= 0.3


def test_motion_differs_by_class(renders):
    f = {c: [features(actor(g)) for g in runs] for c, runs in renders.items()}

    def all_(label, key, test):
        return all(test(x[key]) for x in f[label])

    assert all_("rise", "vy", lambda v: v < -0.2) and all_("fall", "vy", lambda v: v > 0.2)
    assert all_("slide_left", "vx", lambda v: v < -0.2)
    assert all_("slide_right", "vx", lambda v: v > 0.2)
    assert all_("grow", "grow", lambda v: v > 0.5) and all_("shrink", "grow", lambda v: v < -0.5)
    assert all_("rotate_cw", "turn", lambda v: v > 2)
    assert all_("rotate_ccw", "turn", lambda v: v < -2)
    signs = {"drop": (1, 1), "launch": (-1, -1), "dive": (-1, 1), "climb": (1, -1)}
    for label, (sx, sy) in signs.items():
        assert all_(label, "vx", lambda v, sx=sx: sx * v > 0.2)
        assert all_(label, "vy", lambda v, sy=sy: sy * v > 0.2)
    one_way = ("fall", "slide_right", "slide_left", "drop", "launch", "dive", "climb", "rise")
    for label in one_way:
        # one-way motion speeds up (rise, the reversal of fall, slows down): the clips of a
        # tuple move at clearly different speeds, and even the slow end moves within a clip
        for g in renders[label]:
            speed = np.hypot(*np.diff(actor(g)[:, :2], axis=0).T)
            first, last = speed[:8].mean(), speed[-8:].mean()
            fast, slow = max(first, last), min(first, last)
            # speed grows 8-12x over the 32 frames: >= 8 ** (24 / 31) = 5x between the ends
            assert fast > 4 * slow and slow * 8 > 0.5
            assert (last > first) == (label != "rise")
            # exponential: the speed ratio of clips 12 frames apart is the same anywhere
            ratios = speed[12:] / speed[:-12]
            assert (ratios if label != "rise" else 1 / ratios).min() > 1.3
    for label in ("grow", "shrink"):  # both change size ever faster: k ** (24 / 31) >= 1.8
        for g in renders[label]:
            rate = np.abs(np.diff(actor(g)[:, 2]))
            assert rate[-8:].mean() > 1.5 * rate[:8].mean()
    for label in ("oscillate", "orbit"):  # periodic: comes back, moves a lot, ends near its start
        for g in renders[label]:
            traj = actor(g)
            path = np.hypot(*np.diff(traj[:, :2], axis=0).T).sum()
            assert path > 3 * np.hypot(*(traj[-1, :2] - traj[0, :2])) and path > 20
    for g in renders["oscillate"]:
        assert sum(e["name"] == "turn" for e in g["events"]) >= 2


def test_actor_stays_in_the_central_region(renders):
    for runs in renders.values():
        for g in runs:
            traj = actor(g)
            x, y, r = traj[:, 0], traj[:, 1], traj[:, 2]
            assert (x - r >= REGION[0]).all() and (x + r <= REGION[2]).all()
            assert (y - r >= REGION[1]).all() and (y + r <= REGION[3]).all()


@pytest.mark.parametrize("forward,backward", TIME_REVERSED_PAIRS)
def test_time_reversed_pairs(renders, forward, backward):
    assert forward in MAIN_CLASSES and backward in MAIN_CLASSES
    fwd = [features(actor(g)) for g in renders[forward]]
    bwd = [features(actor(g)) for g in renders[backward]]
    rev = [features(actor(g)[::-1]) for g in renders[backward]]
    values = {name: np.array([x[key] for x in runs]) for name, runs in
              (("fwd", fwd), ("bwd", bwd), ("rev", rev))
              for key in [max(fwd[0], key=lambda k: abs(np.mean([x[k] for x in fwd]))
                              / (np.std([x[k] for x in fwd]) + 1e-3))]}
    mean = {name: v.mean() for name, v in values.items()}
    # the backward class moves the other way; played backwards it moves like the forward class,
    # with the same spread
    assert np.sign(mean["fwd"]) == -np.sign(mean["bwd"]) == np.sign(mean["rev"]) != 0
    assert 0.8 < mean["rev"] / mean["fwd"] < 1.25
    assert 0.5 < (values["rev"].std() + 1e-3) / (values["fwd"].std() + 1e-3) < 2
    for g in renders[forward] + renders[backward]:  # the recorded words agree with the motion
        f = features(actor(g))
        assert {"up": f["vy"] < 0, "down": f["vy"] > 0, "left": f["vx"] < 0, "right": f["vx"] > 0,
                "up-right": f["vy"] < 0 < f["vx"], "up-left": f["vy"] < 0 and f["vx"] < 0,
                "down-right": f["vy"] > 0 and f["vx"] > 0, "down-left": f["vx"] < 0 < f["vy"],
                "clockwise": f["turn"] > 0, "counterclockwise": f["turn"] < 0,
                "none": abs(f["vx"]) + abs(f["vy"]) < 0.2}[g["direction"]]
        assert {"grow": f["grow"] > 0, "shrink": f["grow"] < 0, "none": f["grow"] == 0,
                }[g["size_change"]]


def test_second_style_events():
    cfg = SynthConfig(train_per_class=1, test_per_class=1, frames=48, seed=2)
    for i in range(6):
        g = {label: render_video(label, "second", np.random.default_rng(100 + i), cfg)[1]
             for label in ("bounce", "zigzag", "approach_stop", "spin")}
        names = {label: [e["name"] for e in t["events"]] for label, t in g.items()}
        assert "bounce" in names["bounce"]
        assert names["zigzag"].count("turn") >= 2
        stop = next(e["frame"] for e in g["approach_stop"]["events"] if e["name"] == "stop")
        traj = actor(g["approach_stop"]) - np.array(g["approach_stop"]["camera_drift"] + [0, 0]) \
            * np.arange(cfg.frames)[:, None] * np.array([1, 1, 0, 0])
        assert np.abs(np.diff(traj[stop:, :2], axis=0)).max() < 0.02  # rounding only
        assert np.abs(np.diff(traj[:stop, :2], axis=0)).sum() > 5
        assert g["spin"]["periodic"] and g["spin"]["speed"] == "fast"


# ----------------------------------------------------------------------------- ensure, errors

def test_ensure_synthetic_generates_only_when_needed(tmp_path):
    first = ensure_synthetic(tmp_path, MICRO, workers=1, progress=False)
    info = {s: (tmp_path / s / "synth_info.json") for s in ("main", "second", "qa")}
    stamp = {s: p.stat().st_mtime_ns for s, p in info.items()}
    started = time.perf_counter()
    assert ensure_synthetic(tmp_path, MICRO, workers=1, progress=False) == first
    assert time.perf_counter() - started < 0.5
    assert {s: p.stat().st_mtime_ns for s, p in info.items()} == stamp
    # an interrupted run never looks complete: without the info file main is made again
    info["main"].unlink()
    (tmp_path / "main" / ".partial").mkdir()
    ensure_synthetic(tmp_path, MICRO, workers=1, progress=False)
    assert info["main"].exists() and not (tmp_path / "main" / ".partial").exists()
    assert info["second"].stat().st_mtime_ns == stamp["second"]
    assert len(load_manifest(first["main"], check_files=True)) == 2 * len(MAIN_CLASSES)
    # other settings regenerate in place
    ensure_synthetic(tmp_path, MICRO, seed=MICRO.seed + 1, workers=1, progress=False)
    for style in ("main", "second", "qa"):
        assert json.loads(info[style].read_text())["config"]["seed"] == MICRO.seed + 1
        assert len(load_ground_truth(tmp_path / style)) == 2 * len(CLASSES[style])


def test_refuses_to_replace_foreign_data(tmp_path):
    (tmp_path / "second" / "videos").mkdir(parents=True)
    (tmp_path / "second" / "manifest.csv").write_text("path,label\n")
    with pytest.raises(SettingsError, match="not generated"):
        generate_synthetic(tmp_path, MICRO, workers=1, progress=False)
    assert (tmp_path / "second" / "manifest.csv").read_text() == "path,label\n"


def test_presets_and_bad_settings(tmp_path):
    assert {"smoke", "teaching", "large"} <= set(PRESETS)
    assert PRESETS["smoke"].train_per_class < PRESETS["teaching"].train_per_class
    assert PRESETS["large"].train_per_class > PRESETS["teaching"].train_per_class
    assert len(MAIN_CLASSES) >= 10 and 6 <= len(SECOND_CLASSES) <= 10
    assert set(PERIODIC_CLASSES) <= set(MAIN_CLASSES) | set(SECOND_CLASSES)
    assert set(MAIN_CLASSES) & set(SECOND_CLASSES) and set(SECOND_CLASSES) - set(MAIN_CLASSES)
    with pytest.raises(SettingsError):
        SynthConfig(train_per_class=0, test_per_class=1)
    with pytest.raises(SettingsError):
        SynthConfig(train_per_class=1, test_per_class=1, height=63)
    with pytest.raises(SettingsError):
        ensure_synthetic(tmp_path, "huge")
    with pytest.raises(SettingsError):
        render_video("bounce", "main", np.random.default_rng(0), MICRO)
    with pytest.raises(ManifestError):
        load_ground_truth(tmp_path)
    (tmp_path / "ground_truth.jsonl").write_text('{"path": "a.mp4"}\nnot json\n')
    with pytest.raises(ManifestError, match="line 2"):
        load_ground_truth(tmp_path)
