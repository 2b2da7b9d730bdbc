"""Reading frames from video files with decord or PyAV, exactly and without decoding more
than needed.

Frames are numbered in decode order, starting at 0: frame ``i`` is the ``i``-th frame that a
plain decode from the start of the file outputs. A frame index is valid only if that frame
actually decodes: container headers are not trusted (HMDB51 AVIs claim one frame more than
they hold) and frame timestamps are never sorted (B-frame AVIs have non-monotonic ones).

How a read stays exact while it seeks:

* A read that starts at the beginning of the file decodes forward without seeking; that is
  the ground truth. While doing so it records the video's *frame index*: the timestamp
  (pts) of every frame it decodes, a CRC-32 of the frame's decoded pixels (before any
  conversion), and the timestamp and file position of every keyframe packet. The index
  grows with each such read and knows the frame count once a read reaches the end (a probe
  indexes the whole video). It is kept in memory per process (least recently used first
  out), keyed by the path, size and modification time of the file; DataLoader workers
  inherit what the main process had indexed when they started, and index the rest
  themselves.
* A later read whose frames all lie in the indexed part seeks to the last keyframe at or
  before its first frame (or, if that is the first frame of the file, opens it afresh) and
  decodes forward from there, skipping the non-reference frames (B-frames, which no other
  frame is decoded from) of packets whose frame it does not need. A frame that comes out is
  identified by its pts, which works only where every indexed frame has a pts and no two
  share one (otherwise that video is always read from the start), and a requested frame is
  kept only if its pixels have the CRC recorded for that index. When a requested frame does
  not come out or does not match (leading B-frames of an open GOP, a decoder that numbers
  frames differently after a seek, a seek that lands elsewhere, a packet whose timestamp is
  not its frame's), the read is redone from the start and the cause is not tried again for
  this video: first the skipping, then that keyframe. So every frame returned is, up to a
  CRC collision between two frames with the same timestamp, the frame that the decode from
  the start gives at that index.
* decord reads the same way with its own decoder: ``next()`` from the start is the ground
  truth and records a CRC of every RGB frame (per output size), and random access
  (``get_batch``) is used only within the indexed part and kept only if every frame it
  returns has the recorded CRC; at the first mismatch the video is read with ``next()``
  from then on. This is needed: ``get_batch`` sorts packet timestamps, and returned frame 4
  for frame 24 of a B-frame HMDB51 AVI; ``skip_frames`` returned frame 68 for frame 73 of
  another; on an open-GOP H.264 MP4 frames after a keyframe come out damaged; decord's
  header count is one too high on HMDB51. (decord's FFmpeg is not PyAV's: on some XviD
  frames the two differ by one grey level in a few pixels, so each backend is checked
  against itself.)

Frames are converted to RGB (and resized) by FFmpeg's scaler in one thread, with a scaler
kept per thread so that its set-up is not paid for every frame. Frame counts always come
from a full PyAV decode, also under decord.
"""

from vcop_lab.data.video.frame_index import clear_frame_index_cache
from vcop_lab.data.video.reader import (
    BACKENDS,
    VideoInfo,
    VideoReader,
    available_backends,
    choose_backend,
    probe,
    read_frames,
    require_frames,
)

__all__ = [
    "BACKENDS",
    "VideoInfo",
    "VideoReader",
    "available_backends",
    "choose_backend",
    "clear_frame_index_cache",
    "probe",
    "read_frames",
    "require_frames",
]
