/* Differential oracle driver for vmapsim's Python maple tree (not part of the project build).
 * Reads ops from stdin, applies them to the kernel's maple tree (userspace harness), prints results. */
#define main maple_main_unused
#include "maple.c"
#undef main

static struct maple_tree T;

static void dump_node(struct maple_tree *mt, void *enode, unsigned long min, unsigned long max, int depth)
{
	struct maple_node *node = mte_to_node(enode);
	enum maple_type type = mte_node_type(enode);
	unsigned long *pivots = ma_pivots(node, type);
	void __rcu **slots = ma_slots(node, type);
	unsigned long *gaps = ma_gaps(node, type);
	unsigned char end = ma_data_end(node, type, pivots, max);
	int i;
	unsigned long first = min;

	printf("N %d %d %lu %lu %u", depth, type, min, max, end);
	if (type == maple_arange_64)
		printf(" g%u", ma_meta_gap(node));
	for (i = 0; i <= end; i++) {
		unsigned long last = (i < mt_pivots[type]) ? pivots[i] : max;
		void *e = slots[i];
		if (i == end) last = max;
		if (ma_is_leaf(type)) {
			if (!e) printf(" %lu:-", last);
			else if (xa_is_zero(e)) printf(" %lu:Z", last);
			else if (xa_is_value(e)) printf(" %lu:%lu", last, xa_to_value(e));
			else printf(" %lu:P", last);
		} else {
			printf(" %lu", last);
			if (gaps) printf("/%lu", gaps[i]);
		}
	}
	printf("\n");
	if (!ma_is_leaf(type)) {
		for (i = 0; i <= end; i++) {
			unsigned long last = (i < mt_pivots[type]) ? pivots[i] : max;
			if (i == end) last = max;
			dump_node(mt, slots[i], first, last, depth + 1);
			first = last + 1;
		}
	}
}

static int count_nodes(void *enode, unsigned long max)
{
	struct maple_node *node = mte_to_node(enode);
	enum maple_type type = mte_node_type(enode);
	unsigned long *pivots = ma_pivots(node, type);
	unsigned char end = ma_data_end(node, type, pivots, max);
	int i, n = 1;
	if (ma_is_leaf(type))
		return 1;
	for (i = 0; i <= end; i++) {
		unsigned long last = (i < mt_pivots[type] && i < end) ? pivots[i] : max;
		n += count_nodes(ma_slots(node, type)[i], last);
	}
	return n;
}

static void *mkv(unsigned long v) { return v == 0 ? NULL : (v == 1 ? XA_ZERO_ENTRY : xa_mk_value(v - 2)); }

int main(void)
{
	char op[16];
	unsigned long a, b, c, d;
	maple_tree_init();
	rcu_register_thread();
	mt_init_flags(&T, 0);
	while (scanf("%15s", op) == 1) {
		int ret = 0;
		if (!strcmp(op, "T")) { scanf("%lu", &a); mtree_destroy(&T); mt_init_flags(&T, a); continue; }
		if (!strcmp(op, "S")) { scanf("%lu %lu %lu", &a, &b, &c); ret = mtree_store_range(&T, a, b, mkv(c), GFP_KERNEL); }
		else if (!strcmp(op, "I")) { scanf("%lu %lu %lu", &a, &b, &c); ret = mtree_insert_range(&T, a, b, mkv(c), GFP_KERNEL); }
		else if (!strcmp(op, "E")) { void *e; scanf("%lu", &a); e = mtree_erase(&T, a); ret = e ? (xa_is_zero(e) ? 1 : (int)xa_to_value(e) + 2) : 0; }
		else if (!strcmp(op, "A") || !strcmp(op, "R")) { unsigned long st = 0; scanf("%lu %lu %lu %lu", &a, &b, &c, &d);
			if (op[0] == 'A') ret = mtree_alloc_range(&T, &st, mkv(d), c, a, b, GFP_KERNEL);
			else ret = mtree_alloc_rrange(&T, &st, mkv(d), c, a, b, GFP_KERNEL);
			printf("r %d %lu\n", ret, ret ? 0 : st); continue; }
		else if (!strcmp(op, "F") || !strcmp(op, "B")) { MA_STATE(mas, &T, 0, 0); scanf("%lu %lu %lu", &a, &b, &c);
			rcu_read_lock();
			if (op[0] == 'F') ret = mas_empty_area(&mas, a, b, c); else ret = mas_empty_area_rev(&mas, a, b, c);
			rcu_read_unlock();
			printf("r %d %lu\n", ret, ret ? 0 : mas.index); continue; }
		else if (!strcmp(op, "U")) { scanf("%lu", &a); if (a) mt_set_in_rcu(&T); else mt_clear_in_rcu(&T); continue; }
		else if (!strcmp(op, "H")) { void *root = T.ma_root; rcu_barrier();
			printf("h %u %d %d\n", mt_height(&T), xa_is_node(root) ? count_nodes(mte_safe_root(root), ULONG_MAX) : 0, nr_allocated); continue; }
		else if (!strcmp(op, "D")) { void *root = T.ma_root; printf("h %u\n", mt_height(&T));
			if (xa_is_node(root)) dump_node(&T, mte_safe_root(root), 0, ULONG_MAX, 0);
			else if (root) printf("R\n"); else printf("E\n"); printf("end\n"); continue; }
		else if (!strcmp(op, "V")) { mt_validate(&T); continue; }
		else { fprintf(stderr, "bad op %s\n", op); return 2; }
		printf("r %d\n", ret);
	}
	fflush(stdout);
	mtree_destroy(&T);
	rcu_barrier();
	return 0;
}
