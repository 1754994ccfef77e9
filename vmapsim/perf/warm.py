"""What runs before the timed part of a performance-model run: the setup and the warm-up, paid once.

A test_vmalloc worker first runs its test's setup (``full_fit_alloc_test``: fragment the address
space with ``fls(num_online_cpus()) * 8192`` junk pairs; ``long_busy_list_alloc_test``: 15000
live areas), and a steady-state run then plays warm-up iterations (two lazy-purge cycles by
default, :func:`vmapsim.perf.scaling.steady_warmup`) so that pools and lazy trees are filled
before anything is measured.  Neither part is timed; both only change the design's state.  This
module plays them and keeps the result:

* **Order.**  Workers take turns, one operation each (worker 0, 1, .., n-1, then again), and a
  drain (``__purge_vmap_area_lazy``) runs as soon as a ``vfree`` makes it due.  With n CPUs
  running the same loop on one FIFO queued lock this is the order the lock imposes; it is the
  model's order, not a measurement of the kernel's.  Setups end at a barrier: every worker
  finishes its setup before any starts its loop.
* **Bulk setups.**  For ``linux-6.18`` the setup's result is computed directly
  (:mod:`vmapsim.designs.bulk`); other designs play it one operation at a time (the same order,
  the same result: a test compares the two area for area).  A test whose setup ran here ends
  after its loop (its teardown, freeing the setup's areas, is not simulated), and its Summary
  ``avg`` therefore covers the loop only, not the kernel's setup + loop + teardown.
* **Cache.**  The state after setup and warm-up (the design, the registry of live areas, each
  worker's saved state) is kept as bytes, in memory and on disk under ``build/warm/``, keyed
  by the hash of the package's code and everything the state depends on (design and its
  parameters, workload parameters, CPUs, seed, prefill).  A run that finds it restores a copy
  (one unpickle) instead of playing the setup and warm-up again; the restored copy behaves
  exactly as the freshly built one (the timed run always starts from restored bytes, so a
  cache hit and a miss give identical results).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import REPO_ROOT
from ..vmalloc.vmap_area import PAGE_SIZE
from .workloads import (
    RESUMABLE,
    SETUP_TESTS,
    full_fit_junk_length,
    long_busy_list_length,
    pages_for,
    worker_ops,
)

__all__ = ["WarmStart", "prepare", "untimed_setup", "resumable", "code_hash", "cache_dir",
           "clear_memory_cache", "play_setup_steps", "CACHE_STATS"]

#: bytes above which a warm state is kept in memory only (not written to build/warm/)
DISK_LIMIT = 256 << 20
#: live areas above which a warm state is not kept at all (kernel-size full_fit at 64 CPUs has
#: 3.7 M: pickling it costs more than building it in bulk)
CACHE_AREAS = 400_000
#: entries the in-memory cache keeps (least recently used dropped first)
MEMORY_ENTRIES = 16

_MEMORY: dict[str, bytes] = {}
#: counts of this process: memory hits, disk hits, misses (built), bytes written
CACHE_STATS = {"memory": 0, "disk": 0, "miss": 0, "written": 0}
_CODE_HASH: str | None = None


def code_hash() -> str:
    """SHA-256 (16 hex digits) of every ``.py`` file of the package: a warm state built by other
    code is never reused."""
    global _CODE_HASH
    if _CODE_HASH is None:
        h = hashlib.sha256()
        pkg = REPO_ROOT / "vmapsim"
        for p in sorted(pkg.rglob("*.py")):
            h.update(str(p.relative_to(pkg)).encode())
            h.update(p.read_bytes())
        _CODE_HASH = h.hexdigest()[:16]
    return _CODE_HASH


def cache_dir() -> Path:
    """``build/warm/`` of the checkout (``VMAPSIM_WARM_CACHE`` overrides it; ``off`` disables
    the disk cache)."""
    env = os.environ.get("VMAPSIM_WARM_CACHE")
    return Path(env) if env and env != "off" else REPO_ROOT / "build" / "warm"


def clear_memory_cache() -> None:
    _MEMORY.clear()


def untimed_setup(spec) -> bool:
    """Whether *spec*'s setup is played before the timed run (single full_fit or long_busy_list)."""
    return (spec.trace is None and len(spec.tests) == 1 and spec.test_repeat_count == 1
            and spec.tests[0] in SETUP_TESTS and spec.name == spec.tests[0])


def resumable(spec) -> bool:
    """Whether a worker of *spec* can be saved after its warm-up and resumed."""
    if spec.trace is not None or spec.test_repeat_count != 1:
        return False
    return spec.name in RESUMABLE and (spec.name == "lookup" or len(spec.tests) == 1)


@dataclass
class WarmStart:
    """The state a timed run starts from (restored from :attr:`blob`)."""
    design: object
    sizes: dict
    owner_of: dict
    live: list
    live_index: dict
    workers: list                      # per worker: its state dict (resume=True)
    warmed: bool                       # warm-up iterations were played
    info: dict = field(default_factory=dict)


def _key(parts: dict) -> str:
    blob = repr(sorted(parts.items())).encode()
    return code_hash() + "-" + hashlib.sha256(blob).hexdigest()[:24]


def prepare(make_design, spec, ncpu: int, seed: int, key_parts: dict, *, cache: bool = True,
            track_live: bool = False):
    """The :class:`WarmStart` of a run, or None when nothing runs before its timed part.

    *make_design* builds the fresh design (prefilled); *key_parts* names everything it depends
    on.  Only workloads that :func:`resumable` accepts are prepared here (other warm-ups are
    played by the simulation itself, as before)."""
    setup = untimed_setup(spec)
    warm = bool(spec.warmup) and resumable(spec)
    if not setup and not warm:
        return None
    parts = dict(key_parts, ncpu=ncpu, seed=seed, workload=spec.name, tests=tuple(spec.tests),
                 loops_warm=spec.warmup, nr_pages=spec.nr_pages, setup_scale=spec.setup_scale,
                 online=spec.online_cpus, lookups=spec.lookups, owner=spec.owner_fraction,
                 live_per_cpu=spec.live_per_cpu, seq_order=spec.sequential_test_order,
                 track_live=track_live)
    key = _key(parts)
    t0 = time.perf_counter()
    blob, source = None, "miss"
    if cache:
        blob = _MEMORY.get(key)
        if blob is not None:
            source = "memory"
            _MEMORY[key] = _MEMORY.pop(key)            # most recently used last
        else:
            path = cache_dir() / f"{key}.pkl"
            if os.environ.get("VMAPSIM_WARM_CACHE") != "off" and path.exists():
                try:
                    blob = path.read_bytes()
                    source = "disk"
                    _MEMORY[key] = blob
                    _trim()
                except OSError:
                    blob = None
    CACHE_STATS[source] += 1
    if blob is None:
        # the state just built is used as it is (restoring its bytes would give the same
        # objects: tests/test_warm.py checks that a hit and a miss time the same run)
        start, blob, built = _build(make_design, spec, ncpu, seed, setup, warm, cache,
                                    track_live)
        if blob is not None:
            _remember(key, blob)
        else:
            source = "too large to keep" if cache else "off"
        start.info.update(built)
    else:
        try:
            start = _restore(blob)
        except Exception:                             # an unreadable file: build afresh
            _MEMORY.pop(key, None)
            CACHE_STATS[source] -= 1
            CACHE_STATS["miss"] += 1
            source = "miss (unreadable cache file)"
            start, blob, built = _build(make_design, spec, ncpu, seed, setup, warm, cache,
                                        track_live)
            if blob is not None:
                _remember(key, blob)
            start.info.update(built)
    start.info.update(cache=source if cache else "off", key=key,
                      prepare_seconds=round(time.perf_counter() - t0, 3),
                      bytes=len(blob) if blob is not None else None)
    return start


def _remember(key: str, blob: bytes) -> None:
    _MEMORY[key] = blob
    _trim()
    if os.environ.get("VMAPSIM_WARM_CACHE") == "off" or len(blob) > DISK_LIMIT:
        return
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.{os.getpid()}.tmp"
        tmp.write_bytes(blob)
        tmp.replace(d / f"{key}.pkl")
        CACHE_STATS["written"] += len(blob)
    except OSError:
        pass


def _trim() -> None:
    while len(_MEMORY) > MEMORY_ENTRIES:
        _MEMORY.pop(next(iter(_MEMORY)))


def _restore(blob: bytes) -> WarmStart:
    return _resume(pickle.loads(blob))


def _resume(start: WarmStart) -> WarmStart:
    for st in start.workers:
        rng = random.Random()
        rng.setstate(st.pop("rng_state"))
        st["rng"] = rng
        st["resume"] = True
    return start


# ----------------------------------------------------------------------------- building
class _Player:
    """Plays workers' operations on the design alone, round-robin, with no clock (the order
    of the module docstring); keeps the registries a timed run needs."""

    def __init__(self, design, spec, ncpu, seed, states=None, track_live=False):
        self.d, self.spec, self.n = design, spec, ncpu
        self.track_live = spec.name == "lookup" or track_live
        self.sizes, self.owner_of, self.live, self.live_index = {}, {}, [], {}
        self.states = states if states is not None else [{} for _ in range(ncpu)]
        self.gens = [worker_ops(spec, c, seed, self.states[c]) for c in range(ncpu)]
        self.result = [None] * ncpu

    def live_add(self, addr, c, pages):
        self.sizes[addr] = pages
        if self.track_live:
            self.owner_of[addr] = c
            self.live_index[addr] = len(self.live)
            self.live.append(addr)

    def live_del(self, addr):
        self.sizes.pop(addr)
        if self.track_live:
            self.owner_of.pop(addr)
            i = self.live_index.pop(addr)
            last = self.live.pop()
            if last != addr:
                self.live[i] = last
                self.live_index[last] = i

    def play(self, *, until_mark: bool, warm_iterations: int = 0) -> None:
        """Round-robin until every worker yielded ``mark`` (*until_mark*) or finished
        *warm_iterations* uncounted loop iterations."""
        d = self.d
        was = d.acct.enabled
        d.acct.enabled = False                        # nothing is timed: no lock records
        try:
            self._loop(d, until_mark, warm_iterations)
        finally:
            d.acct.enabled = was

    def _loop(self, d, until_mark, target):
        n = self.n
        warm = [0] * n
        active = list(range(n))
        gens, result = self.gens, self.result
        while active:
            still = []
            for c in active:
                op = gens[c].send(result[c])
                result[c] = None
                k = op[0]
                if k == "alloc":
                    addr = d.alloc_vmap_area((op[1] + 1) * PAGE_SIZE, op[2], cpu=c)
                    if addr is not None:
                        self.live_add(addr, c, op[1])
                    result[c] = addr
                elif k == "free" or k == "kvfree_rcu":
                    self.live_del(op[1])
                    va = d.find_unlink_vmap_area(op[1], cpu=c)
                    if d.free_vmap_area_noflush(va, cpu=c):
                        d.purge_vmap_area_lazy(cpu=c)
                elif k == "find":
                    d.find_vmap_area(op[1] + PAGE_SIZE // 2, cpu=c)
                elif k == "mark":
                    if until_mark:
                        continue                      # this worker's setup is done
                elif k == "end":
                    if until_mark:
                        raise ValueError("a loop iteration before the setup ended")
                    if op[1]:
                        raise ValueError("a counted iteration before the warm-up ended")
                    warm[c] += 1
                    if warm[c] >= target:
                        continue                      # this worker is warm: stop here
                elif k == "test_done":
                    raise ValueError("warm-up outlived its test")
                still.append(c)
            active = still


def play_setup_steps(design, spec, ncpu, seed, track_live=False):
    """The setup of *spec* played one operation at a time (the reference of the bulk build):
    returns the player (its ``states`` hold each worker's areas)."""
    p = _Player(design, spec, ncpu, seed, track_live=track_live)
    p.play(until_mark=True)
    return p


def _bulk(design, spec, ncpu, seed, track_live=False):
    """The setup built in bulk, or None (see :mod:`vmapsim.designs.bulk`)."""
    from ..designs.bulk import bulk_setup
    name = spec.tests[0]
    if name == "full_fit_alloc_test":
        j = full_fit_junk_length(spec)
        got = bulk_setup(design, name, ncpu, arrays=2, array_pages=pages_for(8 * j), count=j,
                         free_junk=True)
    else:
        m = long_busy_list_length(spec)
        got = bulk_setup(design, name, ncpu, arrays=1, array_pages=pages_for(8 * m), count=m,
                         free_junk=False)
    if got is None:
        return None
    states = []
    for c in range(ncpu):
        st = {}
        g = worker_ops(spec, c, seed, st)
        next(g)                                      # ("test", name): the test order is drawn
        g.close()
        st.update(got[c], setup_done=True, resume=True)
        states.append(st)
    p = _Player(design, spec, ncpu, seed, states, track_live=track_live)
    array_pages = pages_for(8 * (full_fit_junk_length(spec) if name == "full_fit_alloc_test"
                                  else long_busy_list_length(spec)))
    for st in states:
        p.sizes.update(dict.fromkeys(st["arrays"], array_pages))
    for st in states:
        p.sizes.update(dict.fromkeys(st["ptr"], 1))
    if p.track_live:            # address order (the steps path lists them in another order)
        for c, st in enumerate(states):
            for a in st["arrays"]:
                p.owner_of[a] = c
        for c, st in enumerate(states):
            for a in st["ptr"]:
                p.owner_of[a] = c
        p.live = sorted(p.owner_of)
        p.live_index = {a: i for i, a in enumerate(p.live)}
    return p


def _build(make_design, spec, ncpu, seed, setup, warm, cache, track_live=False):
    t0 = time.perf_counter()
    d = make_design()
    info = {}
    p = None
    if setup:
        p = _bulk(d, spec, ncpu, seed, track_live)
        info["setup"] = "bulk" if p is not None else "steps"
        if p is None:
            p = play_setup_steps(d, spec, ncpu, seed, track_live)
        for st in p.states:
            st["no_teardown"] = True
        info["setup_seconds"] = round(time.perf_counter() - t0, 3)
    if warm:
        t1 = time.perf_counter()
        if p is None:
            p = _Player(d, spec, ncpu, seed, track_live=track_live)
        p.play(until_mark=False, warm_iterations=spec.warmup)
        info["warmup_seconds"] = round(time.perf_counter() - t1, 3)
    states = []
    for st in p.states:
        st = {k: (list(v) if isinstance(v, list) else v) for k, v in st.items()
              if k not in ("rng", "resume")}
        st["rng_state"] = p.states[len(states)]["rng"].getstate()
        st["warm_left"] = 0 if warm else spec.warmup
        states.append(st)
    kept = {k: v for k, v in info.items() if not k.endswith("_seconds")}
    start = WarmStart(d, p.sizes, p.owner_of, p.live, p.live_index, states, warm, kept)
    blob = None
    if cache and len(p.sizes) <= CACHE_AREAS:
        blob = pickle.dumps(start, protocol=pickle.HIGHEST_PROTOCOL)
    info["build_seconds"] = round(time.perf_counter() - t0, 3)
    return _resume(start), blob, info
