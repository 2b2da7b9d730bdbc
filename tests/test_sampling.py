import itertools
import math

import numpy as np
import pytest

from vcop_lab.data import sampling
from vcop_lab.errors import SettingsError


def test_parse_and_span():
    s = sampling.parse_setting("16-8-3")
    assert (s.cl, s.it, s.tl, s.span, s.num_orders) == (16, 8, 3, 64, 6)
    assert sampling.parse_setting("16-8-4").span == 88
    assert sampling.parse_setting("16-8-5").span == 112
    for bad in ("16-8", "a-b-c", "16-8-6", "16-8-1", "0-8-3"):
        with pytest.raises(SettingsError):
            sampling.parse_setting(bad)


def test_permutations_lexicographic():
    for tl in range(2, 6):
        assert list(sampling.permutations_for(tl)) == list(itertools.permutations(range(tl)))


def test_tuple_indices_are_consecutive_clips():
    s = sampling.parse_setting("4-2-3")
    idx = sampling.tuple_frame_indices(5, s)
    assert idx.tolist() == [[5, 6, 7, 8], [11, 12, 13, 14], [17, 18, 19, 20]]
    assert idx.max() - idx.min() + 1 == s.span


def test_train_start_uniform_and_never_past_the_end():
    s = sampling.parse_setting("4-2-3")
    rng = np.random.default_rng(0)
    starts = [sampling.train_start(20, s, rng) for _ in range(2000)]
    assert min(starts) == 0 and max(starts) == 20 - s.span
    with pytest.raises(SettingsError):
        sampling.train_start(s.span - 1, s, rng)


@pytest.mark.parametrize("tl", [3, 4])
def test_permutations_balanced_chi_square(tl):
    rng = np.random.default_rng(1)
    k = math.factorial(tl)
    n = 600 * k
    counts = np.bincount([sampling.draw_permutation(tl, rng) for _ in range(n)], minlength=k)
    chi2 = ((counts - n / k) ** 2 / (n / k)).sum()
    # 99.9% quantile of chi-square with k-1 dof: 5 dof -> 20.5, 23 dof -> 49.7
    assert chi2 < {6: 20.5, 24: 49.7}[k]


def test_eval_clip_starts_even_and_in_range():
    starts = sampling.eval_clip_starts(100, 16, 10)
    assert starts[0] == 0 and starts[-1] == 100 - 16 and len(starts) == 10
    assert np.all(np.diff(starts) > 0)
    assert sampling.eval_clip_starts(16, 16, 10) == [0] * 10
    with pytest.raises(SettingsError):
        sampling.eval_clip_starts(15, 16, 10)
