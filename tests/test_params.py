"""vmapsim.params and the CLI's handling of bad input."""
import subprocess
import sys

import pytest

from vmapsim.errors import ParameterError
from vmapsim.params import check_choice, check_float, check_int


def test_check_choice_lists_valid_values():
    with pytest.raises(ParameterError, match=r"unknown design 'bogus'; valid design values: a, b"):
        check_choice("design", "bogus", ["a", "b"])
    assert check_choice("design", "a", ["a", "b"]) == "a"


@pytest.mark.parametrize("value", [0, -1, 1025, 2.5, "x", True, None])
def test_check_int_refuses_with_name(value):
    with pytest.raises(ParameterError, match="cpus"):
        check_int("cpus", value, lo=1, hi=1024)


def test_check_int_accepts_digit_strings_and_ints():
    assert check_int("loops", "12", lo=1) == 12
    assert check_int("loops", 7, lo=1) == 7


def test_check_float_refuses_nan_and_out_of_range():
    with pytest.raises(ParameterError, match="rate"):
        check_float("rate", float("nan"), 0, 1)
    with pytest.raises(ParameterError, match="rate"):
        check_float("rate", 1.5, 0, 1)
    assert check_float("rate", 0.25, 0, 1) == 0.25


def test_cli_without_command_prints_help_and_fails():
    out = subprocess.run([sys.executable, "-m", "vmapsim"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "replay" in out.stdout and "simulate" in out.stdout
