"""Workloads of the performance model: the test_vmalloc suite, a lookup-heavy mix, trace replay.

Each workload is, per simulated worker, a generator of operations; the simulator
(:mod:`vmapsim.perf.sim`) sends back each operation's result (the address of an allocation, or
``None`` when it failed), so a test can stop and clean up exactly as the kernel's does.

Operations (tuples)::

    ("test", name)              a test case starts (for the Summary line)
    ("test_done", name, ok)     it ended; ok = False: the test function returned -1
    ("alloc", pages, align)     vmalloc()/__vmalloc_node(): area of pages + 1 guard page
    ("free", addr)              vfree(addr)
    ("kvfree_rcu", addr)        kvfree_rcu(): freed after a grace period, in batches
    ("find", addr)              find_vmap_area() by the owner of addr
    ("find_other",)             find_vmap_area() of some other worker's live area (non-owner)
    ("pcpu", objects)           __alloc_percpu() calls served without the vmalloc allocator
    ("end", counted)            end of one loop iteration (counted: an "op" of the kernel test)
    ("mark",)                   the loop starts now (after a test's setup): latency clock reset

The test_vmalloc generators follow lib/test_vmalloc.c (read from torvalds/linux 0791fae and
linux-next 18faecb; 2025 changes from the patches named in docs/perf-sources.md section 2): the same sizes,
alignments, random draws (``get_random_u8`` -> 8 random bits, ``get_random_u32_inclusive``),
setup and cleanup, ``junk_length = fls(num_online_cpus()) * 8192`` and the per-worker shuffled
test order.  Deliberate differences: ``pcpu_alloc_test`` reaches the vmalloc allocator only
when the percpu allocator needs a new chunk, which is modelled as one ``alloc_vmap_area`` of
``pcpu_unit_bytes * online_cpus`` per ``pcpu_objects_per_chunk`` objects (the kernel's
``pcpu_get_vm_areas`` is not part of the Design interface); ``vm_map_ram_test`` (vmap blocks)
is not modelled and is refused by name.  ``setup_scale`` < 1 shrinks the setup phases of
``full_fit_alloc_test`` and ``long_busy_list_alloc_test`` (the kernel's sizes are the default
and what the summary reports otherwise).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import chain, repeat

from ..errors import ParameterError
from ..params import check_choice, check_float, check_int
from ..vmalloc.vmap_area import PAGE_SIZE, fls

__all__ = ["TESTS", "TEST_BITS", "WorkloadSpec", "workload_names", "make_spec", "worker_ops",
           "THREAD_ALIGN"]

#: arch/x86/include/asm/page_64_types.h: THREAD_SIZE 16 KiB (no KASAN); THREAD_ALIGN = THREAD_SIZE
THREAD_ALIGN = 16 * 1024
#: lib/test_vmalloc.c: pcpu_alloc_test objects (module parameter nr_pcpu_objects since 2026)
NR_PCPU_OBJECTS = 35000
#: lib/test_vmalloc.c long_busy_list_alloc_test: live 1-page areas during the loop
LONG_BUSY_LIST = 15000

#: run_test_mask bit -> test name (lib/test_vmalloc.c test_case_array order)
TEST_BITS = {
    1: "fix_size_alloc_test",
    2: "full_fit_alloc_test",
    4: "long_busy_list_alloc_test",
    8: "random_size_alloc_test",
    16: "fix_align_alloc_test",
    32: "random_size_align_alloc_test",
    64: "align_shift_alloc_test",
    128: "pcpu_alloc_test",
    256: "kvfree_rcu_1_arg_vmalloc_test",
    512: "kvfree_rcu_2_arg_vmalloc_test",
    1024: "vm_map_ram_test",
    2048: "no_block_alloc_test",
}
TESTS = list(TEST_BITS.values())
UNSUPPORTED = {"vm_map_ram_test": "vm_map_ram() uses per-CPU vmap blocks, which the Design "
                                  "interface does not model"}
#: tests whose failure the kernel reports as expected (xfailed) since 2025
XFAIL = {"align_shift_alloc_test"}
#: run_test_mask default since mid-2025 (Rezki, "Restrict default test mask"): ids 1, 2, 4
DEFAULT_MASK = 7


@dataclass
class WorkloadSpec:
    """A validated workload: name plus the test_vmalloc module parameters it uses."""
    name: str
    loops: int = 10_000                 # test_loop_count (smoke profile; kernel default 1e6)
    run_test_mask: int = DEFAULT_MASK
    nr_pages: int = 0
    test_repeat_count: int = 1
    sequential_test_order: bool = False
    online_cpus: int = 1
    setup_scale: float = 1.0
    warmup: int = 0                     # uncounted iterations before the counted ones
    lookups: int = 4                    # lookup workload: find_vmap_area() calls per iteration
    owner_fraction: float = 0.5         # ... of which by the area's owner
    live_per_cpu: int = 64              # ... live areas each worker keeps
    pcpu_unit_bytes: int = 32 * 1024
    pcpu_objects_per_chunk: int = 64
    trace: object = None                # lookup/replay: the parsed operation mix
    tests: list = field(default_factory=list)

    @property
    def counted_per_worker(self) -> int:
        """Loop iterations (ops) each worker performs, as the kernel counts them."""
        if self.name == "lookup" or self.trace is not None:
            return self.loops
        return sum(self.test_repeat_count * _iterations(t, self) for t in self.tests)


def _iterations(test: str, spec: WorkloadSpec) -> int:
    if test == "align_shift_alloc_test":
        return 64
    if test == "pcpu_alloc_test":
        return 1
    return spec.loops


def workload_names() -> list[str]:
    """Valid ``--workload`` values (``trace:<name>`` for each trace in data/traces/)."""
    from ..traces.captures import trace_names
    return (["test_vmalloc"] + [t for t in TESTS if t not in UNSUPPORTED]
            + ["kvfree_rcu_*", "lookup"] + [f"trace:{n}" for n in trace_names()])


def make_spec(workload: str, loops: int = 10_000, *, run_test_mask: int | None = None,
              nr_pages: int = 0, test_repeat_count: int = 1, sequential_test_order: bool = False,
              online_cpus: int = 1, setup_scale: float = 1.0, lookups: int = 4,
              owner_fraction: float = 0.5, live_per_cpu: int = 64, warmup: int = 0) -> WorkloadSpec:
    """Validate a workload name and its parameters (errors name the parameter)."""
    loops = check_int("loops", loops, lo=1)
    nr_pages = check_int("nr_pages", nr_pages, lo=0, hi=1 << 20)
    test_repeat_count = check_int("test_repeat_count", test_repeat_count, lo=1)
    setup_scale = check_float("setup_scale", setup_scale, lo=1e-6, hi=1.0)
    online_cpus = check_int("online_cpus", online_cpus, lo=1, hi=65535)
    spec = WorkloadSpec(
        workload, loops=loops, nr_pages=nr_pages, test_repeat_count=test_repeat_count,
        sequential_test_order=bool(sequential_test_order), online_cpus=online_cpus,
        setup_scale=setup_scale, warmup=check_int("warmup", warmup, lo=0),
        lookups=check_int("lookups", lookups, lo=0, hi=10_000),
        owner_fraction=check_float("owner_fraction", owner_fraction, lo=0.0, hi=1.0),
        live_per_cpu=check_int("live_per_cpu", live_per_cpu, lo=1, hi=1 << 20))
    if workload in UNSUPPORTED:
        raise ParameterError(f"workload {workload!r} is not modelled: {UNSUPPORTED[workload]}; "
                             f"valid workload values: {', '.join(workload_names())}")
    if workload.startswith("trace:"):
        from .trace_mix import load_mix
        spec.trace = load_mix(workload[len("trace:"):])
        return spec
    check_choice("workload", workload, workload_names())
    if workload == "test_vmalloc" and spec.warmup:
        raise ParameterError("warmup applies to a single test, lookup or trace workload, "
                             "not to the whole test_vmalloc suite")
    if workload == "test_vmalloc":
        mask = DEFAULT_MASK if run_test_mask is None else check_int("run_test_mask", run_test_mask,
                                                                    lo=1, hi=(1 << 12) - 1)
        spec.run_test_mask = mask
        spec.tests = [n for b, n in TEST_BITS.items() if mask & b and n not in UNSUPPORTED]
        if not spec.tests:
            raise ParameterError(f"run_test_mask {mask:#x} selects no modelled test")
    elif workload == "kvfree_rcu_*":
        spec.tests = ["kvfree_rcu_1_arg_vmalloc_test", "kvfree_rcu_2_arg_vmalloc_test"]
        spec.run_test_mask = 256 | 512
    elif workload != "lookup":
        if run_test_mask is not None:
            raise ParameterError("run_test_mask applies only to --workload test_vmalloc")
        spec.tests = [workload]
        spec.run_test_mask = {n: b for b, n in TEST_BITS.items()}[workload]
    return spec


# ----------------------------------------------------------------------------- test cases
# Every test function takes (spec, rng, st): *st* is a dict the test keeps what it needs to be
# resumed in (the live areas of its setup, ``setup_done``, ``warm_left``), so a warmed worker
# can be saved and started again later (:mod:`vmapsim.perf.warm`).  With ``st["setup_done"]``
# a test skips its setup and uses ``st``'s areas; with ``st["no_teardown"]`` it ends after its
# loop (the setup was built outside the timed run, see :mod:`vmapsim.perf.warm`).
def fix_size_alloc_test(spec, rng, st=None):
    pages = spec.nr_pages if spec.nr_pages > 0 else 1
    for counted in _iters(spec, st):
        p = yield ("alloc", pages, PAGE_SIZE)
        if p is None:
            return False
        yield ("free", p)
        yield ("end", counted)
    return True


def no_block_alloc_test(spec, rng, st=None):
    # 2025: GFP_ATOMIC or GFP_NOWAIT (coin flip) with preemption off; the address-space side is
    # the same as fix_size_alloc_test (the flag only changes what happens on failure)
    return (yield from fix_size_alloc_test(spec, rng, st))


def full_fit_junk_length(spec) -> int:
    """``junk_length`` of full_fit_alloc_test: ``fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)``
    (the same number as ``lazy_max_pages()``), times ``setup_scale``."""
    junk_length = fls(spec.online_cpus) * (32 * 1024 * 1024 // PAGE_SIZE)
    return max(1, int(junk_length * spec.setup_scale))


def long_busy_list_length(spec) -> int:
    """Live 1-page areas of long_busy_list_alloc_test: 15000 (fixed), times ``setup_scale``."""
    return max(1, int(LONG_BUSY_LIST * spec.setup_scale))


def _full_fit_setup(spec, st):
    """Two pointer arrays, ``junk_length`` interleaved 1-page pairs (ptr[i], junk_ptr[i]), then
    every junk area freed: holes of 2 pages (the guard page included) between live areas."""
    junk_length = full_fit_junk_length(spec)
    arrays = st["arrays"] = []
    for _ in range(2):                      # ptr[] and junk_ptr[] themselves are vmalloc'ed
        a = yield ("alloc", _pages_for(8 * junk_length), PAGE_SIZE)
        if a is None:
            for x in arrays:
                yield ("free", x)
            return False
        arrays.append(a)
    ptr, junk = [], []
    st["ptr"] = ptr
    for _ in range(junk_length):
        ptr.append((yield ("alloc", 1, PAGE_SIZE)))
        junk.append((yield ("alloc", 1, PAGE_SIZE)))
    for j in junk:
        if j is not None:
            yield ("free", j)
    st["setup_done"] = True
    return True


def full_fit_alloc_test(spec, rng, st=None):
    st = {} if st is None else st
    if not st.get("setup_done"):
        ok = yield from _full_fit_setup(spec, st)
        if not ok:
            return False
    ptr, arrays = st["ptr"], st["arrays"]
    ok = True
    yield ("mark",)
    for counted in _iters(spec, st):
        tmp = yield ("alloc", 1, PAGE_SIZE)
        if tmp is None:
            ok = False
            break
        yield ("free", tmp)
        yield ("end", counted)
    ok = ok and all(p is not None for p in ptr)
    if st.get("no_teardown"):
        return ok
    for p in ptr:
        if p is not None:
            yield ("free", p)
    for a in arrays:
        yield ("free", a)
    return ok


def _long_busy_list_setup(spec, st):
    n = long_busy_list_length(spec)
    arr = yield ("alloc", _pages_for(8 * n), PAGE_SIZE)
    if arr is None:
        return False
    st["arrays"] = [arr]
    ptr = st["ptr"] = []
    for _ in range(n):
        ptr.append((yield ("alloc", 1, PAGE_SIZE)))
    st["setup_done"] = True
    return True


def long_busy_list_alloc_test(spec, rng, st=None):
    st = {} if st is None else st
    if not st.get("setup_done"):
        ok = yield from _long_busy_list_setup(spec, st)
        if not ok:
            return False
    ptr, arr = st["ptr"], st["arrays"][0]
    ok = True
    yield ("mark",)
    for counted in _iters(spec, st):
        p1 = yield ("alloc", 100, PAGE_SIZE)
        if p1 is None:
            ok = False
            break
        p2 = yield ("alloc", 1, PAGE_SIZE)
        if p2 is None:
            yield ("free", p1)
            ok = False
            break
        yield ("free", p1)
        yield ("free", p2)
        yield ("end", counted)
    if st.get("no_teardown"):
        return ok
    for p in ptr:
        if p is not None:
            yield ("free", p)
    yield ("free", arr)
    return ok


#: tests whose setup can be built before the timed run (and then is: see vmapsim.perf.warm)
SETUP_TESTS = {"full_fit_alloc_test": _full_fit_setup,
               "long_busy_list_alloc_test": _long_busy_list_setup}


def random_size_alloc_test(spec, rng, st=None):
    for counted in _iters(spec, st):
        n = rng.randint(1, 100)             # get_random_u32_inclusive(1, 100)
        p = yield ("alloc", n, PAGE_SIZE)
        if p is None:
            return False
        yield ("free", p)
        yield ("end", counted)
    return True


def fix_align_alloc_test(spec, rng, st=None):
    for counted in _iters(spec, st):
        p = yield ("alloc", 5, THREAD_ALIGN << 1)
        if p is None:
            return False
        yield ("free", p)
        yield ("end", counted)
    return True


def random_size_align_alloc_test(spec, rng, st=None):
    for counted in _iters(spec, st):
        rnd = rng.getrandbits(8)            # get_random_u8(): one byte drives both
        align = 1 << (rnd % 23)
        size = (rnd % 10) + 1
        p = yield ("alloc", size, max(align, PAGE_SIZE))
        if p is None:
            return False
        yield ("free", p)
        yield ("end", counted)
    return True


def align_shift_alloc_test(spec, rng, st=None):
    for i in range(64):                     # BITS_PER_LONG; expected to fail (xfail)
        p = yield ("alloc", 1, max(1 << i, PAGE_SIZE))
        if p is None:
            return False
        yield ("free", p)
        yield ("end", True)
    return True


def pcpu_alloc_test(spec, rng, st=None):
    n = NR_PCPU_OBJECTS
    arr = yield ("alloc", _pages_for(8 * n), PAGE_SIZE)
    if arr is None:
        return False
    chunks = []
    per = spec.pcpu_objects_per_chunk
    chunk_pages = max(1, spec.pcpu_unit_bytes * spec.online_cpus // PAGE_SIZE)
    for i in range(0, n, per):
        for _ in range(min(per, n - i)):    # size 1..PAGE_SIZE/4, align 1 << (1..11)
            rng.randint(1, PAGE_SIZE // 4)
            rng.randint(1, 11)
        c = yield ("alloc", chunk_pages, PAGE_SIZE)     # a new chunk: pcpu_get_vm_areas()
        if c is not None:
            chunks.append(c)
        yield ("pcpu", min(per, n - i))
    yield ("pcpu", n)                       # free_percpu() of every object
    for c in chunks:
        yield ("free", c)
    yield ("free", arr)
    yield ("end", True)
    return len(chunks) == (n + per - 1) // per


def kvfree_rcu_1_arg_vmalloc_test(spec, rng, st=None):
    for counted in _iters(spec, st):
        p = yield ("alloc", 1, PAGE_SIZE)
        if p is None:
            return False
        yield ("kvfree_rcu", p)
        yield ("end", counted)
    return True


kvfree_rcu_2_arg_vmalloc_test = kvfree_rcu_1_arg_vmalloc_test   # same address-space traffic


def _iters(spec, st=None):
    """The loop of a test: ``warmup`` uncounted iterations, then ``loops`` counted ones (an
    iterator of the ``counted`` flags).  With a state dict the warm-up iterations still to run
    are ``st["warm_left"]`` (a worker saved warm resumes with none; the saver sets it)."""
    left = spec.warmup if st is None else st.get("warm_left", spec.warmup)
    return chain(repeat(False, left), repeat(True, spec.loops))


def _pages_for(nbytes: int) -> int:
    return max(1, -(-nbytes // PAGE_SIZE))


#: pages of a vmalloc() of *nbytes* (at least one)
pages_for = _pages_for


_TEST_FUNCS = {name: globals()[name] for name in TESTS if name in globals()}


# ----------------------------------------------------------------------------- other workloads
def lookup_workload(spec, rng, st=None):
    """Each iteration: ``lookups`` find_vmap_area() calls (owner with ``owner_fraction``,
    otherwise a random live area of another worker), then one area replaced by a new
    vmalloc (a vfree of the oldest and a vmalloc of 1..4 pages)."""
    st = {} if st is None else st
    if not st.get("setup_done"):
        live = st["live"] = []
        for _ in range(spec.live_per_cpu):
            p = yield ("alloc", rng.randint(1, 4), PAGE_SIZE)
            if p is not None:
                live.append(p)
        st["setup_done"] = True
    live = st["live"]
    yield ("mark",)
    for counted in _iters(spec, st):
        for _ in range(spec.lookups):
            if live and rng.random() < spec.owner_fraction:
                yield ("find", live[rng.randrange(len(live))])
            else:
                yield ("find_other",)
        if live:
            yield ("free", live.pop(0))
        p = yield ("alloc", rng.randint(1, 4), PAGE_SIZE)
        if p is not None:
            live.append(p)
        yield ("end", counted)
    for p in live:
        yield ("free", p)
    return True


#: workloads whose worker can be saved warm and resumed (:mod:`vmapsim.perf.warm`)
RESUMABLE = {"fix_size_alloc_test", "no_block_alloc_test", "full_fit_alloc_test",
             "long_busy_list_alloc_test", "random_size_alloc_test", "fix_align_alloc_test",
             "random_size_align_alloc_test", "lookup"}


def worker_ops(spec: WorkloadSpec, worker: int, seed: int, st: dict | None = None):
    """The operation generator of worker *worker* (deterministic for *seed*).

    *st*, if given, is the dict the worker keeps its state in (its random generator as
    ``st["rng"]``, its test's name and areas); a dict with ``resume`` continues a saved
    worker of a single-test or lookup workload where it stopped (:mod:`vmapsim.perf.warm`)."""
    if st is not None and st.get("resume"):
        rng, name = st["rng"], st["test"]
        yield ("test", name)
        func = lookup_workload if name == "lookup" else _TEST_FUNCS[name]
        ok = yield from func(spec, rng, st)
        yield ("test_done", name, ok)
        return
    rng = random.Random((seed * 1_000_003 + worker) & 0xFFFFFFFF)
    if st is not None:
        st["rng"] = rng
    if spec.trace is not None:
        from .trace_mix import replay_workload
        yield ("test", spec.name)
        ok = yield from replay_workload(spec, rng, worker)
        yield ("test_done", spec.name, ok)
        return
    if spec.name == "lookup":
        if st is not None:
            st["test"] = "lookup"
        yield ("test", "lookup")
        ok = yield from lookup_workload(spec, rng, st)
        yield ("test_done", "lookup", ok)
        return
    order = list(range(len(TESTS)))
    if not spec.sequential_test_order:      # test_func(): shuffle_array() of the whole table
        for i in range(len(order) - 1, 0, -1):
            j = rng.randrange(i)            # get_random_u32_below(i), as the kernel does
            order[i], order[j] = order[j], order[i]
    single = len(spec.tests) == 1 and spec.test_repeat_count == 1
    for name in [TESTS[i] for i in order if TESTS[i] in spec.tests]:
        if st is not None:
            st["test"] = name
        yield ("test", name)
        for _ in range(spec.test_repeat_count):
            ok = yield from _TEST_FUNCS[name](spec, rng, st if single else None)
            yield ("test_done", name, ok)
