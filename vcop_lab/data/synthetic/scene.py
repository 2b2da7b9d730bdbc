"""What a synthetic video shows: the styles, their classes and looks, the objects' shapes,
textured backgrounds, pixel noise, the lamp, and the motion of each class."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from vcop_lab.errors import SettingsError

STYLES = ("main", "second", "qa")

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


def object_coverage(shape: str, trajectory, height: int, width: int) -> np.ndarray:
    """How much of each pixel an object covers, float32 ``(T, height, width)`` in [0, 1]: the
    same anti-aliased shape :func:`_draw_object` blends in (its orientation dot lies inside
    it), on the whole frame. ``trajectory`` is ``(T, 4)``: x, y, size, angle per frame, as in
    ``ground_truth.jsonl`` (pixel (row i, column j) centred at (x=j, y=i))."""
    traj = np.asarray(trajectory, dtype=np.float32).reshape(-1, 4)
    xs, ys, sizes, angles = (traj[:, k] for k in range(4))
    dx = np.arange(width, dtype=np.float32)[None, None, :] - xs[:, None, None]
    dy = np.arange(height, dtype=np.float32)[None, :, None] - ys[:, None, None]
    rad = np.deg2rad(angles)
    c, s = np.cos(rad)[:, None, None], np.sin(rad)[:, None, None]
    lx, ly = c * dx + s * dy, -s * dx + c * dy  # into the object's frame, as _draw_object
    return np.clip(0.5 - _SHAPES[shape](lx, ly, sizes[:, None, None]), 0, 1).astype(np.float32)


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


def _background(rng: np.random.Generator, st: _Style, shape: tuple[int, int, int],
                drift: np.ndarray, scale: float) -> tuple[np.ndarray, dict]:
    """(T, H, W, 3) float32 background of ``shape`` = (T, H, W) translated by the camera
    drift (sub-pixel, bilinear)."""
    T, H, W = shape
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


# ----------------------------------------------------------------------------- noise and light

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
