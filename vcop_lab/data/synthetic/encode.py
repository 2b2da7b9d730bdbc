"""Encoding synthetic frames: RGB to YUV 4:2:0, and H.264 MP4 files that are the same for the
same frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from vcop_lab.atomic import atomic_path
from vcop_lab.errors import VideoError

# Short GOP for cheap random access. One thread alone does not make x264 deterministic: with
# MB-tree on, about 3% of encodes of identical frames came out different, so it is off (and
# CRF 20 rather than 18 keeps the files as small as MB-tree made them).
_ENCODER_OPTIONS = {"crf": "20", "preset": "veryfast", "g": "8", "bf": "0", "threads": "1",
                    "x264-params": "mbtree=0"}

# RGB -> BT.601 limited-range YCbCr (what decoders assume for untagged SD video), per 0-255.
_RGB_TO_YUV = ((65.481, 128.553, 24.966), (-37.797, -74.203, 112.0), (112.0, -93.786, -18.214))


def _to_yuv420p(frames: np.ndarray) -> list[np.ndarray]:
    """Y, U, V planes of (T, H, W, 3) RGB frames, chroma averaged over 2x2 pixels (done here
    for the whole video at once: swscale is slow on such small frames)."""
    rgb = frames.astype(np.float32)
    quad = rgb[:, 0::2, 0::2] + rgb[:, 1::2, 0::2] + rgb[:, 0::2, 1::2] + rgb[:, 1::2, 1::2]
    planes = []
    for (kr, kg, kb), src, offset in zip(_RGB_TO_YUV, (rgb, quad, quad), (16.5, 128.5, 128.5)):
        n = 255.0 if src is rgb else 4 * 255.0  # per channel, not matmul: BLAS is slow here
        plane = src[..., 0] * (kr / n) + src[..., 1] * (kg / n) + src[..., 2] * (kb / n) + offset
        planes.append(np.clip(plane, 0, 255).astype(np.uint8))
    return planes


def _yuv_frame(planes: list[np.ndarray], width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, planes):
        buffer = np.zeros((plane.height, plane.line_size), np.uint8)  # rows may be padded
        buffer[:data.shape[0], :data.shape[1]] = data
        plane.update(buffer)
    return frame


def write_video(frames: np.ndarray, path: str | Path, fps: int) -> int:
    """Encode (T, H, W, 3) uint8 RGB frames as H.264 MP4 (short GOP, no B-frames, one thread,
    no MB-tree, so that the same frames always give the same file); returns the frame count."""
    path = Path(path)
    height, width = frames.shape[1:3]
    written = 0
    with atomic_path(path, keep_suffix=True, fsync=False) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps, options=dict(_ENCODER_OPTIONS))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.thread_count = 1
            y, u, v = _to_yuv420p(frames)
            for i in range(len(frames)):
                vf = _yuv_frame([y[i], u[i], v[i]], width, height)
                vf.pts = i
                for packet in stream.encode(vf):
                    container.mux(packet)
                    written += 1
            for packet in stream.encode():
                container.mux(packet)
                written += 1
        if written != len(frames):
            raise VideoError(f"the encoder wrote {written} of {len(frames)} frames", path,
                             "check the PyAV/FFmpeg installation (libx264 is needed)")
    return written
