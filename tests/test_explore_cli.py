import json

import pytest

from vmapsim.cli import main
from vmapsim.explore import scenarios


def test_list(capsys):
    assert main(["explore", "--list"]) == 0
    out = capsys.readouterr().out
    for sid in scenarios.ids():
        assert any(line.split()[0] == sid for line in out.splitlines()), sid


def test_json_keys(capsys):
    assert main(["explore", "C1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("scenario", "verdict", "exhaustive", "executions", "outcomes", "counterexample",
              "seconds"):
        assert k in d
    assert d["scenario"] == "C1" and d["verdict"] == "violation" and d["outcomes"] is None
    assert isinstance(d["counterexample"], list) and d["counterexample"][-1]["violation"]


def test_json_outcomes(capsys):
    assert main(["explore", "B1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "outcomes" and d["outcomes"] == ["C", "CD", "D", "none"]
    assert d["counterexample"] is None and d["exhaustive"] is True


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_sampling_strategies(capsys, strategy):
    assert main(["explore", "C1", "--strategy", strategy, "--runs", "300", "--seed", "5",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "violation" and d["exhaustive"] is False and d["seed"] == 5


def test_unknown_id_lists_valid(capsys):
    assert main(["explore", "Z9"]) == 2
    err = capsys.readouterr().err
    assert "Z9" in err and "C1" in err and "H-ref" in err


@pytest.mark.parametrize("args,name", [(["--bound", "0"], "bound"), (["--runs", "-3"], "runs"),
                                       (["--bound", "x"], "bound"), (["--runs", "1.5"], "runs")])
def test_bad_numbers_refused_with_name(capsys, args, name):
    with pytest.raises(SystemExit) as e:
        main(["explore", "C1", *args])
    assert e.value.code == 2
    assert name in capsys.readouterr().err


def test_bad_strategy(capsys):
    assert main(["explore", "C1", "--strategy", "dfs"]) == 2
    assert "exhaustive" in capsys.readouterr().err
