"""Cost constants and machine profiles of the performance model.

Two JSON files under ``data/perf/`` hold every number the model turns into time, each with
its source:

* ``machines.json`` -- machine profiles selectable by id (``threadripper-3970x``, the
  calibration machine of Rezki's 2023 numbers; ``xeon-8176-8s``, perfbook's 448-thread
  reference box; ``kvm-guest-16``).  A profile gives the topology and the cost of moving a
  modified cache line between two CPUs by their distance (SMT sibling, same LLC, same socket,
  other socket, across the interconnect).
* ``costs.json`` -- per-node visit, slab, page-allocator, counter-line, SMT, RCU, TLB-flush and
  vmalloc-outside-the-index constants, each marked ``fitted`` (chosen by the calibration, within
  ``bounds``), ``sourced``, ``kernel`` or ``assumed``, and tagged with the ``mechanism`` it
  belongs to (:func:`mechanisms`).

>>> m = make_machine("xeon-8176-8s")
>>> m.hw_threads, m.rmw_ns[5]
(448, 944.8)
>>> c = make_costs(grace_period_ms=10.0)
>>> c.grace_period_ms
10.0

Placement (:meth:`Machine.placement`) models where the scheduler puts N unpinned test threads:
one thread per core, round-robin over sockets and then over last-level caches, SMT siblings
only when every core has one (the kernel's load balancer spreads runnable tasks over
LLC domains first).  Simulating more CPUs than the profile has hardware threads is allowed:
the extra CPUs form additional sockets reached at ``extra_socket_transfer_ns`` (reported as
``extrapolated_topology``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache

from ..errors import ParameterError
from ..params import check_choice, check_float
from ..paths import DATA_DIR

__all__ = ["Machine", "Costs", "make_machine", "make_costs", "machine_names", "cost_table",
           "mechanisms", "status_of", "reload_tables", "cost_limits", "COST_LIMITS",
           "COSTS_FILE", "MACHINES_FILE"]

MACHINES_FILE = DATA_DIR / "perf" / "machines.json"
COSTS_FILE = DATA_DIR / "perf" / "costs.json"


@lru_cache(maxsize=None)
def _load(path) -> dict:
    with open(path) as f:
        return json.load(f)


def reload_tables() -> None:
    """Forget the cached ``data/perf`` files (after the calibration rewrote ``costs.json``)."""
    _load.cache_clear()


def machine_names() -> list[str]:
    """Ids of the machine profiles in ``data/perf/machines.json``."""
    return [k for k in _load(MACHINES_FILE) if not k.startswith("_")]


@dataclass(frozen=True)
class Machine:
    """A machine profile: topology and cache-line costs (ns)."""
    id: str
    title: str
    sockets: int
    llcs_per_socket: int
    cores_per_llc: int
    threads_per_core: int
    socket_groups: int
    ghz: float
    l2_bytes: int
    llc_bytes: int
    transfer_ns: tuple
    rmw_ns: tuple
    llc_hit_ns: float
    dram_ns: float
    lock_roundtrip_ns: float
    extra_socket_transfer_ns: float
    sources: dict = field(default_factory=dict, compare=False)

    @property
    def hw_threads(self) -> int:
        return self.sockets * self.llcs_per_socket * self.cores_per_llc * self.threads_per_core

    def placement(self, n: int) -> list[tuple[int, int, int, int]]:
        """``(socket, llc, core, thread)`` of each of *n* simulated CPUs (see module doc)."""
        cores = []
        # round-robin: core index within LLC, then LLC, then socket varies fastest
        for core in range(self.cores_per_llc):
            for llc in range(self.llcs_per_socket):
                for sock in range(self.sockets):
                    cores.append((sock, llc, core))
        out = [(s, l, c, t) for t in range(self.threads_per_core) for (s, l, c) in cores]
        extra_socket = self.sockets
        while len(out) < n:   # extrapolated topology: more sockets of the same part
            out.extend((extra_socket, l, c, t) for (s, l, c, t) in out[:self.hw_threads]
                       if s == 0)
            extra_socket += 1
        return out[:n]

    def distance(self, a: tuple, b: tuple) -> int:
        """Distance level 0..5 between two placements (see ``machines.json``)."""
        if a == b:
            return 0
        if a[0] != b[0]:
            if a[0] >= self.sockets or b[0] >= self.sockets:
                return 6
            per = max(1, self.sockets // max(1, self.socket_groups))
            return 4 if a[0] // per == b[0] // per else 5
        if a[1] != b[1]:
            return 3
        if a[2] != b[2]:
            return 2
        return 1

    def siblings(self, n: int) -> list[int]:
        """For each of *n* simulated CPUs, the simulated CPU on the same core (its SMT sibling),
        or -1 when that hardware thread runs no worker."""
        core = {}
        out = [-1] * n
        for i, (s, l, c, _t) in enumerate(self.placement(n)):
            j = core.setdefault((s, l, c), i)
            if j != i:
                out[i], out[j] = j, i
        return out

    def matrices(self, n: int):
        """``(transfer, rmw)``: n x n lists of line-transfer and atomic-RMW costs (ns)."""
        place = self.placement(n)
        tr = list(self.transfer_ns) + [self.extra_socket_transfer_ns]
        rm = list(self.rmw_ns) + [self.extra_socket_transfer_ns + self.rmw_ns[0]]
        transfer = [[0.0] * n for _ in range(n)]
        rmw = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                d = self.distance(place[i], place[j])
                transfer[i][j] = tr[d]
                rmw[i][j] = rm[d]
        return transfer, rmw


def make_machine(machine: str = "threadripper-3970x", **overrides) -> Machine:
    """The profile *machine* from ``machines.json``, with numeric fields optionally overridden."""
    data = _load(MACHINES_FILE)
    check_choice("machine", machine, machine_names())
    d = dict(data[machine])
    d["transfer_ns"] = tuple(d["transfer_ns"])
    d["rmw_ns"] = tuple(d["rmw_ns"])
    d.pop("title", None)
    m = Machine(id=machine, title=data[machine]["title"], **d)
    if overrides:
        overrides = dict(overrides)
        scale = overrides.pop("line_scale", None)
        valid = {f.name for f in fields(Machine)} - {"id", "title", "sources"}
        for k, v in overrides.items():
            check_choice("machine parameter", k, sorted(valid | {"line_scale"}))
            if k in ("transfer_ns", "rmw_ns"):
                v = tuple(check_float(k, x, lo=0.0) for x in v)
                if len(v) != 6:
                    raise ParameterError(f"{k} needs 6 values (distances 0..5), got {len(v)}")
                overrides[k] = v
        m = replace(m, **overrides)
        if scale is not None:
            scale = check_float("line_scale", scale, lo=0.0)
            m = replace(m, transfer_ns=tuple(x * scale for x in m.transfer_ns),
                        rmw_ns=(m.rmw_ns[0],) + tuple(x * scale for x in m.rmw_ns[1:]),
                        extra_socket_transfer_ns=m.extra_socket_transfer_ns * scale)
    return m


@dataclass(frozen=True)
class Costs:
    """The constants of ``costs.json`` as attributes (ns unless the name says otherwise)."""
    node_visit_ns: float
    node_write_ns: float
    index_alloc_ns: float
    index_free_ns: float
    coherence_overlap: float
    vmalloc_base_ns: float
    vmalloc_page_ns: float
    vfree_base_ns: float
    vfree_page_ns: float
    clear_page_ns: float
    cold_page_ns: float
    pcp_batch: int
    pcp_high: int
    zone_page_ns: float
    counter_rmw_ns: float
    counters_share_line: int
    smt_yield: float
    remote_lines_per_op: float
    rcu_read_ns: float
    call_rcu_ns: float
    grace_period_ms: float
    kfree_drain_ms: float
    kfree_bulk_entries: int
    rcu_qhimark: int
    rcu_qovld: int
    sizeof_rcu_head: int
    tlb_flush_base_ns: float
    tlb_flush_per_cpu_ns: float
    tlb_ipi_handler_ns: float
    purge_per_area_ns: float
    purge_remote_lines: float
    pcpu_alloc_ns: float


#: valid range of each overridable constant (a sensitivity run may move a constant far, never
#: to a value that makes the model's arithmetic overflow or divide by zero): times up to one
#: second per event (``_ns``) or 1000 s (``_ms``), fractions in [0, 1], counts of at least 1
COST_LIMITS = {
    "coherence_overlap": (0.0, 1.0),
    "smt_yield": (0.0, 1.0),
    "counters_share_line": (0.0, 1.0),
    "remote_lines_per_op": (0.0, 1000.0),
    "purge_remote_lines": (0.0, 1000.0),
    "pcp_batch": (1, 1_000_000),
    "pcp_high": (1, 1_000_000_000),
    "kfree_bulk_entries": (1, 1_000_000),
    "rcu_qhimark": (1, 1_000_000_000),
    "rcu_qovld": (1, 1_000_000_000),
    "sizeof_rcu_head": (0, 4096),
}


def cost_limits(name: str) -> tuple:
    """``(lo, hi)`` of the cost constant *name* (see :data:`COST_LIMITS`)."""
    if name in COST_LIMITS:
        return COST_LIMITS[name]
    if name.endswith("_ms"):
        return (0.0, 1e6)
    return (0.0, 1e9)


def cost_table() -> dict:
    """The raw ``costs.json`` entries (value, unit, source, fitted/assumed flags)."""
    return {k: v for k, v in _load(COSTS_FILE).items() if not k.startswith("_")}


def status_of(entry: dict) -> str:
    """``fitted``, ``sourced``, ``kernel`` or ``assumed``: how a ``costs.json`` entry was chosen."""
    for k in ("fitted", "sourced", "kernel", "assumed"):
        if entry.get(k):
            return k
    return "sourced"


def mechanisms() -> dict:
    """``mechanism -> [constant names]`` of ``costs.json`` (constants without a mechanism tag,
    e.g. the RCU ones, are left out)."""
    out: dict = {}
    for k, v in cost_table().items():
        if v.get("mechanism"):
            out.setdefault(v["mechanism"], []).append(k)
    return out


def make_costs(**overrides) -> Costs:
    """The constants of ``costs.json``, each optionally overridden by keyword (sensitivity runs).

    Unknown names raise :class:`ParameterError` listing the valid ones; a value that is not a
    finite number within :func:`cost_limits` is refused naming the constant and its range.
    """
    table = cost_table()
    values = {k: v["value"] for k, v in table.items()}
    for k, v in overrides.items():
        check_choice("cost constant", k, sorted(values))
        lo, hi = cost_limits(k)
        values[k] = check_float(k, v, lo=lo, hi=hi)
        if isinstance(table[k]["value"], int):
            values[k] = int(round(values[k]))
    missing = {f.name for f in fields(Costs)} - set(values)
    if missing:
        raise ParameterError(f"{COSTS_FILE}: missing cost constants {sorted(missing)}")
    return Costs(**{f.name: values[f.name] for f in fields(Costs)})
