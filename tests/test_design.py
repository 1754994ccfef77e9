"""vmapsim.design: registry, parameter checks and the lock-accounting record."""
import pytest

from vmapsim.design import DESIGNS, Accounting, Design, design_names, make_design
from vmapsim.errors import ParameterError


def test_unknown_design_lists_valid_names():
    with pytest.raises(ParameterError) as exc:
        make_design("linux-9.9")
    for name in ("linux-6.8", "linux-6.18", "rfc-maple-busy", "rfc-v1", "maple-nofree"):
        assert name in str(exc.value)


def test_registry_preslists_issue5_names():
    assert {"rfc-maple-busy", "rfc-v1", "maple-nofree"} <= set(design_names())
    assert all(":" in target for target in DESIGNS.values())


def test_unimplemented_registered_design_says_so(monkeypatch):
    monkeypatch.setitem(DESIGNS, "ghost", "vmapsim.no_such_module:Ghost")
    with pytest.raises(ParameterError, match="not implemented in this build"):
        make_design("ghost")


class _Toy(Design):
    name = "toy"


def test_base_checks_parameters():
    with pytest.raises(ParameterError, match="unknown parameter 'cpus'.*possible_cpus"):
        _Toy(cpus=3)
    with pytest.raises(ParameterError, match="online_cpus"):
        _Toy(possible_cpus=2, online_cpus=3)
    d = _Toy(possible_cpus=4)
    assert d.online_cpus == 4
    assert d.lazy_max_pages() == 3 * 8192      # fls(4) * 32 MiB / 4 KiB


def test_accounting_holds_carry_work_deltas():
    a = Accounting()
    a.begin("op", 1)
    a.visited += 5
    h = a.lock("free_vmap_area_lock")
    a.visited += 3
    a.written += 2
    a.alloc_bytes += 72
    a.unlock(h)
    h2 = a.lock("vn[0].busy.lock")
    a.visited += 1
    a.unlock(h2)
    assert a.summary() == [("free_vmap_area_lock", "spin", 3, 2, 72, 0),
                           ("vn[0].busy.lock", "spin", 1, 0, 0, 0)]
    a.begin("next", 0)
    assert a.holds == [] and a.op == "next"
