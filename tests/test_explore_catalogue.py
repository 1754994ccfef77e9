"""Every scenario of the catalogue gives the verdict the analysis expects."""
import pytest

from vmapsim.explore import explore, replay, scenarios

IDS = scenarios.ids()


@pytest.mark.parametrize("sid", IDS)
def test_catalogue_verdict(sid):
    r = explore(sid)
    assert r.verdict == r.expected, r.summary()
    if r.expected == "never":
        assert r.exhaustive, f"{sid}: a 'never' verdict must come from a complete search"
        assert r.counterexample is None
    if r.expected == "outcomes":
        assert r.exhaustive
        assert r.outcomes == r.expected_outcomes, r.summary()
    if r.expected == "violation":
        assert r.counterexample and "violation" in r.counterexample[-1]
        assert r.schedule and len(r.schedule) == len(r.counterexample)


def test_catalogue_lists_the_issue_ids():
    expected = ("A1 A2 B1 B2 C1 C2 C3 C4 C4-gp D1 D2 D3 D3-recheck D4 E1 E2 E2-rcu F1-inplace "
                "F1-cow F2 F2-filter G1-unfair G1-fair G2 G2-shared H H-ref I1 I1-revalidate "
                "I1-mas-nomem").split()
    assert [i for i in IDS if i in expected] == expected      # all of them, in the issue's order
    assert set(IDS) - set(expected) == {"I1-store-gfp"}       # our one addition


@pytest.mark.parametrize("sid", [i for i in IDS if scenarios.CATALOGUE[i].expected == "violation"])
def test_counterexample_is_minimal_and_replays(sid):
    r = explore(sid)
    fewest = explore(sid, strategy="bounded", bound=max(r.preemptions, 1))
    assert fewest.verdict == "violation"
    assert r.preemptions == fewest.preemptions, (r.schedule, fewest.schedule)
    ns = {}
    exec(r.snippet(), ns)               # the exported snippet is runnable as it stands
    assert ns["result"].violation == r.violation
    again = replay(sid, r.schedule)
    assert again.counterexample == r.counterexample


def test_b2_lkmm_annotation():
    r = explore("B2")
    assert r.lkmm_extra == ["D"] and "D" not in r.outcomes
