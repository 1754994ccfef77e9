"""vmapsim.designs: registry, parameter checks and the lock-accounting record."""
import pytest

from vmapsim.designs import (
    DESIGNS,
    available_designs,
    design_class,
    design_names,
    make_design,
)
from vmapsim.designs.base import Accounting, Design
from vmapsim.errors import ParameterError


def test_unknown_design_lists_valid_names():
    with pytest.raises(ParameterError) as exc:
        make_design("linux-9.9")
    for name in ("linux-6.8", "linux-6.18", "rfc-maple-busy", "rfc-v1", "maple-nofree"):
        assert name in str(exc.value)


def test_registry_lists_the_review_designs():
    assert {"linux-6.8", "linux-6.18", "rfc-maple-busy", "rfc-v1", "maple-nofree",
            "maple-nofree-sharded"} <= set(design_names())
    assert all(":" in target for target in DESIGNS.values())


def test_every_registered_design_imports_and_is_a_design():
    """The registry fails loudly: every name resolves to a Design subclass whose ``name`` is
    the registered name, and available_designs() is exactly the registered names."""
    assert available_designs() == list(DESIGNS)
    for name in DESIGNS:
        cls = design_class(name)
        assert issubclass(cls, Design), name
        assert cls.name == name


def test_a_registered_module_that_does_not_import_raises(monkeypatch):
    monkeypatch.setitem(DESIGNS, "ghost", "vmapsim.no_such_module:Ghost")
    with pytest.raises(ModuleNotFoundError, match="vmapsim.no_such_module"):
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
