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

from vcop_lab.data.synthetic.encode import write_video
from vcop_lab.data.synthetic.generate import (
    GROUND_TRUTH_NAME,
    INFO_NAME,
    PRESETS,
    SYNTH_VERSION,
    SynthConfig,
    ensure_synthetic,
    generate_style,
    generate_synthetic,
    is_complete,
    load_ground_truth,
    render_video,
    video_seed,
)
from vcop_lab.data.synthetic.scene import (
    BACKGROUND_COLOURS,
    CLASSES,
    LAMP_FALLOFF,
    MAIN_CLASSES,
    OBJECT_COLOURS,
    PERIODIC_CLASSES,
    SECOND_CLASSES,
    STYLES,
    TIME_REVERSED_PAIRS,
    object_coverage,
)

__all__ = [
    "BACKGROUND_COLOURS",
    "CLASSES",
    "GROUND_TRUTH_NAME",
    "INFO_NAME",
    "LAMP_FALLOFF",
    "MAIN_CLASSES",
    "OBJECT_COLOURS",
    "PERIODIC_CLASSES",
    "PRESETS",
    "SECOND_CLASSES",
    "STYLES",
    "SYNTH_VERSION",
    "TIME_REVERSED_PAIRS",
    "SynthConfig",
    "ensure_synthetic",
    "generate_style",
    "generate_synthetic",
    "is_complete",
    "load_ground_truth",
    "object_coverage",
    "render_video",
    "video_seed",
    "write_video",
]
