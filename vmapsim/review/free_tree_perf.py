"""The performance-model experiments of notebook ``01-free-tree``: the designs' time per loop in
steady state, the cold start the notebook reported before, and Rezki's readers beside the
allocators.

Every run is one :func:`vmapsim.perf.simulate.simulate` call whose keyword arguments are named
as the ``simulate`` command's parameters, so that :func:`conditions` is what
:class:`vmapsim.numbers.Numbers` records and :func:`command` the line that reruns it
(``python -m vmapsim simulate ...``).  Each run is deterministic for its seed.

* :func:`steady_config` -- a steady run on a machine with exactly *cpus* CPUs online: two
  lazy-purge cycles of warm-up (:func:`vmapsim.perf.simulate.steady_warmup_for`), one timed
  but uncounted settle cycle (``simulate()``'s default), then *cycles* whole cycles counted, so
  every counted loop pays its share of a purge and the figure averages over the cycles, whose
  times differ from one to the next (:func:`cycle_times`).  Notebook 04's design grid models
  Rezki's 64-CPU machine (64 online whatever the CPUs running); this one models an N-CPU
  machine, so the two give different times for the same N;
* :func:`before_config` -- the cold start the notebook's earlier version reported (no warm-up,
  300 loops per CPU, the machine's 64 CPUs online): a transient, kept to show what changed;
* :func:`model_grid` -- many configurations, locally in processes;
* :func:`reader_run` -- one reader kind beside the allocators, with one protocol: the
  allocators alone, the reader alone (same warm state, allocators idle) and both together
  (:mod:`vmapsim.perf.readers`; the prices of a reader's own work are assumptions,
  :data:`vmapsim.perf.readers.READER_COSTS`);
* :func:`reader_table` -- :func:`reader_run` for every design, reader kind and protocol that
  applies (:func:`reader_protocols`).

Comparisons apply the model's error band (``error_band`` of ``data/perf/calibration.json``)
through the caller's rule; nothing here decides what is distinguishable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..designs import design_class
from ..errors import ParameterError
from ..params import check_choice, check_float, check_int, check_seed
from ..perf.costs import machine_names
from ..perf.readers import READER_KINDS, ReaderSpec
from ..perf.simulate import simulate, steady_warmup_for

__all__ = ["PERF_DESIGNS", "READER_DESIGNS", "PROTOCOL_TEXT", "steady_config", "before_config",
           "cycle_loops", "cycle_times",
           "conditions", "command", "model_grid", "ModelRun", "reader_protocols", "reader_run",
           "reader_table", "ReaderRun", "reader_string", "BEFORE_LOOPS"]

#: the designs whose time per loop the notebook compares
PERF_DESIGNS = ("linux-6.18", "rfc-maple-busy", "rfc-v1", "maple-nofree", "maple-nofree-sharded")
#: the designs of the reader comparison: today's split, and the two designs without a free tree
READER_DESIGNS = ("linux-6.18", "maple-nofree", "maple-nofree-sharded")
#: loops per CPU of the earlier version's cold runs
BEFORE_LOOPS = 300

#: reader protocol -> (the readers' walks under RCU, find_vmap_area()'s lookup protocol),
#: and what it is
PROTOCOLS = {
    "locks": (False, "spinlock"),
    "rcu": (True, "rcu-trylock-retry"),
    "rcu-readonce": (True, "rcu-readonce"),
}
PROTOCOL_TEXT = {
    "locks": "today's locking: vread_iter and vmallocinfo under each node's lock (the copy and "
             "the printing inside it), vmalloc_dump_obj a trylock, usercopy's find_vmap_area() "
             "walk and first reads under the node's lock",
    "rcu": "walks under rcu_read_lock() as M22 proposes for vread_iter and vmallocinfo (and "
           "vmalloc_dump_obj), usercopy's lookup M18's rule 2 (trylock the area found, retry); "
           "the writers free replaced tree nodes through call_rcu",
    "rcu-readonce": "usercopy's lookup as M23 plans it (mas_walk under RCU, READ_ONCE of the "
                    "bounds); the writers free through call_rcu",
}


def _check_design(design: str) -> str:
    from ..designs import available_designs
    return check_choice("design", design, available_designs())


# ----------------------------------------------------------------------------- configurations
def steady_config(design: str, cpus: int, workload: str = "fix_size_alloc_test", *,
                  loops: int = 200, setup_scale: float | None = None,
                  machine: str = "threadripper-3970x", seed: int = 0, cycles: int = 1) -> dict:
    """``simulate()`` arguments of a steady run with exactly *cpus* CPUs online (module
    docstring): ``warmup`` two lazy-purge cycles (then ``simulate()``'s default settle cycle),
    ``loops`` at least *cycles* whole lazy-purge cycles (:func:`cycle_loops`) and at least
    *loops*."""
    cpus = check_int("cpus", cpus, lo=1, hi=1024)
    cycles = check_int("cycles", cycles, lo=1, hi=64)
    w = steady_warmup_for(workload, cpus, cpus)
    c = dict(design=_check_design(design), lookup="spinlock", cpus=cpus, online_cpus=cpus,
             workload=workload,
             loops=max(check_int("loops", loops, lo=1), cycles * max(1, w // 2)),
             warmup=w, machine=check_choice("machine", machine, machine_names()),
             seed=check_seed("seed", seed))
    if setup_scale is not None:
        c["setup_scale"] = check_float("setup_scale", setup_scale, lo=1e-6, hi=1.0)
    return c


def cycle_loops(config: dict) -> int:
    """Loops per CPU of one lazy-purge cycle of a :func:`steady_config` run (half its
    warm-up)."""
    return max(1, config["warmup"] // 2)


def cycle_times(config: dict, cycles: int, *, processes: int | None = 1,
                last: float | None = None) -> list[float]:
    """The time per loop of each of the first *cycles* counted lazy-purge cycles of *config*
    (a :func:`steady_config` run): runs counting 1..*cycles* whole cycles, cycle j's time
    taken as ``j * t_j - (j - 1) * t_(j-1)`` (t_j: the run counting j cycles).  What a
    single counted cycle would report, cycle by cycle: the cycle-to-cycle spread.  *last*: the
    time per loop of the run counting *cycles* cycles, when the caller has it (not rerun)."""
    cycles = check_int("cycles", cycles, lo=1, hi=64)
    n = cycle_loops(config)
    todo = range(1, cycles + (last is None))
    means = [r.us_per_op for r in model_grid([dict(config, loops=j * n) for j in todo],
                                             processes=processes)]
    if last is not None:
        means.append(float(last))
    return [j * means[j - 1] - (j - 1) * (means[j - 2] if j > 1 else 0.0)
            for j in range(1, cycles + 1)]


def before_config(design: str, cpus: int, workload: str = "fix_size_alloc_test", *,
                  setup_scale: float | None = None, machine: str = "threadripper-3970x",
                  seed: int = 0) -> dict:
    """The earlier version's run: no warm-up, :data:`BEFORE_LOOPS` loops per CPU, the machine's
    64 hardware threads online (``simulate()``'s default then) -- a cold start."""
    c = dict(design=_check_design(design), lookup="spinlock", cpus=cpus, online_cpus=64,
             workload=workload, loops=BEFORE_LOOPS, warmup=0, machine=machine, seed=seed)
    if setup_scale is not None:
        c["setup_scale"] = setup_scale
    return c


_CLI = {"online_cpus": "--online-cpus", "setup_scale": "--setup-scale"}


def conditions(config: dict, **extra) -> dict:
    """The conditions of a run for :class:`vmapsim.numbers.Numbers` (the ``simulate``
    command's parameter names; ``reader`` and ``readers_only`` as the command's ``--reader``
    string and flag)."""
    c = {k: v for k, v in config.items() if k not in ("readers", "readers_only")}
    if config.get("readers"):
        c["reader"] = reader_string(config["readers"][0], with_ops=config.get("readers_only"))
        if config.get("readers_only"):
            c["readers_only"] = True
    c.update(extra)
    return c


def command(config: dict) -> str:
    """``python -m vmapsim simulate ...``: the command that reruns *config*."""
    c = conditions(config)
    parts = ["python -m vmapsim simulate"]
    for k, v in c.items():
        if k == "readers_only":
            parts.append("--readers-only")
        elif k == "reader":
            parts.append(f"--reader {v}")
        else:
            parts.append(f"{_CLI.get(k, '--' + k.replace('_', '-'))} {v:g}"
                         if isinstance(v, float) else f"{_CLI.get(k, '--' + k)} {v}")
    return " ".join(parts)


# ----------------------------------------------------------------------------- design grid
@dataclass
class ModelRun:
    """One performance-model run: its ``simulate()`` arguments and what it measured."""
    config: dict
    us_per_op: float
    purges: int
    lock_wait_fraction: dict = field(default_factory=dict)

    @property
    def conditions(self) -> dict:
        return conditions(self.config)

    def top_wait(self) -> tuple[str, float]:
        return max(self.lock_wait_fraction.items(), key=lambda kv: kv[1], default=("-", 0.0))


def model_grid(configs, *, processes: int | None = 1, progress=False) -> list[ModelRun]:
    """Run every config (a list of ``simulate()`` argument dicts) and return one
    :class:`ModelRun` each, in order (``processes`` > 1: local worker processes; the warm
    states they build go to the disk cache under ``build/warm/``)."""
    from ..perf.sweep import sweep
    configs = [dict(c) for c in configs]
    rows = sweep(configs, processes=processes, progress=progress).records
    return [ModelRun({**c, "settle": r["settle"]} if r.get("settle") else c, r["us_per_op"],
                     r["purges"], dict(r["lock_wait_fraction"]))
            for c, r in zip(configs, rows)]


# ----------------------------------------------------------------------------- readers
def reader_protocols(design: str, kind: str) -> list[str]:
    """The protocols that apply to *kind* on *design*: ``locks`` always; ``rcu`` where the busy
    index is a maple tree (a reader can walk it under RCU); ``rcu-readonce`` (M23's
    ``find_vmap_area()``) for usercopy on those designs."""
    check_choice("reader kind", kind, READER_KINDS)
    if not design_class(_check_design(design))._reader_rcu_ok:
        return ["locks"]
    return ["locks", "rcu"] + (["rcu-readonce"] if kind == "usercopy" else [])


def reader_string(spec: ReaderSpec, with_ops: bool = False) -> str:
    """*spec* as the ``simulate`` command's ``--reader`` value."""
    parts = [f"rate={spec.rate:g}"]
    if spec.kind == "vread":
        parts.append(f"chunk={spec.chunk}")
    if spec.rcu:
        parts.append("rcu=1")
    if with_ops:
        parts.append(f"ops={spec.ops}")
    return f"{spec.kind}:" + ",".join(parts)


@dataclass
class ReaderRun:
    """One reader kind beside the allocators (see :func:`reader_run`)."""
    design: str
    kind: str
    protocol: str
    rate: float
    alloc_us: float                 # us per allocator loop, allocators alone
    alloc_us_with: float            # ... with the reader
    read_us: float                  # us per read, reader alone (allocators idle)
    read_us_with: float             # ... while the allocators run
    reads: int                      # reads done while the allocators ran
    sim_ms: float                   # simulated span of the run with both
    trylock_failed: float           # share of the reads whose trylock failed (dump_obj)
    configs: dict = field(default_factory=dict, repr=False)   # alone / solo / both

    @property
    def alloc_ratio(self) -> float:
        return self.alloc_us_with / self.alloc_us

    @property
    def read_ratio(self) -> float:
        return self.read_us_with / self.read_us if self.read_us else float("nan")

    @property
    def duty(self) -> float:
        """Share of the time the reader would be reading at its rate, from its time alone
        (1 for back-to-back reads)."""
        return 1.0 if self.rate <= 0 else min(1.0, self.rate * self.read_us * 1e-6)


def _base(design, protocol, kind, cpus, loops, setup_scale, machine, seed, workload) -> dict:
    lookup = PROTOCOLS[protocol][1]
    online = cpus + 1
    w = steady_warmup_for(workload, cpus, online)
    return dict(design=design, lookup=lookup, cpus=cpus, online_cpus=online, workload=workload,
                loops=loops, warmup=w, machine=machine, seed=seed, setup_scale=setup_scale)


@lru_cache(maxsize=256)
def _simulate_cached(items: tuple):
    kw = dict(items)
    if "readers" in kw:
        kw["readers"] = [ReaderSpec(*r) for r in kw["readers"]]
    return simulate(**kw)


def _run(config: dict):
    items = dict(config)
    if "readers" in items:
        items["readers"] = tuple((r.kind, r.cpus, r.rate, r.chunk, r.rcu, r.ops)
                                 for r in items["readers"])
    return _simulate_cached(tuple(sorted(items.items())))


def reader_run(design: str = "linux-6.18", kind: str = "vmallocinfo", protocol: str = "locks",
               rate: float = 0.0, *, cpus: int = 8, loops: int = 200, setup_scale: float = 0.02,
               workload: str = "long_busy_list_alloc_test", chunk: int = 16, ops: int = 20,
               machine: str = "threadripper-3970x", seed: int = 0) -> ReaderRun:
    """*kind* read on one extra CPU at *rate* reads per second (0: back to back) beside *cpus*
    allocator CPUs running *workload*, steady (two lazy-purge cycles of warm-up), with
    ``cpus + 1`` CPUs online; the allocators alone and the reader alone (*ops* reads) are
    run with the same conditions.  Every run is memoised, so a widget pays only for what
    changed.  *protocol*: :func:`reader_protocols`."""
    design = _check_design(design)
    kind = check_choice("reader kind", kind, READER_KINDS)
    protocol = check_choice("protocol", protocol, reader_protocols(design, kind))
    rate = check_float("rate", rate, lo=0.0)
    if protocol == "rcu-readonce" and kind != "usercopy":
        raise ParameterError("rcu-readonce is a find_vmap_area() protocol: usercopy only")
    base = _base(design, protocol, kind, check_int("cpus", cpus, lo=1, hi=512),
                 check_int("loops", loops, lo=1), setup_scale, machine, seed, workload)
    rcu = PROTOCOLS[protocol][0] and kind != "usercopy"
    spec = ReaderSpec(kind, rate=rate, chunk=chunk, rcu=rcu, ops=ops)
    solo_spec = ReaderSpec(kind, rate=0.0, chunk=chunk, rcu=rcu, ops=ops)
    cfg = {"alone": base, "solo": dict(base, readers=[solo_spec], readers_only=True),
           "both": dict(base, readers=[spec])}
    alone, solo, both = _run(cfg["alone"]), _run(cfg["solo"]), _run(cfg["both"])
    a, b = solo.readers[kind], both.readers[kind]
    return ReaderRun(design, kind, protocol, rate, alone.us_per_op, both.us_per_op,
                     a["mean_us"], b["mean_us"], b["reads"], both.sim_seconds * 1e3,
                     b["trylock_failed"] / b["reads"] if b["reads"] else 0.0, cfg)


def reader_table(designs=READER_DESIGNS, kinds=READER_KINDS, *, protocols=None, rate=0.0,
                 progress=None, **kw) -> list[ReaderRun]:
    """:func:`reader_run` for every design, reader kind and protocol that applies (or those of
    *protocols* that apply), at *rate*."""
    todo = [(d, k, p) for d in designs for k in kinds for p in reader_protocols(d, k)
            if protocols is None or p in protocols]
    out = []
    for i, (d, k, p) in enumerate(todo):
        out.append(reader_run(d, k, p, rate, **kw))
        if progress is not None:
            progress(i + 1, len(todo))
    return out
