"""A synthetic VideoQA set whose answers follow from the synthetic videos' ground truth.

Every synthetic data folder has a ``ground_truth.jsonl``: one JSON object per video with its
motion class (``label``), split, objects (the ``actor`` whose motion is the class, and static
or moving ``distractor`` shapes, each with a per-frame trajectory ``[x, y, size, angle]`` in
image coordinates: x to the right, y downwards), events (``start``, ``turn``, ``stop``, ...,
``end``), start and end regions, direction, speed and whether the motion is periodic.
From it we ask questions of the nine ActivityNet-QA types, with the same type codes, so the
same model, training loop and Table VI layout apply:

====  ==============  ===============================================================
code  type            example (answer)
====  ==============  ===============================================================
0     Motion          what is the red circle doing (rise)
1     Spat. Rel.      is the red circle left of the blue square at the end (yes)
2     Temp. Rel.      is the red circle closer to the top at the start or at the end (end)
3     Y/N             is there a green object (no)
4     Color           what colour is the moving object (red)
5     Obj.            what shape is the moving object (circle)
6     Loc.            where does the red circle end up (top)
7     Num.            how many objects are there (3)
8     Other           how fast does the red circle move (fast)
====  ==============  ===============================================================

Yes/no answers are balanced where the question can be chosen (types 1 and 3): the answer is
drawn first, then a question with that answer. "Main object" names the actor where its colour
and shape do not (another object looks the same, or other objects move too). Everything is
deterministic given the seed. Read the ground truth with
:func:`vcop_lab.data.synthetic.load_ground_truth`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence

from vcop_lab.errors import ManifestError
from vcop_lab.qa.activitynet import (
    TYPE_NAMES,
    QAItem,
    answer_distribution,
    majority_baseline,
)

__all__ = ["answer_distribution", "by_split", "majority_baseline", "make_synthetic_qa"]

FIX = "regenerate the synthetic data with the current generator"


def by_split(items: Sequence[QAItem]) -> dict[str, list[QAItem]]:
    """``{"train": [...], "val": [...], "test": [...]}`` (empty lists where a split is absent)."""
    out: dict[str, list[QAItem]] = {"train": [], "val": [], "test": []}
    for item in items:
        out.setdefault(item.split, []).append(item)
    return out


# ----------------------------------------------------------------------------- ground truth
def _need(record: dict, key: str):
    value = record.get(key)
    if value is None:
        raise ManifestError(f"the ground truth lacks the field {key!r}", fix=FIX)
    return value


def _objects(record: dict) -> tuple[dict, list[dict]]:
    """(the actor, the other objects)."""
    objects = _need(record, "objects")
    actors = [o for o in objects if o.get("role") == "actor"]
    if not actors:
        raise ManifestError("the ground truth has no object with role 'actor'", fix=FIX)
    return actors[0], [o for o in objects if o is not actors[0]]


def _colour(obj: dict) -> str:
    colour = obj.get("colour", obj.get("color"))
    if not isinstance(colour, str):
        raise ManifestError(f"object colour {colour!r} is not a colour name", fix=FIX)
    return colour.lower()


def _shape(obj: dict) -> str:
    shape = obj.get("shape")
    if not isinstance(shape, str):
        raise ManifestError(f"object shape {shape!r} is not a shape name", fix=FIX)
    return shape.lower()


def _name(obj: dict) -> str:
    return f"{_colour(obj)} {_shape(obj)}"


def _track(obj: dict) -> list:
    traj = obj.get("trajectory")
    if not traj:
        raise ManifestError("an object has no trajectory in the ground truth", fix=FIX)
    return traj


def _xy(obj: dict, moment: str) -> tuple[float, float]:
    step = _track(obj)[0 if moment == "start" else -1]
    return float(step[0]), float(step[1])


def _tolerance(record: dict) -> float:
    """Positions closer than this count as level: 3% of the frame."""
    coords = [abs(float(v)) for o in record.get("objects", []) for s in o.get("trajectory") or []
              for v in s[:2]]  # fmt: skip
    if coords and max(coords) <= 1.5:  # normalised coordinates
        return 0.03
    return 0.03 * max(float(record.get("width", 0)), float(record.get("height", 0)), 1.0)


def _moves(obj: dict, tol: float) -> bool:
    if "moving" in obj:
        return bool(obj["moving"])
    traj = _track(obj)
    x0, y0 = float(traj[0][0]), float(traj[0][1])
    return any(abs(float(s[0]) - x0) > tol or abs(float(s[1]) - y0) > tol for s in traj)


def _actor_ref(record: dict, ctx: dict) -> str:
    """How questions name the actor: "red circle", or "main object" when that is ambiguous."""
    actor, others = _objects(record)
    return "main object" if any(_name(o) == _name(actor) for o in others) else _name(actor)


def _mover_ref(record: dict, ctx: dict) -> str:
    """How questions name the actor by its motion: the "moving object" when nothing else
    moves, else the "main object"."""
    _, others = _objects(record)
    return "main object" if any(_moves(o, ctx["tol"]) for o in others) else "moving object"


def _relations(a: tuple[float, float], b: tuple[float, float], tol: float) -> dict[str, bool]:
    """Which of left of / right of / above / below hold for a relative to b (y grows down)."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    rel = {}
    if abs(dx) > tol:
        rel["left of"], rel["right of"] = dx < 0, dx > 0
    if abs(dy) > tol:
        rel["above"], rel["below"] = dy < 0, dy > 0
    return rel


# ----------------------------------------------------------------------------- templates
# Each template takes (record, rng, context) and returns (question, answer), or None when the
# video cannot answer it.
Template = Callable[[dict, random.Random, dict], "tuple[str, str] | None"]


def _motion_doing(r, rng, ctx):
    label = str(_need(r, "label")).lower().replace("_", " ")
    return f"what is the {_actor_ref(r, ctx)} doing", label


def _motion_direction(r, rng, ctx):
    direction = r.get("direction")
    if not isinstance(direction, str):
        return None
    return f"in which direction does the {_actor_ref(r, ctx)} move", direction.lower()


def _distinct_other(r, rng) -> tuple[dict, dict] | None:
    """The actor and another object, both named unambiguously by colour and shape."""
    actor, others = _objects(r)
    names = [_name(o) for o in [actor, *others]]
    unique = [o for o in others if names.count(_name(o)) == 1]
    if names.count(_name(actor)) > 1 or not unique:
        return None
    return actor, rng.choice(unique)


def _spatial_yes_no(r, rng, ctx):
    pair = _distinct_other(r, rng)
    if pair is None:
        return None
    actor, other = pair
    moment = rng.choice(["start", "end"])
    rel = _relations(_xy(actor, moment), _xy(other, moment), ctx["tol"])
    if not rel:
        return None
    want = rng.random() < 0.5
    word = rng.choice(sorted(k for k, v in rel.items() if v == want))
    answer = "yes" if rel[word] else "no"
    return f"is the {_name(actor)} {word} the {_name(other)} at the {moment}", answer


def _spatial_where(r, rng, ctx):
    pair = _distinct_other(r, rng)
    if pair is None:
        return None
    actor, other = pair
    moment = rng.choice(["start", "end"])
    (ax, ay), (bx, by) = _xy(actor, moment), _xy(other, moment)
    dx, dy = ax - bx, ay - by
    if max(abs(dx), abs(dy)) <= ctx["tol"] or abs(abs(dx) - abs(dy)) <= ctx["tol"]:
        return None  # level, or too near a diagonal to name one side
    if abs(dx) > abs(dy):
        answer = "left" if dx < 0 else "right"
    else:
        answer = "above" if dy < 0 else "below"
    return f"where is the {_name(actor)} relative to the {_name(other)} at the {moment}", answer


def _temporal_start_or_end(r, rng, ctx):
    actor, _ = _objects(r)
    (x0, y0), (x1, y1) = _xy(actor, "start"), _xy(actor, "end")
    dx, dy = x1 - x0, y1 - y0
    if max(abs(dx), abs(dy)) <= ctx["tol"]:
        return None
    if abs(dx) >= abs(dy):
        side = rng.choice(["left", "right"])
        start_closer = (x0 < x1) == (side == "left")
    else:
        side = rng.choice(["top", "bottom"])
        start_closer = (y0 < y1) == (side == "top")
    question = f"is the {_actor_ref(r, ctx)} closer to the {side} at the start or at the end"
    return question, "start" if start_closer else "end"


def _temporal_bigger(r, rng, ctx):
    actor, _ = _objects(r)
    first, last = float(_track(actor)[0][2]), float(_track(actor)[-1][2])
    if max(first, last) < 1.2 * min(first, last):
        return None
    word = rng.choice(["bigger", "smaller"])
    start = (first > last) == (word == "bigger")
    question = f"is the {_actor_ref(r, ctx)} {word} at the start or at the end"
    return question, "start" if start else "end"


def _events(r) -> list[tuple[int, str]]:
    """(frame, name) of the events, in time order."""
    out = []
    for e in r.get("events") or []:
        if isinstance(e.get("name"), str) and isinstance(e.get("frame"), (int, float)):
            out.append((int(e["frame"]), e["name"].lower()))
    return sorted(out)


def _temporal_event_after(r, rng, ctx):
    events = _events(r)
    names = [n for _, n in events]
    frames = [f for f, _ in events]
    # The anchor must happen once, and exactly one event must follow it first.
    anchors = [
        i for i in range(len(events) - 1)
        if names.count(names[i]) == 1 and frames[i + 1] > frames[i]
        and (i + 2 == len(events) or frames[i + 2] > frames[i + 1])
    ]  # fmt: skip
    if not anchors:
        return None
    i = rng.choice(anchors)
    return f"what happens right after the {names[i]}", names[i + 1]


def _temporal_event_before(r, rng, ctx):
    events = _events(r)
    names = [n for _, n in events]
    # Events that happen once, other than the video's own start and end (always first and last).
    once = [(f, n) for f, n in events if names.count(n) == 1 and n not in ("start", "end")]
    if len(once) < 2:
        return None
    (fa, a), (fb, b) = rng.sample(once, 2)
    if fa == fb:
        return None
    return f"does the {a} happen before the {b}", "yes" if fa < fb else "no"


def _yes_no_there_is(r, rng, ctx):
    actor, others = _objects(r)
    objects = [actor, *others]
    kind = rng.choice(["colour", "shape", "both"])
    describe = {"colour": _colour, "shape": _shape, "both": _name}[kind]
    present = sorted({describe(o) for o in objects})
    if kind == "both":
        pool = [f"{c} {s}" for c in ctx["colours"] for s in ctx["shapes"]]
    else:
        pool = ctx["colours"] if kind == "colour" else ctx["shapes"]
    absent = [p for p in pool if p not in present]
    want_yes = rng.random() < 0.5 or not absent
    thing = rng.choice(present) if want_yes else rng.choice(absent)
    noun = f"{thing} object" if kind == "colour" else thing
    article = "an" if noun[0] in "aeiou" else "a"
    return f"is there {article} {noun}", "yes" if want_yes else "no"


def _colour_of_mover(r, rng, ctx):
    actor, _ = _objects(r)
    return f"what colour is the {_mover_ref(r, ctx)}", _colour(actor)


def _colour_of_shape(r, rng, ctx):
    actor, others = _objects(r)
    objects = [actor, *others]
    shapes = [_shape(o) for o in objects]
    unique = [o for o in objects if shapes.count(_shape(o)) == 1]
    if not unique:
        return None
    obj = rng.choice(unique)
    return f"what colour is the {_shape(obj)}", _colour(obj)


def _colour_of_background(r, rng, ctx):
    colour = (r.get("background") or {}).get("colour")
    if not isinstance(colour, str):
        return None
    return "what colour is the background", colour.lower()


def _object_mover(r, rng, ctx):
    actor, _ = _objects(r)
    return f"what shape is the {_mover_ref(r, ctx)}", _shape(actor)


def _object_of_colour(r, rng, ctx):
    actor, others = _objects(r)
    objects = [actor, *others]
    colours = [_colour(o) for o in objects]
    unique = [o for o in objects if colours.count(_colour(o)) == 1]
    if not unique:
        return None
    obj = rng.choice(unique)
    return f"what shape is the {_colour(obj)} object", _shape(obj)


def _location_end(r, rng, ctx):
    return f"where does the {_actor_ref(r, ctx)} end up", str(_need(r, "end_region")).lower()


def _location_start(r, rng, ctx):
    return f"where does the {_actor_ref(r, ctx)} start", str(_need(r, "start_region")).lower()


def _number_objects(r, rng, ctx):
    count = r.get("num_objects", len(_need(r, "objects")))
    return "how many objects are there", str(int(count))


def _number_of_colour(r, rng, ctx):
    actor, others = _objects(r)
    colours = [_colour(o) for o in [actor, *others]]
    colour = rng.choice(sorted(set(colours)))
    return f"how many {colour} objects are there", str(colours.count(colour))


def _other_speed(r, rng, ctx):
    speed = r.get("speed")
    if isinstance(speed, str):
        answer = speed.lower()
    elif isinstance(speed, (int, float)) and ctx["median_speed"] is not None:
        answer = "fast" if speed > ctx["median_speed"] else "slow"
    else:
        return None
    return f"how fast does the {_actor_ref(r, ctx)} move", answer


def _other_periodic(r, rng, ctx):
    periodic = r.get("periodic")
    if not isinstance(periodic, bool):
        return None
    question = f"does the {_actor_ref(r, ctx)} repeat the same motion over and over"
    return question, "yes" if periodic else "no"


TEMPLATES: dict[int, tuple[Template, ...]] = {
    0: (_motion_doing, _motion_direction),
    1: (_spatial_yes_no, _spatial_where),
    2: (_temporal_start_or_end, _temporal_bigger, _temporal_event_after, _temporal_event_before),
    3: (_yes_no_there_is,),
    4: (_colour_of_mover, _colour_of_shape, _colour_of_background),
    5: (_object_mover, _object_of_colour),
    6: (_location_end, _location_start),
    7: (_number_objects, _number_of_colour),
    8: (_other_speed, _other_periodic),
}
assert set(TEMPLATES) == set(TYPE_NAMES)


def _context(ground_truth: dict[str, dict]) -> dict:
    """What the templates need to know about the whole set (for "no" answers and thresholds)."""
    colours, shapes, speeds = set(), set(), []
    for path, record in ground_truth.items():
        for obj in record.get("objects") or []:
            try:
                colours.add(_colour(obj))
                shapes.add(_shape(obj))
            except ManifestError as err:
                raise ManifestError(f"video {path}: {err.what}", fix=err.fix) from None
        speed = record.get("speed")
        if isinstance(speed, (int, float)) and not isinstance(speed, bool):
            speeds.append(float(speed))
    return {
        "colours": sorted(colours),
        "shapes": sorted(shapes),
        "median_speed": statistics.median(speeds) if speeds else None,
    }


def _questions_for(record: dict, rng: random.Random, ctx: dict, per_video: int) -> list:
    """(type code, question, answer) for one video: every type once first, then extra ones."""
    ctx = dict(ctx, tol=_tolerance(record))
    candidates = {}
    for code, templates in TEMPLATES.items():
        order = list(templates)
        rng.shuffle(order)
        made = [qa for t in order if (qa := t(record, rng, ctx)) is not None]
        candidates[code] = made
    first = [(c, *qas[0]) for c, qas in candidates.items() if qas]
    rest = [(c, *qa) for c, qas in candidates.items() for qa in qas[1:]]
    rng.shuffle(rest)
    if per_video <= len(first):
        chosen = rng.sample(first, per_video)
        chosen.sort(key=lambda q: q[0])
        return chosen
    out, seen = list(first), {q[1] for q in first}
    for q in rest:
        if len(out) == per_video:
            break
        if q[1] not in seen:
            seen.add(q[1])
            out.append(q)
    return out


def make_synthetic_qa(
    ground_truth: dict[str, dict],
    seed: int = 0,
    per_video: int = 9,
    val_fraction: float = 0.1,
) -> list[QAItem]:
    """Questions and answers about the synthetic videos in ``ground_truth`` ({path: record}).

    ``per_video`` questions per video: up to 9 covers one question per type, more adds other
    templates of the same types (no repeated question within a video). Splits follow the
    videos' ``split``; a ``val_fraction`` of the training videos (chosen by ``seed``) becomes
    ``val`` unless the ground truth already has ``val`` videos. ``video_name`` is the video's
    path, ``question_id`` is ``<path>#<n>``.
    """
    if per_video < 1:
        raise ValueError("per_video must be at least 1")
    ctx = _context(ground_truth)
    paths = sorted(ground_truth)
    splits = {p: str(ground_truth[p].get("split")) for p in paths}
    odd = sorted({s for s in splits.values() if s not in ("train", "val", "test")})
    if odd:
        raise ManifestError(f"videos with split {odd} (expected train, val or test)", fix=FIX)
    if "val" not in splits.values():
        train = [p for p in paths if splits[p] == "train"]
        n_val = round(val_fraction * len(train))
        for p in random.Random(f"val|{seed}").sample(train, n_val):
            splits[p] = "val"
    items = []
    for path in paths:
        # Seeding by path makes a video's questions independent of the other videos.
        rng = random.Random(f"{seed}|{path}")
        try:
            made = _questions_for(ground_truth[path], rng, ctx, per_video)
        except ManifestError as err:
            raise ManifestError(f"video {path}: {err.what}", path=err.path, fix=err.fix) from None
        for n, (code, question, answer) in enumerate(made):
            items.append(QAItem(f"{path}#{n}", path, question, answer, code, splits[path]))
    return items
