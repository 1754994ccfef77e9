"""The splats of M15/M16 in the model of the series (vmapsim.review.splats) and the knobs of the
rfc-v1 bump overlay they rely on."""
import pytest

from vmapsim.designs import make_design
from vmapsim.errors import ParameterError
from vmapsim.review import splats, splats_m16, splats_stack
from vmapsim.vmalloc.vmap_area import PAGE_SIZE


@pytest.mark.parametrize("name, kind", [
    ("pooled-pte", "pte_present"), ("pooled-busy", "busy_insert_overlap"),
    ("live-pte", "pte_present"), ("live-busy", "busy_insert_overlap"),
    ("migrate-pte", "pte_present"), ("window-pte", "pte_present"),
    ("stale-erase", "busy_insert_overlap")])
def test_each_sequence_gives_its_splat_and_its_controls_do_not(name, kind):
    r = splats.run_sequence(name)
    assert r.first_warn == kind
    assert "violation" in r.steps[-1] and r.stepped.verdict == "violation"
    if splats.needs_failure(name):
        # without the fault injection nothing happens
        assert splats.run_sequence(name, inject=False).warns == []
    else:
        # the failure-free routes give the message with no injection at all
        assert splats.run_sequence(name, inject=False).first_warn == kind
    if name != "stale-erase":
        # the bump sequences need the series' whole-chunk erase
        assert splats.run_sequence(name, release="consistent").warns == []


def test_which_sequences_need_a_failure():
    assert {n for n in splats.SEQUENCES if not splats.needs_failure(n)} == {"migrate-pte",
                                                                            "window-pte"}


def test_window_needs_the_refill_between_unlink_and_unmap():
    s = splats.interleavings("window-pte", "series")
    assert (s.total, s.first["pte_present"]) == (7, 1)
    bad = s.example["pte_present"]
    assert bad.index("CPU1 vfree_unlink big1") < bad.index("CPU2 vmalloc c 100") < bad.index(
        "CPU1 vfree_unmap big1")
    assert s.silent >= 1                         # after the unmap: remapped before the flush
    assert splats.interleavings("window-pte", "consistent").first == {"none": 7}


def test_unlinked_area_keeps_its_ptes_until_the_unmap_step():
    r = splats.run_sequence("window-pte")
    unlink = next(st for st in r.steps if st["op"].endswith("find_unlink_vmap_area"))
    assert "PTEs still present" in unlink["objects"]["big1"]
    assert any(row[0] == "unlinked, mapped" for row in unlink["map"])


def test_migration_after_refill_sends_the_request_to_the_new_cpus_pool():
    d = make_design("rfc-v1", possible_cpus=4, check_overlaps=True)
    d.bump.inject_migration(2)
    d.alloc_vmap_area(PAGE_SIZE * 2, cpu=1)      # CPU1 refills, the retry runs on CPU2: no chunk
    assert d.bump.counts["migrated_after_refill"] == 1 and d.bump.cpu_after == 2
    assert d.bump.cur[1] is not None and d.bump.cur[2] is None
    assert d.bump.counts["bump_allocs"] == 0     # served by the tree path (pools are empty)
    with pytest.raises(ParameterError, match="to_cpu"):
        d.bump.inject_migration(9)


def test_the_messages_are_the_ones_of_the_thread():
    pte = splats.run_sequence("pooled-pte").warns[0]["text"]
    assert "vmalloc error: size 409600, failed to map pages" in pte       # M16, 100 pages
    busy = splats.run_sequence("pooled-busy").warns[0]
    assert busy["warn"] == "(*left)->va_end > start"                     # M15
    stale = splats.run_sequence("stale-erase").warns[0]
    assert stale["warn"] == "(*left)->va_end > start"
    assert stale["new"] == (splats.MODULES_VADDR, splats.MODULES_VADDR + 0x2000)
    assert stale["existing"] == (splats.MODULES_VADDR, splats.MODULES_VADDR + 0x401000)


def test_release_counts_what_the_whole_range_erase_exposes():
    r = splats.run_sequence("pooled-pte")
    assert r.counts["releases"] == 1 and r.counts["release_pooled_pages"] == 101
    r = splats.run_sequence("live-pte")
    assert r.counts["release_live_pages"] == 101


def test_interleavings_are_all_orders_and_only_series_release_splats():
    s = splats.interleavings("pooled-busy", "series")
    c = splats.interleavings("pooled-busy", "consistent")
    assert s.total == c.total == 90
    assert s.first["busy_insert_overlap"] > 0 and c.first == {"none": 90}


def test_step_view_renders_text():
    v = splats.step_view("pooled-pte", 99)
    assert v.step == len(v.stepped) - 1
    assert "VIOLATION" in v.text()


def test_unknown_sequence_names_the_choices():
    with pytest.raises(ParameterError, match="sequence"):
        splats.run_sequence("nope")


# ------------------------------------------------------------------ recursion and its fixes
def test_posted_refill_overflows_when_kmalloc_keeps_failing():
    r = splats_stack.recursion(1.0, "persistent", "none", chains=5, stack_levels=9)
    assert r.overflows == 5 and r.max_depth == 9


def test_independent_failures_rarely_go_deep():
    r = splats_stack.recursion(0.5, "independent", "none", chains=200, stack_levels=14, seed=1)
    assert r.overflows == 0 and r.share_reaching(1) < 0.7


@pytest.mark.parametrize("guard, depth", [("nested-tree", 1), ("no-fallback", 0)])
def test_guards_bound_the_nesting_and_every_allocation_still_succeeds(guard, depth):
    r = splats_stack.recursion(1.0, "persistent", guard, chains=20, stack_levels=3)
    assert r.max_depth == depth and r.overflows == 0 and r.failed_allocs == 0
    if guard == "no-fallback":
        assert r.tree_fallbacks == 20            # each refill fails; the tree path serves


def test_default_knobs_keep_the_old_behaviour():
    d = make_design("rfc-v1", possible_cpus=1)
    assert d.bump.release_mode == "consistent" and d.bump.guard == "none"
    assert d.bump.migrate_to == []
    assert not d.check_overlaps and d.splats == []
    with pytest.raises(ParameterError, match="refill_guard"):
        make_design("rfc-v1", refill_guard="percpu")


def test_nested_tree_guard_puts_the_descriptor_in_the_busy_tree():
    d = make_design("rfc-v1", possible_cpus=1, kvzalloc_fail=1.0, refill_guard="nested-tree")
    d.alloc_vmap_area(PAGE_SIZE * 2)
    assert d.bump.counts["guarded_nested_allocs"] == 1
    assert any(e - s == splats_stack.DESC_VMALLOC_SIZE for s, e in d.busy_areas())
    d.validate()


def test_stack_budget_uses_measured_frames():
    b = splats_stack.stack_budget()
    assert b.measured["__vmalloc_node_range_noprof"] > 0
    lo, hi = b.levels
    assert 5 <= lo <= hi <= 40
    assert splats_stack.stack_budget(32768).levels[0] > 2 * lo


# ------------------------------------------------------------------ what the logs say
def test_m16_lines_read_as_the_notebook_says():
    pw = splats_m16.pte_warn()
    assert pw["present"] and pw["nx"] and pw["r13_is_start"]
    assert pw["range_bytes"] == pw["printed_size"] == 409600
    h = splats_m16.history()
    assert h["tainted_w_at_first_shown_warn"] and h["warn_alloc_suppressed"] == 15
    assert (h["kernel"], h["preempt"], h["min_workers"]) == ("7.1.0-rc7+", "PREEMPT(full)", 49)
    assert h["m15_not_tainted"]
    mi = splats_m16.meminfo()
    assert mi.free_pages == 12765547 and mi.anon_file == 0
    assert mi.buddy["Normal"][6] == 775 and mi.buddy["DMA32"][6] == 366
    assert mi.order6_equivalents("DMA32") == 366 + 15 * 2 + 4 + 3 * 8 + 55 * 16
    t = splats_m16.recursion_trace()
    assert (t.refills, t.nested_fallbacks, t.thread_size) == (13, 12, 16384)
    assert t.innermost_in_kmalloc and t.lockdep and t.outer == "long_busy_list_alloc_test"
    # frames are innermost first, in time order
    assert [ts for ts, _ in t.frames] == sorted(ts for ts, _ in t.frames)


def test_refills_per_long_busy_list_call():
    c = splats_m16.refills_per_call()
    assert (c["pages_per_iteration"], c["iterations_per_chunk"]) == (103, 159)
    assert c["refills"] == -(-1_000_000 // 159) + 2


def test_model_chain_has_m16s_shape_at_m16s_depth():
    t = splats_m16.recursion_trace()
    r = splats_stack.recursion(1.0, "persistent", "none", chains=1, stack_levels=t.nested_fallbacks)
    assert (r.counts["refills"], r.counts["kvzalloc_vmalloc_fallback"]) == (t.refills,
                                                                             t.nested_fallbacks)

