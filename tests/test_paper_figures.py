"""``vcop_lab.paper`` against the condensed reference (spec.md section 6) and against itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vcop_lab import paper

SPEC = Path(__file__).resolve().parents[2] / "shared" / "docs" / "spec.md"

_ARCH_NAMES = {"C3D": "c3d", "R3D": "r3d", "R(2+1)D": "r21d"}


def _spec_section6() -> str:
    if not SPEC.is_file():
        pytest.skip(f"reference spec {SPEC} is not present")
    text = SPEC.read_text(encoding="utf-8")
    match = re.search(r"^## 6\..*?(?=^## )", text, flags=re.M | re.S)
    assert match, "spec.md has no section 6"
    return match.group(0)


def _pair(cell: str) -> tuple[float, float]:
    left, right = (float(x) for x in cell.split("/"))
    return left, right


def _spec_rows() -> dict[tuple[str, str], dict]:
    """(arch, setting) -> {"order": float | None, "retrieval": (t1, t5), "finetune": (u, h)}."""
    rows = {}
    for line in _spec_section6().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("setting", "") or set(cells[0]) <= {"-"}:
            continue
        arch_name, _, setting = cells[0].partition(" ")
        setting = setting.replace(" sample-curriculum", "*")
        rows[(_ARCH_NAMES[arch_name], setting)] = {
            "order": None if cells[1] == "-" else float(cells[1]),
            "retrieval": _pair(cells[2]),
            "finetune": _pair(cells[3]),
        }
    return rows


def test_spec_table_matches():
    rows = _spec_rows()
    # A parse that finds nothing would pass vacuously: the table has ten rows.
    assert len(rows) == 10
    for (arch, setting), want in rows.items():
        where = f"{arch} {setting}"
        if want["order"] is None:
            assert setting == "random", where
        else:
            assert paper.TABLE_I[arch][setting] == want["order"], where
        assert paper.TABLE_II[arch][setting][:2] == want["retrieval"], where
        got = paper.TABLE_V[arch][setting]
        assert (got["ucf101"], got["hmdb51"]) == want["finetune"], where


def test_spec_layerwise_and_videoqa_match():
    section = _spec_section6()
    match = re.search(r"C3D conv3 top-1 (\d+\.\d)", section)
    assert match
    assert paper.TABLE_IV["c3d"]["conv3"][0] == float(match.group(1))
    assert "conv2 or conv3" in section
    all_col = paper.TABLE_VI_COLUMNS.index("All")
    found = re.findall(r"(C3D|R3D|R\(2\+1\)D) (\d+\.\d) -> (\d+\.\d)", section)
    assert len(found) == 3
    for name, before, after in found:
        arch = _ARCH_NAMES[name]
        assert paper.TABLE_VI["action-pretrained"][arch][all_col] == float(before)
        assert paper.TABLE_VI["order-pretrained"][arch][all_col] == float(after)


def _retrieval_rows():
    for table_name in ("TABLE_II", "TABLE_III", "TABLE_IV"):
        for arch, rows in getattr(paper, table_name).items():
            for key, row in rows.items():
                yield f"{table_name} {arch} {key}", row
    for method, row in paper.TABLE_II_2D.items():
        yield f"TABLE_II_2D {method}", row


def test_retrieval_rows_are_nondecreasing_in_k():
    rows = list(_retrieval_rows())
    assert len(rows) == 3 * 5 + 13 + 13 + 4
    for where, row in rows:
        assert len(row) == len(paper.TOP_K), where
        assert all(a <= b for a, b in zip(row, row[1:])), where


def _all_accuracies():
    for arch in paper.ARCHS:
        yield from paper.TABLE_I[arch].values()
        yield from paper.TABLE_I_IT16[arch].values()
        for cell in paper.TABLE_V[arch].values():
            yield from cell.values()
        for source in paper.TABLE_VI.values():
            yield from source[arch]
    yield from paper.CHANCE.values()
    for _, row in _retrieval_rows():
        yield from row
    for pair in paper.TABLE_V_OTHERS.values():
        yield from (v for v in pair if v is not None)


def test_every_accuracy_is_a_percentage():
    values = list(_all_accuracies())
    assert values
    for value in values:
        assert isinstance(value, float)
        assert 0.0 <= value <= 100.0


def test_table_i_falls_with_tl_at_it8_and_beats_chance():
    for arch in paper.ARCHS:
        accs = [paper.TABLE_I[arch][s] for s in paper.TL_SETTINGS]
        assert accs[0] > accs[1] > accs[2], arch
        for tl, acc in zip((3, 4, 5), accs):
            assert acc > paper.CHANCE[tl], arch
    assert paper.TABLE_I["r3d"]["16-8-3*"] > paper.TABLE_I["r3d"]["16-8-3"]


def test_chance_is_one_over_tl_factorial():
    for tl, factorial in ((3, 6), (4, 24), (5, 120)):
        assert paper.CHANCE[tl] == round(100 / factorial, 1)


def test_layout_cross_checks():
    # Table IV's conv5 is the feature of Table II, so its rows must be Table II's 16-8-3 rows.
    for arch in paper.ARCHS:
        assert paper.TABLE_IV[arch]["conv5"] == paper.TABLE_II[arch][paper.TABLE_IV_SETTING]
        assert tuple(paper.TABLE_IV[arch]) == paper.LAYERS
    # The gains the text states are best pretrained minus random in Table V.
    for arch, gains in paper.TABLE_V_TEXT_GAINS.items():
        rows = paper.TABLE_V[arch]
        for dataset, gain in gains.items():
            best = max(v[dataset] for k, v in rows.items() if k != "random")
            assert round(best - rows["random"][dataset], 1) == gain, (arch, dataset)
    for dataset, (arch, setting, value) in paper.TABLE_V_BEST.items():
        assert paper.TABLE_V[arch][setting][dataset] == value
        assert value == max(r[dataset] for rows in paper.TABLE_V.values() for r in rows.values())
    for source in paper.TABLE_VI.values():
        assert set(source) == set(paper.ARCHS)
        for row in source.values():
            assert len(row) == len(paper.TABLE_VI_COLUMNS)
    assert set(paper.TABLE_VI_FREE) <= set(paper.TABLE_VI_COLUMNS)


def test_layerwise_best_is_a_middle_layer():
    for arch, rows in paper.TABLE_IV.items():
        for i in range(len(paper.TOP_K)):
            best = max(row[i] for row in rows.values())
            assert max(rows["conv2"][i], rows["conv3"][i]) == best, (arch, paper.TOP_K[i])


def test_claims_cover_a_to_i():
    assert sorted(paper.CLAIMS) == list("abcdefghi")
    for claim in paper.CLAIMS.values():
        assert isinstance(claim, str) and claim.strip()
    for text in (paper.FIGURE_4, paper.FIGURE_10, paper.FIGURE_5["statement"]):
        assert isinstance(text, str) and text.strip()
    assert paper.RETRIEVAL_LEVEL == "video level"
