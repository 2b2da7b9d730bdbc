"""Embedded synthetic action videos: the toolkit's default data.

Three styles of small H.264 videos whose action classes are carried by motion only:

- ``main`` stands in for UCF101: 14 classes on dark, mostly low-contrast backgrounds:
  one-way motions that speed up, each in its own direction (fall: down, slide_right,
  slide_left, drop: down-right, launch: up-left, dive: down-left, climb: up-right, grow,
  shrink, rotate_cw: spinning up), two classes that are exact time reversals of an
  accelerating one (rise = fall played backwards, slowing down as a tossed ball does;
  rotate_ccw = rotate_cw backwards, spinning down), and periodic motion whose clip order is
  ambiguous (oscillate, orbit).
- ``second`` stands in for HMDB51 in cross-dataset experiments: other shapes, colours and
  textured light backgrounds, 1-3 distractors, and classes partly shared with ``main``.
- ``qa`` stands in for ActivityNet-QA, the VideoQA set: new videos of ``main``'s classes and
  look (as ActivityNet's web videos look like UCF101's) with 1-2 static objects beside the
  actor, so that spatial relations and counts can be asked about. It is never used to pretrain.

Colour, shape, size, background and start position are drawn independently of the class, so
only the motion tells the classes apart. The scene is lit from the top-left corner (the same
for every video), so an object's shading tells where it is, as scene layout does in real
video.

Why speeds change (versions 4 to 6): with constant speeds, the only cue to the order of
clips was the object's absolute position, which a globally pooled 3D CNN feature barely
keeps; small networks on a CPU stayed at chance for hundreds of steps. Speeding-up motion
makes each clip's own motion tell its place in time, while a single frame cannot.

Why most one-way classes speed up (version 6): in version 5 every accelerating class had a
time-reversed, decelerating partner. For such a pair the order rule is an exclusive or
("faster is later" for one class, "slower is later" for the other, told apart only by the
sign of the motion), and its two halves cancel each other's gradient: a small network stayed
at chance even on rise + fall alone for 900 steps, while two accelerating classes in
different directions were learned in 200. Real video has the same kind of asymmetry (things
fall, start and spin up far more often than they are seen in reverse), so version 6 keeps two
exact time-reversal pairs (fall / rise, rotate_cw / rotate_ccw), on which frames and clips
are compared, and lets the other one-way classes speed up. A network that only learns
"faster is later" gets the decelerating classes exactly wrong; per-class order accuracy
shows it.

Every object carries a small contrasting dot off its centre, so rotation is visible whatever
the shape. Nuisances are independent of the class: textured backgrounds and pixel noise in
every style; in ``second`` also 1-3 distractor objects and a slow camera drift. (Until
version 5, ``main`` had a distractor and drift too; their constant motion delayed order
learning of a teaching-size network well past a CPU budget of minutes, so they now make the
second style, the stand-in for the harder HMDB51, harder instead.)

Why a third style for VideoQA: questions asked on ``second`` barely depended on the video. A
question-only E-SA (all clip features zero) scored 38.0% there, within 2.4 points of every
feature source: the small objects on textured light backgrounds hardly show in the globally
pooled features of a network trained on ``main``. Such a set cannot rank feature sources.
The ``qa`` style keeps the pretraining domain, as the paper's ActivityNet-QA keeps that of
UCF101, and adds static objects because the main style's single object leaves no spatial
relation to ask about. Adding it changed no video of the other two styles.

Beside the videos, ``ground_truth.jsonl`` keeps one JSON object per video (keyed by the
manifest's relative ``path``) with the objects, their per-frame trajectories and the events,
from which VideoQA questions can be generated. Coordinates are in pixels of the written frame,
pixel (row i, column j) centred at (x=j, y=i), y pointing down; angles are in degrees,
clockwise on screen from pointing right; ``size`` is an object's circumradius in pixels.

Everything is a pure function of ``SynthConfig.seed``: each video's random generator is seeded
from (seed, style, class, index), so the output does not depend on the number of workers.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import shutil
import sys
import time
import zlib
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import numpy as np
from tqdm.auto import tqdm

from vcop_lab.data.manifest import MANIFEST_NAME, VideoRecord, write_manifest
from vcop_lab.errors import ManifestError, SettingsError, VideoError

try:
    import fcntl
except ImportError:  # Windows: no locking
    fcntl = None

# Bump whenever rendering changes, so that ensure_synthetic regenerates old data.
SYNTH_VERSION = 6
STYLES = ("main", "second", "qa")
GROUND_TRUTH_NAME = "ground_truth.jsonl"
INFO_NAME = "synth_info.json"

MAIN_CLASSES: tuple[str, ...] = (
    "fall", "rise", "slide_right", "slide_left", "grow", "shrink", "rotate_cw", "rotate_ccw",
    "drop", "launch", "dive", "climb", "oscillate", "orbit",
)
SECOND_CLASSES: tuple[str, ...] = (
    "rise", "fall", "grow", "shrink", "orbit", "bounce", "zigzag", "spin", "approach_stop",
)
# Pairs of classes whose motions are each other's exact time reversal.
TIME_REVERSED_PAIRS: tuple[tuple[str, str], ...] = (("fall", "rise"), ("rotate_cw", "rotate_ccw"))
# The second class of each pair is rendered as the first one played backwards.
_RENDERED_REVERSED = {second: first for first, second in TIME_REVERSED_PAIRS}
# Classes (of either style) whose clip order is genuinely ambiguous.
PERIODIC_CLASSES: tuple[str, ...] = ("oscillate", "orbit", "spin")
CLASSES = {"main": MAIN_CLASSES, "second": SECOND_CLASSES, "qa": MAIN_CLASSES}

# One fixed palette of distinct, nameable colours (RGB).
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40), "green": (40, 190, 60), "blue": (50, 100, 255),
    "yellow": (240, 220, 40), "white": (235, 235, 235), "magenta": (220, 50, 220),
    "cyan": (40, 210, 220), "orange": (250, 140, 30), "black": (25, 25, 25),
    "purple": (120, 40, 170), "brown": (125, 70, 30), "teal": (0, 125, 125),
}
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (12, 12, 12), "dark grey": (55, 55, 55), "navy": (15, 20, 70),
    "dark green": (15, 60, 30), "maroon": (70, 15, 25), "dark brown": (60, 40, 20),
    "beige": (225, 210, 180), "light grey": (200, 200, 200), "pale blue": (185, 205, 230),
    "sand": (210, 190, 140), "pale green": (195, 225, 195),
}
# Short GOP for cheap random access. One thread alone does not make x264 deterministic: with
# MB-tree on, about 3% of encodes of identical frames came out different, so it is off (and
# CRF 20 rather than 18 keeps the files as small as MB-tree made them).
_ENCODER_OPTIONS = {"crf": "20", "preset": "veryfast", "g": "8", "bf": "0", "threads": "1",
                    "x264-params": "mbtree=0"}


@dataclass(frozen=True)
class SynthConfig:
    """How many videos per class and split, and their frame count, size, rate and seed."""

    train_per_class: int
    test_per_class: int
    frames: int = 64
    height: int = 64
    width: int = 86
    fps: int = 25
    seed: int = 0

    def __post_init__(self):
        problems = []
        if self.train_per_class < 1 or self.test_per_class < 1:
            problems.append("train_per_class and test_per_class must be at least 1")
        if self.frames < 2:
            problems.append("frames must be at least 2")
        if self.height < 32 or self.width < 32 or self.height % 2 or self.width % 2:
            problems.append("height and width must be even and at least 32 (H.264 yuv420p)")
        if self.fps < 1:
            problems.append("fps must be at least 1")
        if self.seed < 0:
            problems.append("seed must be >= 0")
        if problems:
            raise SettingsError(f"bad SynthConfig {self}: " + "; ".join(problems),
                                fix="change these fields")


PRESETS: dict[str, SynthConfig] = {
    # CI in seconds; 64 frames so that the same tuple settings (8-4-3 .. 8-4-5) fit as in teaching.
    "smoke": SynthConfig(train_per_class=3, test_per_class=2, frames=64),
    # the default: every style in well under a minute on a 2-core laptop
    "teaching": SynthConfig(train_per_class=40, test_per_class=8, frames=64),
    # for GPU users: more videos, long enough for the paper's 16-8-3 and 16-8-4 tuples
    "large": SynthConfig(train_per_class=160, test_per_class=40, frames=96),
}


@dataclass(frozen=True)
class _Style:
    """Appearance statistics of a style (all drawn independently of the class)."""

    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    backgrounds: tuple[str, ...]
    textures: tuple[str, ...]
    texture_contrast: tuple[float, float]
    size: tuple[float, float]       # actor and distractor circumradius at 64 px frame height
    distractors: tuple[int, ...]    # equally likely counts
    distractor_speed: float         # px/frame, at most; 0: distractors never move
    noise: tuple[float, float]      # Gaussian pixel noise sigma (0-255 scale)
    drift: float                    # camera drift, px/frame, at most


_STYLE_PARAMS = {
    "main": _Style(
        shapes=("circle", "square", "triangle", "cross", "bar"),
        colours=("red", "green", "blue", "yellow", "white", "magenta", "cyan", "orange"),
        backgrounds=("black", "dark grey", "navy", "dark green", "maroon", "dark brown"),
        textures=("flat", "stripes", "checker", "blobs"),
        texture_contrast=(5.0, 18.0), size=(5.5, 8.5), distractors=(0,),
        distractor_speed=0.2, noise=(1.5, 4.0), drift=0.0),
    "second": _Style(
        shapes=("ring", "diamond", "hexagon", "ellipse", "triangle"),
        colours=("red", "green", "blue", "black", "purple", "brown", "orange", "teal"),
        backgrounds=("beige", "light grey", "pale blue", "sand", "pale green"),
        textures=("stripes", "checker", "blobs", "grid"),
        texture_contrast=(12.0, 28.0), size=(4.5, 7.5), distractors=(1, 2, 3),
        distractor_speed=0.3, noise=(2.0, 5.0), drift=0.12),
}
# The VideoQA style: main's look, plus static objects to relate the actor to.
_STYLE_PARAMS["qa"] = replace(_STYLE_PARAMS["main"], distractors=(1, 2), distractor_speed=0.0)


# ----------------------------------------------------------------------------- shapes
# Signed distance (negative inside) in the object's own frame; r is the circumradius.

def _box(x, y, a, b):
    return np.maximum(np.abs(x) - a, np.abs(y) - b)


def _polygon(x, y, r, n, first_normal):
    inradius = r * math.cos(math.pi / n)
    d = None
    for k in range(n):
        phi = first_normal + 2 * math.pi * k / n
        e = x * math.cos(phi) + y * math.sin(phi)
        d = e if d is None else np.maximum(d, e)
    return d - inradius


def _ellipse(x, y, r):
    a, b = r, 0.55 * r
    k = np.hypot(x / a, y / b)
    grad = np.hypot(x / a**2, y / b**2) / np.maximum(k, 1e-6)
    return (k - 1) / np.maximum(grad, 1e-6)  # first-order distance keeps the edge 1 px soft


_SHAPES = {
    "circle": lambda x, y, r: np.hypot(x, y) - r,
    "square": lambda x, y, r: _box(x, y, r / math.sqrt(2), r / math.sqrt(2)),
    "triangle": lambda x, y, r: _polygon(x, y, r, 3, math.pi),  # a vertex points along +x
    "cross": lambda x, y, r: np.minimum(_box(x, y, 0.95 * r, 0.3 * r),
                                        _box(x, y, 0.3 * r, 0.95 * r)),
    "bar": lambda x, y, r: _box(x, y, 0.95 * r, 0.3 * r),
    "ring": lambda x, y, r: np.abs(np.hypot(x, y) - 0.68 * r) - 0.32 * r,
    "diamond": lambda x, y, r: ((np.abs(x) * 0.6 + np.abs(y)) * r - 0.6 * r * r)
    / (r * math.hypot(1, 0.6)),
    "hexagon": lambda x, y, r: _polygon(x, y, r, 6, math.pi / 6),
    "ellipse": _ellipse,
}


def _draw_object(frames: np.ndarray, obj: dict) -> None:
    """Alpha-blend one object (anti-aliased, with its orientation dot) into (T, H, W, 3)."""
    T, H, W, _ = frames.shape
    xs, ys, sizes, angles = (obj["traj"][:, k] for k in range(4))
    half = int(math.ceil(sizes.max())) + 2
    grid = np.arange(-half, half + 1, dtype=np.float32)
    ox, oy = np.floor(xs).astype(int), np.floor(ys).astype(int)
    dx = (ox[:, None] + grid[None, :] - xs[:, None]).astype(np.float32)  # (T, S)
    dy = (oy[:, None] + grid[None, :] - ys[:, None]).astype(np.float32)
    rad = np.deg2rad(angles).astype(np.float32)
    c, s = np.cos(rad)[:, None, None], np.sin(rad)[:, None, None]
    lx = c * dx[:, None, :] + s * dy[:, :, None]     # rotate into the object's frame
    ly = -s * dx[:, None, :] + c * dy[:, :, None]
    r = sizes.astype(np.float32)[:, None, None]
    alpha = np.clip(0.5 - _SHAPES[obj["shape"]](lx, ly, r), 0, 1)
    dot = np.clip(0.5 - (np.hypot(lx - 0.5 * r, ly) - np.maximum(0.9, 0.22 * r)), 0, 1)
    colour = np.asarray(OBJECT_COLOURS[obj["colour"]], np.float32)
    red, green, blue = OBJECT_COLOURS[obj["colour"]]
    bright = 0.299 * red + 0.587 * green + 0.114 * blue > 110  # luma: dark dot on light colours
    marker = np.full(3, 25.0 if bright else 235.0, np.float32)
    patch = colour + (marker - colour) * dot[..., None]  # (T, S, S, 3)
    S = 2 * half + 1
    for t in range(T):
        y0, x0 = oy[t] - half, ox[t] - half
        ya, yb, xa, xb = max(y0, 0), min(y0 + S, H), max(x0, 0), min(x0 + S, W)
        if ya >= yb or xa >= xb:
            continue
        a = alpha[t, ya - y0:yb - y0, xa - x0:xb - x0, None]
        region = frames[t, ya:yb, xa:xb]
        region += a * (patch[t, ya - y0:yb - y0, xa - x0:xb - x0] - region)


# ----------------------------------------------------------------------------- backgrounds

def _upsample(coarse: np.ndarray, cell: float, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling of a coarse grid with ``cell`` pixels per grid step."""
    y, x = np.arange(h) / cell, np.arange(w) / cell
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    c = coarse
    top = c[y0][:, x0] * (1 - fx) + c[y0][:, x0 + 1] * fx
    bottom = c[y0 + 1][:, x0] * (1 - fx) + c[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _texture(name: str, rng: np.random.Generator, h: int, w: int, scale: float,
             ) -> tuple[np.ndarray, dict]:
    """A texture field in [-1, 1] of shape (h, w) and its parameters."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if name == "flat":
        return np.zeros((h, w), np.float32), {}
    if name == "stripes":
        theta, period = rng.uniform(0, math.pi), rng.uniform(5, 14) * scale
        phase = rng.uniform(0, 2 * math.pi)
        wave = np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period + phase)
        return np.tanh(2.5 * wave) / math.tanh(2.5), {"angle": round(math.degrees(theta), 1),
                                                      "period": round(period, 2)}
    if name == "checker":
        cell = rng.uniform(4, 11) * scale
        oy, ox = rng.uniform(0, 2 * cell, size=2)
        parity = (np.floor((xx + ox) / cell) + np.floor((yy + oy) / cell)) % 2
        return (parity * 2 - 1).astype(np.float32), {"cell": round(cell, 2)}
    if name == "blobs":
        cell = rng.uniform(6, 12) * scale
        coarse = rng.standard_normal((int(h / cell) + 3, int(w / cell) + 3))
        field = _upsample(coarse, cell, h, w)
        return (field / max(np.abs(field).max(), 1e-6)).astype(np.float32), {"cell": round(cell, 2)}
    if name == "grid":  # thin dark lines
        period = rng.uniform(7, 12) * scale
        oy, ox = rng.uniform(0, period, size=2)
        lines = (((xx + ox) % period) < 1.2) | (((yy + oy) % period) < 1.2)
        return -lines.astype(np.float32), {"period": round(period, 2)}
    raise ValueError(f"unknown texture {name!r}")


def _background(rng: np.random.Generator, st: _Style, cfg: SynthConfig, drift: np.ndarray,
                scale: float) -> tuple[np.ndarray, dict]:
    """(T, H, W, 3) float32 background translated by the camera drift (sub-pixel, bilinear)."""
    T, H, W = cfg.frames, cfg.height, cfg.width
    colour_name = st.backgrounds[rng.integers(len(st.backgrounds))]
    texture = st.textures[rng.integers(len(st.textures))]
    contrast = rng.uniform(*st.texture_contrast) if texture != "flat" else 0.0
    margin = int(math.ceil(np.abs(drift).max() * (T - 1))) + 1
    field, params = _texture(texture, rng, H + 2 * margin + 1, W + 2 * margin + 1, scale)
    shifted = np.empty((T, H, W), np.float32)
    for t in range(T):  # the scene moves by +drift*t: sample the canvas at x - drift*t
        sx, sy = margin - drift[0] * t, margin - drift[1] * t
        x0, y0 = int(math.floor(sx)), int(math.floor(sy))
        fx, fy = sx - x0, sy - y0
        a = field[y0:y0 + H + 1, x0:x0 + W + 1]
        rows = a[:, :W] * (1 - fx) + a[:, 1:W + 1] * fx
        shifted[t] = rows[:H] * (1 - fy) + rows[1:H + 1] * fy
    shifted *= np.float32(contrast)
    frames = np.empty((T, H, W, 3), np.float32)
    for c, level in enumerate(BACKGROUND_COLOURS[colour_name]):  # per channel: much faster
        np.add(shifted, np.float32(level), out=frames[..., c])  # than broadcasting over 3
    info = {"texture": texture, "colour": colour_name, "contrast": round(float(contrast), 2),
            **params}
    return frames, info


# ----------------------------------------------------------------------------- motion

@dataclass
class _Motion:
    """An actor's world trajectory (before camera drift) and what it means."""

    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    direction: str
    size_change: str = "none"
    events: list | None = None  # (frame, name)


class _Box:
    """Where an object's centre may be so that it stays inside a region despite camera drift."""

    def __init__(self, region: tuple[float, float, float, float], radius: float, shift: np.ndarray):
        x0, y0, x1, y1 = region
        # screen = world + drift*t must stay inside for every t: shrink by the total drift
        self.x0 = x0 + radius + 1 - min(0.0, shift[0])
        self.x1 = x1 - radius - 1 - max(0.0, shift[0])
        self.y0 = y0 + radius + 1 - min(0.0, shift[1])
        self.y1 = y1 - radius - 1 - max(0.0, shift[1])
        if self.x0 > self.x1:
            self.x0 = self.x1 = (self.x0 + self.x1) / 2
        if self.y0 > self.y1:
            self.y0 = self.y1 = (self.y0 + self.y1) / 2

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    def point(self, rng, mx: float = 0.0, my: float = 0.0) -> tuple[float, float]:
        """A uniform point at least (mx, my) away from the edges (or the middle if none)."""
        lo_x, hi_x = self.x0 + mx, self.x1 - mx
        lo_y, hi_y = self.y0 + my, self.y1 - my
        x = rng.uniform(lo_x, hi_x) if lo_x < hi_x else (self.x0 + self.x1) / 2
        y = rng.uniform(lo_y, hi_y) if lo_y < hi_y else (self.y0 + self.y1) / 2
        return x, y


def _accelerating(rng, T: int, distance: float) -> np.ndarray:
    """Displacement 0..distance with speed growing exponentially, 8-12x over the video: clips
    a fixed time apart then differ in speed by the same factor wherever the tuple starts."""
    t = np.arange(T, dtype=np.float64)
    rate = math.log(rng.uniform(8.0, 12.0)) / max(T - 1, 1)
    along = np.expm1(rate * t)
    return distance * along / along[-1]


def _turns(pos: np.ndarray) -> list[int]:
    """Frames where the motion along one axis reverses."""
    v = np.sign(np.round(np.diff(pos), 6))
    return [t for t in range(1, len(v)) if v[t] != 0 and v[t - 1] != 0 and v[t] != v[t - 1]]


# one-way classes: (direction of travel (x right, y down), its word); all speed up
_ONE_WAY = {"fall": ((0, 1), "down"), "slide_right": ((1, 0), "right"),
            "slide_left": ((-1, 0), "left"), "drop": ((1, 1), "down-right"),
            "launch": ((-1, -1), "up-left"), "dive": ((-1, 1), "down-left"),
            "climb": ((1, -1), "up-right")}


def _motion(label: str, rng: np.random.Generator, T: int, region: tuple, shift: np.ndarray,
            size: float, scale: float) -> _Motion:
    """Sample the actor's trajectory for a class (the reverse class of a pair is time-reversed)."""
    if label in _RENDERED_REVERSED:
        return _reverse(_motion(_RENDERED_REVERSED[label], rng, T, region, shift, size, scale))
    t = np.arange(T, dtype=np.float64)
    u = t / max(T - 1, 1)
    full = np.full(T, size)
    angle = np.full(T, rng.uniform(0, 360))
    box = _Box(region, size, shift)
    if label in _ONE_WAY:
        # Every one-way motion speeds up along its own direction (rise, the time reversal
        # of fall, slows down), and no two classes share a direction: so the speed of each
        # clip tells its place in time, while a single frame cannot.
        (ux, uy), word = _ONE_WAY[label]
        norm = math.hypot(ux, uy)
        ux, uy = ux / norm, uy / norm
        reach = min(box.w / abs(ux) if ux else math.inf, box.h / abs(uy) if uy else math.inf)
        distance = rng.uniform(0.65, 1.0) * reach
        along = _accelerating(rng, T, distance)
        dx, dy = ux * distance, uy * distance
        x0 = rng.uniform(box.x0, box.x1 - dx) if dx >= 0 else rng.uniform(box.x0 - dx, box.x1)
        y0 = rng.uniform(box.y0, box.y1 - dy) if dy >= 0 else rng.uniform(box.y0 - dy, box.y1)
        return _Motion(x0 + ux * along, y0 + uy * along, full, angle, word)
    if label in ("grow", "shrink"):
        k = rng.uniform(2.2, 3.2)  # geometric around the base size: grow/shrink share sizes
        sizes = size * k ** (u - 0.5)
        if label == "shrink":  # the mirror image of growing: shrinks ever faster
            sizes = size * (math.sqrt(k) + 1 / math.sqrt(k)) - sizes
        x0, y0 = _Box(region, sizes.max(), shift).point(rng)
        return _Motion(np.full(T, x0), np.full(T, y0), sizes, angle, "none", label)
    if label in ("rotate_cw", "spin"):
        x0, y0 = box.point(rng)
        if label == "rotate_cw":  # spins up: the angle turned per frame grows
            turned = _accelerating(rng, T, rng.uniform(5.0, 9.0) * (T - 1))
            return _Motion(np.full(T, x0), np.full(T, y0), full, angle + turned, "clockwise")
        omega = rng.uniform(15.0, 25.0) * rng.choice([-1.0, 1.0])
        return _Motion(np.full(T, x0), np.full(T, y0), full, angle + omega * t,
                       "clockwise" if omega > 0 else "counterclockwise")
    if label == "oscillate":
        period, amp = rng.uniform(6, 16), rng.uniform(5, 10) * scale
        horizontal = bool(rng.integers(2))
        amp = min(amp, max((box.w if horizontal else box.h) / 2, 1.0))
        cx, cy = box.point(rng, amp if horizontal else 0, 0 if horizontal else amp)
        wave = amp * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))
        x, y = (cx + wave, np.full(T, cy)) if horizontal else (np.full(T, cx), cy + wave)
        turns = _turns(x if horizontal else y)
        return _Motion(x, y, full, angle, "left-right" if horizontal else "up-down",
                       events=[(f, "turn") for f in turns])
    if label == "orbit":
        radius = min(rng.uniform(6, 11) * scale, max(min(box.w, box.h) / 2, 1.0))
        period = rng.uniform(12, 28)
        sign = float(rng.choice([-1.0, 1.0]))  # +1: clockwise on screen (y points down)
        cx, cy = box.point(rng, radius, radius)
        phi = rng.uniform(0, 2 * math.pi) + sign * 2 * math.pi * t / period
        return _Motion(cx + radius * np.cos(phi), cy + radius * np.sin(phi), full, angle,
                       "clockwise" if sign > 0 else "counterclockwise")
    if label == "bounce":
        return _bounce(rng, T, box, full, angle)
    if label == "zigzag":
        distance = rng.uniform(0.7, 1.0) * box.w
        sign = float(rng.choice([-1.0, 1.0]))
        amp = min(rng.uniform(5, 10) * scale, max(box.h / 2, 1.0))
        period = rng.uniform(14, 26)
        start = rng.uniform(box.x0, box.x0 + box.w - distance) if sign > 0 else \
            rng.uniform(box.x1 - (box.w - distance), box.x1)
        cy = box.point(rng, 0, amp)[1]
        phase = (t / period + rng.uniform(0, 1)) % 1.0
        tri = 4 * np.abs(phase - 0.5) - 1  # triangle wave in [-1, 1]
        y = cy + amp * tri
        return _Motion(start + sign * distance * u, y, full, angle,
                       "right" if sign > 0 else "left", events=[(f, "turn") for f in _turns(y)])
    if label == "approach_stop":
        side = ("left", "right", "top", "bottom")[rng.integers(4)]
        tx = np.clip((box.x0 + box.x1) / 2 + rng.uniform(-4, 4) * scale, box.x0, box.x1)
        ty = np.clip((box.y0 + box.y1) / 2 + rng.uniform(-4, 4) * scale, box.y0, box.y1)
        if side in ("left", "right"):
            sx = box.x0 if side == "left" else box.x1
            sy = rng.uniform(box.y0 + 0.2 * box.h, box.y1 - 0.2 * box.h + 1e-9)
        else:
            sy = box.y0 if side == "top" else box.y1
            sx = rng.uniform(box.x0 + 0.2 * box.w, box.x1 - 0.2 * box.w + 1e-9)
        stop = int(round((T - 1) * rng.uniform(0.4, 0.65)))
        ramp = np.minimum(t / max(stop, 1), 1.0)
        direction = {"left": "right", "right": "left", "top": "down", "bottom": "up"}[side]
        return _Motion(sx + (tx - sx) * ramp, sy + (ty - sy) * ramp, full, angle, direction,
                       events=[(stop, "stop")])
    raise SettingsError(f"unknown class {label!r}")


def _bounce(rng, T: int, box: _Box, size: np.ndarray, angle: np.ndarray) -> _Motion:
    """Fall under gravity from rest or a small speed and bounce off the floor, losing energy."""
    g = rng.uniform(0.12, 0.25) * (63 / max(T - 1, 1)) ** 2  # two or more bounces per video
    restitution = rng.uniform(0.7, 0.9)
    floor = box.y1
    y, v = rng.uniform(box.y0, box.y0 + 0.5 * box.h), rng.uniform(0.0, 0.3)
    vx = rng.uniform(-0.25, 0.25) * 63 / max(T - 1, 1)
    lo, hi = box.x0 + max(0.0, -vx) * (T - 1), box.x1 - max(0.0, vx) * (T - 1)
    x0 = rng.uniform(lo, hi) if lo < hi else (box.x0 + box.x1) / 2
    ys, events = [], []
    for frame in range(T):
        ys.append(y)
        for _ in range(4):  # sub-steps keep the bounce crisp
            v_before = v
            v += g / 4
            y += v / 4
            if y > floor:
                y, v = floor - (y - floor) * restitution, -abs(v) * restitution
                if not events or events[-1] != (frame + 1, "bounce"):
                    events.append((min(frame + 1, T - 1), "bounce"))
            elif v_before < 0 <= v:
                events.append((min(frame + 1, T - 1), "peak"))
    x = np.clip(x0 + vx * np.arange(T), box.x0, box.x1)
    return _Motion(x, np.array(ys), size, angle, "up-down", events=events)


_REVERSED_WORDS = {"up": "down", "down": "up", "left": "right", "right": "left",
                   "up-right": "down-left", "down-left": "up-right",
                   "up-left": "down-right", "down-right": "up-left",
                   "clockwise": "counterclockwise", "counterclockwise": "clockwise",
                   "grow": "shrink", "shrink": "grow"}


def _reverse(m: _Motion) -> _Motion:
    T = len(m.x)
    return _Motion(m.x[::-1].copy(), m.y[::-1].copy(), m.size[::-1].copy(), m.angle[::-1].copy(),
                   _REVERSED_WORDS.get(m.direction, m.direction),
                   _REVERSED_WORDS.get(m.size_change, m.size_change),
                   [(T - 1 - f, n) for f, n in (m.events or [])])


# ----------------------------------------------------------------------------- one video

_NOISE_BANK: np.ndarray | None = None


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian noise (plus 0.5 for rounding) cut at a random place from a fixed bank: drawing
    fresh normals costs more than rendering a whole video."""
    global _NOISE_BANK
    if _NOISE_BANK is None:
        _NOISE_BANK = np.random.default_rng(20190615).standard_normal(1 << 21, dtype=np.float32)
    n = math.prod(shape)
    start = int(rng.integers(0, max(_NOISE_BANK.size - n, 0) + 1))
    if n <= _NOISE_BANK.size:
        cut = _NOISE_BANK[start:start + n]
    else:  # very large videos wrap around the bank
        cut = _NOISE_BANK[(start + np.arange(n)) % _NOISE_BANK.size]
    return (cut * np.float32(sigma) + np.float32(0.5)).reshape(shape)


LAMP_FALLOFF = 0.55  # brightness lost from the lit corner to the far one


def _lamp(height: int, width: int) -> np.ndarray:
    """The scene is lit by a lamp at the top-left corner: brightness falls off linearly with
    the distance from it. This is the synthetic stand-in for the scene layout of real video
    (sky above, ground below): it lets a network tell *where* an object is from its local
    appearance, which clip order needs, while a single frame still cannot tell which way the
    object moves. It is the same for every class and video."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    d = np.hypot(xx, yy)
    return (1.0 - LAMP_FALLOFF * d / d.max()).astype(np.float32)


def _region(cfg: SynthConfig) -> tuple[float, float, float, float]:
    """The central square (about 56x56 in a 64x86 frame) that the actor never leaves."""
    side = min(cfg.height, cfg.width) - 8 * min(cfg.height, cfg.width) / 64
    x0, y0 = (cfg.width - side) / 2 - 0.5, (cfg.height - side) / 2 - 0.5
    return x0, y0, x0 + side, y0 + side


def _place_name(x: float, y: float, cfg: SynthConfig) -> str:
    x0, _, x1, _ = _region(cfg)
    half = (x1 - x0) / 2
    nx, ny = (x - (cfg.width - 1) / 2) / half, (y - (cfg.height - 1) / 2) / half
    if max(abs(nx), abs(ny)) < 0.35:
        return "centre"
    if abs(nx) >= abs(ny):
        return "left" if nx < 0 else "right"
    return "top" if ny < 0 else "bottom"


def render_video(label: str, style: str, rng: np.random.Generator, cfg: SynthConfig,
                 ) -> tuple[np.ndarray, dict]:
    """Render one video of class ``label`` in ``style``: a pure function of ``rng`` and ``cfg``.

    Returns the (T, H, W, 3) uint8 RGB frames and the ground truth (everything in
    ``ground_truth.jsonl`` except ``path`` and ``split``).
    """
    if style not in CLASSES:
        raise SettingsError(f"unknown style {style!r}", fix=f"use one of {', '.join(STYLES)}")
    if label not in CLASSES[style]:
        raise SettingsError(f"class {label!r} is not in the {style} style",
                            fix=f"use one of {', '.join(CLASSES[style])}")
    st = _STYLE_PARAMS[style]
    T, H, W = cfg.frames, cfg.height, cfg.width
    scale = min(H, W) / 64
    # Appearance and nuisances first, all independent of the class.
    speed = rng.uniform(0, st.drift * scale)
    heading = rng.uniform(0, 2 * math.pi)
    drift = np.array([speed * math.cos(heading), speed * math.sin(heading)])
    frames, background = _background(rng, st, cfg, drift, scale)
    actor = {"role": "actor", "shape": st.shapes[rng.integers(len(st.shapes))],
             "colour": st.colours[rng.integers(len(st.colours))],
             "size": rng.uniform(*st.size) * scale}
    sigma = rng.uniform(*st.noise)
    distractors = []
    for _ in range(int(st.distractors[rng.integers(len(st.distractors))])):
        size = rng.uniform(*st.size) * scale
        moving = bool(rng.integers(2)) and st.distractor_speed > 0
        v = rng.uniform(0.05, st.distractor_speed) * scale if moving else 0.0
        h = rng.uniform(0, 2 * math.pi)
        vel = np.array([v * math.cos(h), v * math.sin(h)])
        box = _Box((-0.5, -0.5, W - 0.5, H - 0.5), size, drift * (T - 1) + vel * (T - 1))
        x0, y0 = box.point(rng)
        t = np.arange(T)
        distractors.append({"role": "distractor", "shape": st.shapes[rng.integers(len(st.shapes))],
                            "colour": st.colours[rng.integers(len(st.colours))], "size": size,
                            "moving": moving, "world": (x0 + vel[0] * t, y0 + vel[1] * t,
                                                        np.full(T, size),
                                                        np.full(T, rng.uniform(0, 360)))})
    # Then the class: only the actor's motion depends on it.
    m = _motion(label, rng, T, _region(cfg), drift * (T - 1), actor["size"], scale)
    actor["moving"] = True
    actor["world"] = (m.x, m.y, m.size, m.angle)
    objects = [actor] + distractors
    t = np.arange(T)
    for obj in objects:  # screen coordinates: the camera drift moves the whole scene
        x, y, s, a = obj.pop("world")
        obj["traj"] = np.stack([x + drift[0] * t, y + drift[1] * t, s, a], axis=1)
    for obj in objects[::-1]:  # the actor is drawn last, on top
        _draw_object(frames, obj)
    frames *= _lamp(H, W)[None, :, :, None]
    noise = _noise(rng, (T, H, W), sigma)
    for c in range(3):
        frames[..., c] += noise
    video = np.clip(frames, 0, 255, out=frames).astype(np.uint8)
    return video, _ground_truth(label, style, cfg, background, drift, sigma, objects, m)


def _ground_truth(label, style, cfg, background, drift, sigma, objects, m: _Motion) -> dict:
    traj = objects[0]["traj"]
    step = np.diff(traj, axis=0)
    centre_speed = np.hypot(step[:, 0], step[:, 1]) if len(step) else np.zeros(1)
    turning = np.abs(np.deg2rad(step[:, 3])) * traj[1:, 2] if len(step) else np.zeros(1)
    growing = np.abs(step[:, 2]) if len(step) else np.zeros(1)
    # how fast the actor's points move on average (translation, rotation and size change)
    point_speed = float(np.mean(centre_speed + turning + growing))
    events = [(0, "start")] + sorted(m.events or []) + [(cfg.frames - 1, "end")]
    return {
        "label": label, "label_index": CLASSES[style].index(label), "style": style,
        "num_frames": cfg.frames, "fps": cfg.fps, "width": cfg.width, "height": cfg.height,
        "background": background, "lighting": {"lamp": "top-left", "falloff": LAMP_FALLOFF},
        "camera_drift": [round(float(v), 4) for v in drift],
        "noise_sigma": round(float(sigma), 3),
        "objects": [{
            "role": o["role"], "shape": o["shape"], "colour": o["colour"],
            "size": round(float(o["size"]), 2), "moving": o["moving"],
            "trajectory": [[round(float(x), 2), round(float(y), 2), round(float(s), 2),
                            round(float(a) % 360, 1) % 360] for x, y, s, a in o["traj"]],
        } for o in objects],
        "num_objects": len(objects),
        "events": [{"frame": int(f), "name": n} for f, n in events],
        "start_region": _place_name(traj[0, 0], traj[0, 1], cfg),
        "end_region": _place_name(traj[-1, 0], traj[-1, 1], cfg),
        "direction": m.direction,
        "size_change": m.size_change,
        "speed": "fast" if point_speed > 1.0 else "slow",
        "mean_speed": round(point_speed, 3),
        "mean_centre_speed": round(float(np.mean(centre_speed)), 3),
        "periodic": label in PERIODIC_CLASSES,
    }


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
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    height, width = frames.shape[1:3]
    written = 0
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
        tmp.unlink(missing_ok=True)
        raise VideoError(f"the encoder wrote {written} of {len(frames)} frames", path,
                         "check the PyAV/FFmpeg installation (libx264 is needed)")
    tmp.replace(path)
    return written


# ----------------------------------------------------------------------------- generation

def video_seed(seed: int, style: str, label: str, index: int) -> np.random.SeedSequence:
    """The seed of one video, from (seed, style, class, index) only."""
    return np.random.SeedSequence([seed, zlib.crc32(style.encode()), zlib.crc32(label.encode()),
                                   index])


def _make_one(job: tuple) -> dict:
    """Render and encode one video (runs in a worker); returns its ground truth."""
    root, style, label, index, split, cfg_fields = job
    cfg = SynthConfig(**cfg_fields)
    started = time.perf_counter()
    rng = np.random.default_rng(video_seed(cfg.seed, style, label, index))
    frames, truth = render_video(label, style, rng, cfg)
    rel = f"videos/{label}/{label}_{index:04d}.mp4"
    target = Path(root) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    truth["num_frames"] = write_video(frames, target, cfg.fps)
    truth = {"path": rel, "split": split, **truth}
    truth["_seconds"] = time.perf_counter() - started
    truth["_index"] = index
    return truth


def _settings(style: str, cfg: SynthConfig) -> dict:
    return {"version": SYNTH_VERSION, "style": style, "config": asdict(cfg),
            "classes": list(CLASSES[style])}


def _resolve(preset: str | SynthConfig, seed: int | None) -> SynthConfig:
    if isinstance(preset, SynthConfig):
        cfg = preset
    elif preset in PRESETS:
        cfg = PRESETS[preset]
    else:
        raise SettingsError(f"unknown synthetic preset {preset!r}",
                            fix=f"use one of {', '.join(PRESETS)} or a SynthConfig")
    return cfg if seed is None else replace(cfg, seed=int(seed))


def _pool_context():
    """Fork on Linux (workers only run numpy and the encoder, and scripts need no
    ``if __name__ == "__main__"`` guard); elsewhere the platform's safe default."""
    return mp.get_context("fork" if sys.platform.startswith("linux") else None)


def _check_ours(out_dir: Path) -> None:
    """Refuse to replace a folder holding data this module did not write (real videos, say)."""
    if not out_dir.is_dir():
        return
    names = {p.name for p in out_dir.iterdir()}
    ours = names & {INFO_NAME, GROUND_TRUTH_NAME, ".trash"}
    if (names & {"videos", MANIFEST_NAME}) and not ours:
        raise SettingsError("this folder holds videos or a manifest that were not generated "
                            "here, and generating would replace them", out_dir,
                            "choose another output folder for the synthetic data")


@contextmanager
def _locked(folders: list[Path]):
    """Hold an exclusive lock on each folder, so that two generations never interleave."""
    with ExitStack() as stack:
        for folder in sorted(folders):
            folder.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(open(folder / ".lock", "w"))
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _generate(targets: dict[str, Path], cfg: SynthConfig, workers: int, progress: bool,
              only_missing: bool = False) -> dict[str, Path]:
    """Generate several styles with one pool; each lands in place only once complete."""
    for style in targets:
        if style not in CLASSES:
            raise SettingsError(f"unknown style {style!r}", fix=f"use one of {', '.join(STYLES)}")
    for out_dir in targets.values():
        _check_ours(out_dir)
    manifests = {style: out_dir / MANIFEST_NAME for style, out_dir in targets.items()}
    with _locked(list(targets.values())):
        if only_missing:  # another process may have finished it while we waited for the lock
            targets = {s: d for s, d in targets.items() if not is_complete(d, s, cfg)}
        if targets:
            _generate_locked(targets, cfg, workers, progress)
    return manifests


def _generate_locked(targets: dict[str, Path], cfg: SynthConfig, workers: int,
                     progress: bool) -> None:
    started = time.perf_counter()
    jobs = []
    for style, out_dir in targets.items():
        partial = out_dir / ".partial"
        shutil.rmtree(partial, ignore_errors=True)  # leftovers of an interrupted run
        partial.mkdir(parents=True)
        for label in CLASSES[style]:
            for index in range(cfg.train_per_class + cfg.test_per_class):
                split = "train" if index < cfg.train_per_class else "test"
                jobs.append((str(partial), style, label, index, split, asdict(cfg)))
    results: dict[str, list[dict]] = {style: [] for style in targets}
    bar = tqdm(total=len(jobs), desc=f"synthetic {'+'.join(targets)}", unit="video",
               disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                truth = _make_one(job)
                results[truth["style"]].append(truth)
                bar.update()
        else:
            with _pool_context().Pool(workers) as pool:
                for truth in pool.imap_unordered(_make_one, jobs, chunksize=4):
                    results[truth["style"]].append(truth)
                    bar.update()
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    for style, out_dir in targets.items():
        _install(out_dir, style, cfg, results[style], seconds, workers)


def _install(out_dir: Path, style: str, cfg: SynthConfig, truths: list[dict], seconds: float,
             workers: int) -> Path:
    """Write manifest and ground truth, swap them and the videos into place, info file last."""
    partial = out_dir / ".partial"
    truths.sort(key=lambda g: (g["label_index"], g["_index"]))
    work_seconds = sum(g.pop("_seconds") for g in truths)
    for g in truths:
        g.pop("_index")
    records = [VideoRecord(path=g["path"], label=g["label"], label_index=g["label_index"],
                           split=g["split"], num_frames=g["num_frames"], fps=float(cfg.fps),
                           width=cfg.width, height=cfg.height) for g in truths]
    write_manifest(records, partial / MANIFEST_NAME)
    with open(partial / GROUND_TRUTH_NAME, "w", encoding="utf-8") as f:
        for g in truths:
            f.write(json.dumps(g, separators=(",", ":")) + "\n")
    # From here until the info file is written the folder does not look complete.
    (out_dir / INFO_NAME).unlink(missing_ok=True)
    trash = out_dir / ".trash"
    shutil.rmtree(trash, ignore_errors=True)
    trash.mkdir()
    for name in ("videos", MANIFEST_NAME, GROUND_TRUTH_NAME):
        if (out_dir / name).exists():
            (out_dir / name).replace(trash / name)
        (partial / name).replace(out_dir / name)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
    info = {**_settings(style, cfg), "num_videos": len(truths),
            "generation_seconds": round(seconds, 2), "worker_seconds": round(work_seconds, 2),
            "workers": workers, "encoder": {"codec": "libx264", "pix_fmt": "yuv420p",
                                            **_ENCODER_OPTIONS}}
    tmp = out_dir / (INFO_NAME + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out_dir / INFO_NAME)
    return out_dir / MANIFEST_NAME


def generate_style(out_dir: str | Path, style: str, cfg: SynthConfig, workers: int = 2,
                   progress: bool = True) -> Path:
    """Generate one style into ``out_dir``; returns the manifest path.

    Writes ``videos/<class>/<class>_NNNN.mp4``, ``manifest.csv`` (train/test splits, label
    indices in the style's class order), ``ground_truth.jsonl`` and, last,
    ``synth_info.json``. An existing dataset there is replaced only once the new one is done.
    """
    return _generate({style: Path(out_dir)}, cfg, workers, progress)[style]


def generate_synthetic(out_root: str | Path, preset: str | SynthConfig = "teaching",
                       seed: int | None = None, workers: int = 2, progress: bool = True,
                       ) -> dict[str, Path]:
    """Generate every style of :data:`STYLES` under ``out_root/<style>``.

    ``preset`` is a name in :data:`PRESETS` or a :class:`SynthConfig`; ``seed`` overrides its
    seed. Returns ``{style: manifest path}``.
    """
    cfg = _resolve(preset, seed)
    out_root = Path(out_root)
    return _generate({style: out_root / style for style in STYLES}, cfg, workers, progress)


def is_complete(data_dir: str | Path, style: str, cfg: SynthConfig) -> bool:
    """Whether ``data_dir`` holds a finished ``style`` dataset made with exactly ``cfg``."""
    data_dir = Path(data_dir)
    try:
        info = json.loads((data_dir / INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    recorded = {k: info.get(k) for k in ("version", "style", "config", "classes")}
    return (recorded == _settings(style, cfg) and (data_dir / MANIFEST_NAME).is_file()
            and (data_dir / GROUND_TRUTH_NAME).is_file() and (data_dir / "videos").is_dir())


def ensure_synthetic(out_root: str | Path, preset: str | SynthConfig = "teaching",
                     seed: int | None = None, workers: int = 2, progress: bool = True,
                     ) -> dict[str, Path]:
    """Return every style's manifest under ``out_root``, generating a style only when it is
    missing, incomplete or made with other settings; otherwise return at once.

    Regeneration happens beside the old data, which is replaced only once the new is complete.
    """
    cfg = _resolve(preset, seed)
    out_root = Path(out_root)
    todo = {style: out_root / style for style in STYLES
            if not is_complete(out_root / style, style, cfg)}
    if todo:
        _generate(todo, cfg, workers, progress, only_missing=True)
    return {style: out_root / style / MANIFEST_NAME for style in STYLES}


def load_ground_truth(data_dir: str | Path) -> dict[str, dict]:
    """Read ``ground_truth.jsonl`` (from a data folder or the file itself): path -> record."""
    path = Path(data_dir)
    if path.is_dir():
        path = path / GROUND_TRUTH_NAME
    if not path.is_file():
        raise ManifestError("ground truth not found", path,
                            "generate the synthetic data again (ensure_synthetic or "
                            "`vcop-lab synth --out DIR`)")
    truth = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                truth[record["path"]] = record
            except (ValueError, KeyError, TypeError) as err:
                raise ManifestError(f"line {line_no} is not a ground-truth record ({err})", path,
                                    "generate the synthetic data again") from None
    return truth
