"""The event core's ready queue and mutex, on scripted step lists (no design work): CPUs waiting at
the same time run first come first served, and a mutex waiter sleeps until the unlock, then
pays the wake-up.  Times are computed by hand from the machine profile."""
import pytest

from vmapsim.designs import make_design
from vmapsim.perf.costs import make_costs, make_machine
from vmapsim.perf.pricing import ATOMIC, MUTEX, UNLOCK, WORK
from vmapsim.perf.sim import MUTEX_WAKE_NS, Simulation
from vmapsim.perf.worker import END_STEPS
from vmapsim.perf.workloads import make_spec


def scripted(ncpu, build):
    """A Simulation whose CPU c runs the step lists ``build(sim)[c]`` one after the other
    (``build`` gets the simulation so that it can intern lock names)."""
    m, c = make_machine("threadripper-3970x"), make_costs()
    d = make_design("linux-6.18", possible_cpus=ncpu, online_cpus=ncpu)
    sim = Simulation(d, make_spec("fix_size_alloc_test", 1), ncpu, m, c, online_cpus=ncpu)
    todo = [list(s) for s in build(sim)]
    sim._grow()
    done_at = {}

    def next_op(cpu, t):                # WorkerOps._next's protocol: the steps, None at the end
        if not todo[cpu]:
            done_at[cpu] = t
            sim._worker_done(cpu, t)
            return None
        sim.steps[cpu] = steps = list(todo[cpu].pop(0)) + [END_STEPS]
        sim.pos[cpu] = 0
        return steps

    sim._next = next_op
    return sim, done_at


def test_cpus_waiting_at_the_same_time_run_in_arrival_order():
    # three CPUs hit one atomic line at t=0: served 0, 1, 2, each after the previous RMW
    line = []
    sim, done = scripted(3, lambda s: line.append(s.pricer.lock_id("test_line"))
                         or [[[(ATOMIC, line[0])]]] * 3)
    st = sim.run()
    rmw, local = sim.rmw, sim.machine.rmw_ns[0]
    t0 = local                                      # CPU 0: uncontended, first touch
    t1 = t0 + rmw[0][1]                             # CPU 1 waits for CPU 0, line moves 0 -> 1
    t2 = t1 + rmw[1][2]                             # CPU 2 waits for CPU 1
    assert [done[c] for c in range(3)] == pytest.approx([t0, t1, t2])
    assert st.lock_contended[line[0]] == 2
    assert st.lock_wait_ns[line[0]] == pytest.approx(t0 + t1)


def test_mutex_waiter_sleeps_until_unlock_and_pays_the_wake_up():
    hold, early, tail = 5000.0, 100.0, 10.0
    mid = []

    def build(s):
        mid.append(s.pricer.lock_id("test_mutex"))
        m = mid[0]
        return [[[(MUTEX, m), (WORK, hold), (UNLOCK, m)]],
                [[(WORK, early), (MUTEX, m), (WORK, tail), (UNLOCK, m)]]]

    sim, done = scripted(2, build)
    st = sim.run()
    s = sim.work_scale[0]                           # 1.0: two CPUs share no core (no SMT)
    assert sim.work_scale == [1.0, 1.0]
    t_unlock = sim.pricer.lock_ns + hold * s        # CPU 0 takes it at 0, holds, unlocks
    wake = t_unlock + MUTEX_WAKE_NS                 # CPU 1 asked at early * s and slept
    m = mid[0]
    assert st.lock_acq[m] == 2 and st.lock_contended[m] == 1
    assert st.lock_wait_ns[m] == pytest.approx(wake - early * s)
    assert done[0] == pytest.approx(t_unlock)
    # CPU 1 runs on from the wake-up, the mutex already handed to it (no second lock cost)
    assert done[1] == pytest.approx(wake + tail * s)
