"""Re-encoding cache: tuple reads from the original real clips against the same clips
re-encoded at the training size (128x171, H.264, short keyframe interval).

    python benchmarks/bench_reencode.py [--tuples 60] [--out FILE.json]

Both sides read the same 16-8-3 tuples (same start frames) at 128x171 with the same backend;
the ratio is original time / re-encoded time. Writes benchmarks/results/reencode.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import numpy as np


def _time_reads(records, root, starts, backend) -> float:
    from vcop_lab.data.sampling import parse_setting, tuple_frame_indices
    from vcop_lab.data.video import clear_frame_index_cache, read_frames

    setting = parse_setting("16-8-3")
    clear_frame_index_cache()
    t0 = time.perf_counter()
    for rec, start in zip(records, starts):
        idx = tuple_frame_indices(start, setting).ravel().tolist()
        read_frames(Path(root) / rec.path, idx, backend=backend, size=(128, 171),
                    num_frames=rec.num_frames)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuples", type=int, default=60)
    parser.add_argument("--backend", default="pyav", choices=("pyav", "decord"))
    parser.add_argument("--out", help="JSON path (default benchmarks/results/reencode.json)")
    args = parser.parse_args(argv)

    from vcop_lab.data.manifest import load_manifest, write_manifest
    from vcop_lab.data.reencode import reencode_dataset

    records = common.real_records(min_frames=64)
    before = list(common.os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        write_manifest(records, Path(tmp) / "orig" / "manifest.csv")
        (Path(tmp) / "orig" / "data_root.txt").write_text(str(common.REALDATA))
        t0 = time.perf_counter()
        new_manifest = reencode_dataset(Path(tmp) / "orig" / "manifest.csv", Path(tmp) / "re",
                                        size=(128, 171), progress=False)
        encode_seconds = time.perf_counter() - t0
        re_records = load_manifest(new_manifest)
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(records), args.tuples)
        starts = [int(rng.integers(0, records[i].num_frames - 64 + 1)) for i in picks]
        orig = [records[i] for i in picks]
        new = [re_records[i] for i in picks]
        original = _time_reads(orig, common.REALDATA, starts, args.backend)
        reencoded = _time_reads(new, Path(new_manifest).parent, starts, args.backend)
    result = {
        "machine": common.machine(),
        "load": common.load_note(before, list(common.os.getloadavg())),
        "clips": len(records), "tuples": args.tuples, "backend": args.backend,
        "reencode_seconds": encode_seconds,
        "original_tuples_per_second": args.tuples / original,
        "reencoded_tuples_per_second": args.tuples / reencoded,
        "ratio_reencoded_over_original": original / reencoded,
    }
    print(common.table([result], [
        ("original_tuples_per_second", "original tuples/s", "{:.1f}"),
        ("reencoded_tuples_per_second", "re-encoded tuples/s", "{:.1f}"),
        ("ratio_reencoded_over_original", "speed-up", "{:.2f}x"),
        ("reencode_seconds", "re-encode time (s)", "{:.1f}")]))
    print(result["load"])
    print("wrote", common.write_json("reencode", result, args.out))
    return result


if __name__ == "__main__":
    main()
