"""Optional cache: the videos of a manifest re-encoded at the training size.

Decoding a 320x240 MPEG-4 AVI and resizing every frame costs more than the network on a small
CPU run. ``reencode_dataset`` writes each video once as H.264 MP4 at the training size (default
128x171, HxW), so the reader decodes small frames and has nothing left to resize, with a
keyframe every 8 frames and no B-frames (a reader that seeks lands within 7 frames of any
target), and writes a manifest with the same rows pointing to the new files. Frames are
resized exactly as the training pipeline resizes them (antialiased bilinear), and the frame
count of every new file is verified by decoding it.
"""

from __future__ import annotations

import time
from concurrent.futures import as_completed
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vcop_lab.atomic import atomic_path
from vcop_lab.data.manifest import (
    CLASSES_NAME,
    MANIFEST_NAME,
    VideoRecord,
    load_manifest,
    write_manifest,
)
from vcop_lab.data.transforms import resize_frames
from vcop_lab.errors import VcopError, VideoError
from vcop_lab.runtime import worker_pool

GOP = 8  # keyframe interval: a seek decodes at most 7 frames it does not need
CRF = 18  # visually near-lossless at these sizes
_BATCH = 32  # frames resized at once


def _frame_rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)


def reencode_video(src: str | Path, dst: str | Path, size: tuple[int, int] = (128, 171),
                   fps: float = 25.0) -> int:
    """Re-encode ``src`` into ``dst`` (H.264 MP4, ``size`` = (H, W)); returns frames written.

    Every frame that decodes is kept, in decode order. Odd sizes such as 171 are encoded
    without chroma subsampling (yuv444p), as 4:2:0 needs even sizes.
    """
    import av

    src, dst = Path(src), Path(dst)
    height, width = size
    rate = _frame_rate(fps)
    written = 0
    with atomic_path(dst, keep_suffix=True, fsync=False) as tmp:
        try:
            with av.open(str(src), metadata_errors="ignore") as inp, \
                    av.open(str(tmp), "w", format="mp4") as out:
                stream = out.add_stream("libx264", rate=rate)
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
                ctx = stream.codec_context
                ctx.gop_size, ctx.max_b_frames, ctx.thread_count = GOP, 0, 1
                stream.options = {"crf": str(CRF), "preset": "veryfast", "keyint_min": str(GOP),
                                  "sc_threshold": "0"}  # fixed GOP: no extra scene-cut keyframes
                batch: list[np.ndarray] = []

                def flush() -> None:
                    nonlocal written
                    if not batch:
                        return
                    frames = resize_frames(torch.from_numpy(np.stack(batch)), (height, width))
                    for rgb in frames.numpy():
                        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb),
                                                           format="rgb24")
                        frame.pts, frame.time_base = written, 1 / rate
                        out.mux(stream.encode(frame))
                        written += 1
                    batch.clear()

                for frame in inp.decode(video=0):
                    batch.append(frame.to_ndarray(format="rgb24"))
                    if len(batch) == _BATCH:
                        flush()
                flush()
                out.mux(stream.encode())
        except VcopError:
            raise
        except Exception as exc:  # a decoder or encoder error on a damaged file
            raise VideoError(f"cannot re-encode ({type(exc).__name__}: {exc})", src,
                             "remove the video from the manifest or re-run `vcop-lab prepare`"
                             ) from None
        if written == 0:
            raise VideoError("no frame decodes", src, "re-run `vcop-lab prepare`, which drops it")
    return written


def _reencode_task(src: str, dst: str, size: tuple[int, int], fps: float, reuse: bool) -> dict:
    from vcop_lab.data.video import probe

    try:
        dst_path = Path(dst)
        if not (reuse and dst_path.is_file()
                and dst_path.stat().st_mtime_ns >= Path(src).stat().st_mtime_ns):
            written = reencode_video(src, dst, size, fps)
        else:
            written = None  # encoded by an earlier run
        info = probe(dst)
        if written is not None and info.num_frames != written:
            raise VideoError(f"{written} frames written but {info.num_frames} decode", dst,
                             "delete the file and re-run")
        if (info.height, info.width) != tuple(size):
            raise VideoError(f"is {info.height}x{info.width}, expected {size[0]}x{size[1]}",
                             dst, "delete the file and re-run")
        return {"ok": True, "num_frames": info.num_frames, "fps": info.fps}
    except VcopError as exc:
        return {"ok": False, "error": str(exc)}


def reencode_dataset(manifest_path: str | Path, out_dir: str | Path,
                     size: tuple[int, int] = (128, 171), workers: int = 2,
                     root: str | Path | None = None, progress: bool = True) -> Path:
    """Re-encode every video of a manifest into ``out_dir`` and write ``out_dir/manifest.csv``.

    ``root`` is the folder the manifest's paths are relative to (default: the one recorded by
    ``vcop-lab prepare`` in ``data_root.txt``, else the manifest's folder). The new manifest
    has the same rows with paths ``<old path>.mp4`` relative to ``out_dir`` and the verified
    frame counts. Files already re-encoded (newer than their source) are reused. Videos that
    fail are reported together in one VideoError after all others are done.
    """
    from vcop_lab.data.manifest import data_root

    manifest_path = Path(manifest_path)
    records = load_manifest(manifest_path)
    root = Path(root) if root is not None else data_root(manifest_path)
    out_dir = Path(out_dir).resolve()
    size = (int(size[0]), int(size[1]))
    jobs = {rec.path: (str(rec.full_path(root)),
                       str(out_dir / Path(rec.path).with_suffix(".mp4")), size, rec.fps, True)
            for rec in records}
    results: dict[str, dict] = {}
    start = time.perf_counter()
    bar = tqdm(total=len(jobs), unit="video", desc="re-encoding", disable=not progress)
    if workers <= 1:
        for path, job in jobs.items():
            results[path] = _reencode_task(*job)
            bar.update()
    else:
        with worker_pool(workers, preload=("vcop_lab.data.video",)) as pool:
            futures = {pool.submit(_reencode_task, *job): path for path, job in jobs.items()}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    failed = [f"{p}: {r['error']}" for p, r in results.items() if not r["ok"]]
    if failed:
        raise VideoError(f"{len(failed)} of {len(records)} video(s) failed: "
                         + "; ".join(failed[:5]), out_dir,
                         "re-run `vcop-lab prepare` to drop unreadable videos, then retry")
    new: list[VideoRecord] = [
        replace(rec, path=Path(rec.path).with_suffix(".mp4").as_posix(),
                num_frames=results[rec.path]["num_frames"], height=size[0], width=size[1])
        for rec in records]
    (out_dir / "data_root.txt").unlink(missing_ok=True)  # paths are relative to out_dir
    listed = manifest_path.parent / CLASSES_NAME if manifest_path.is_file() else \
        manifest_path / CLASSES_NAME
    classes = listed.read_text(encoding="utf-8").splitlines() if listed.is_file() else None
    path = write_manifest(new, out_dir / MANIFEST_NAME, classes=classes)
    if progress:
        seconds = time.perf_counter() - start
        print(f"re-encoded {len(new)} videos at {size[0]}x{size[1]} in {seconds:.1f} s: {path}")
    return path
