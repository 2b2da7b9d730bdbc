import pytest

from vcop_lab.cli import _parse_param
from vcop_lab.errors import VcopError


def test_reproduce_params_are_literals_or_strings():
    assert _parse_param("ARCHS=['r3d']") == ("ARCHS", ["r3d"])
    assert _parse_param("EPOCHS=3") == ("EPOCHS", 3)
    assert _parse_param("DIR=/data/clips") == ("DIR", "/data/clips")
    assert _parse_param("X=None") == ("X", None)
    with pytest.raises(VcopError, match="NAME=VALUE"):
        _parse_param("no equals sign")
