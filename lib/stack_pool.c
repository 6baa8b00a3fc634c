#include "stack_pool.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIN_SHIFT 14 /* 16 KiB */
#define NCLASSES 10  /* up to 8 MiB */
#define TAG_SHIFT NF_PTR_BITS
#define PTR_MASK NF_PTR_MASK

static _Atomic uint64_t free_top[NCLASSES]; /* pointer | tag << 48 */
static atomic_uint mapped;

static int size_class(size_t size, unsigned *cls)
{
	for (unsigned c = 0; c < NCLASSES; c++)
		if (size <= (size_t)1 << (MIN_SHIFT + c)) {
			*cls = c;
			return 0;
		}
	return EINVAL;
}

/* Pop up to n stacks of class cls with one CAS, linked from *first with
 * the last link NULL; returns how many (0: empty). */
static unsigned pop(unsigned cls, unsigned n, nf_stack **first)
{
	uint64_t old = atomic_load_explicit(&free_top[cls], memory_order_acquire);
	for (;;) {
		nf_stack *st = (nf_stack *)(uintptr_t)(old & PTR_MASK);
		if (!st)
			return 0;
		/* The links may be stale if another thread popped these stacks
		 * meanwhile, and may even form a cycle while others pop and push:
		 * k bounds the walk, and the tag then differs so the CAS fails.
		 * The reads themselves are safe: pooled memory is never unmapped. */
		nf_stack *last = st;
		unsigned k = 1;
		nf_stack *link = atomic_load_explicit(&last->next, memory_order_relaxed);
		for (; k < n && link; k++) {
			last = link;
			link = atomic_load_explicit(&last->next, memory_order_relaxed);
		}
		uint64_t next = (uint64_t)(uintptr_t)link | ((old >> TAG_SHIFT) + 1) << TAG_SHIFT;
		if (atomic_compare_exchange_weak_explicit(&free_top[cls], &old, next, memory_order_acquire,
		                                          memory_order_acquire)) {
			atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
			*first = st;
			return k;
		}
	}
}

void stack_put_chain(nf_stack *first, nf_stack *last)
{
	uint64_t old = atomic_load_explicit(&free_top[first->cls], memory_order_relaxed);
	do {
		atomic_store_explicit(&last->next, (nf_stack *)(uintptr_t)(old & PTR_MASK), memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(
	    &free_top[first->cls], &old, (uint64_t)(uintptr_t)first | ((old >> TAG_SHIFT) + 1) << TAG_SHIFT,
	    memory_order_release, memory_order_relaxed));
}

void stack_put(nf_stack *st) { stack_put_chain(st, st); }

unsigned stack_get_batch(size_t size, unsigned n, nf_stack **first)
{
	unsigned cls;
	return n == 0 || size_class(size, &cls) ? 0 : pop(cls, n, first);
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

/* 1 while madvise guard regions work, 0 once the kernel refused them. */
static atomic_int guard_regions = 1;

static int map_stack(unsigned cls, nf_stack **out)
{
	size_t size = (size_t)1 << (MIN_SHIFT + cls), guard = NF_STACK_GUARD;
	/* Preferred: one read-write mapping whose lowest page is a guard region
	 * (MADV_GUARD_INSTALL). The kernel then merges neighbouring stacks into
	 * one VMA, so 100k stacks do not hit vm.max_map_count (65530 by default),
	 * which a PROT_NONE page per stack (two VMAs each) would at ~32k. */
	char *base = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return ENOMEM;
	if (!atomic_load_explicit(&guard_regions, memory_order_relaxed) ||
	    madvise(base, guard, MADV_GUARD_INSTALL)) {
		atomic_store_explicit(&guard_regions, 0, memory_order_relaxed);
		/* Older kernels: a PROT_NONE page. An overflow faults instead of
		 * writing into a neighbour either way. */
		if (mprotect(base, guard, PROT_NONE)) {
			munmap(base, size + guard);
			return ENOMEM; /* splitting the VMA hit vm.max_map_count */
		}
	}
	nf_stack *st = (nf_stack *)(base + guard + size - 64);
	_Static_assert(sizeof(nf_stack) <= 64, "descriptor fits its slot");
	atomic_init(&st->next, NULL);
	st->lo = base + guard;
	st->size = size;
	st->cls = cls;
	st->id = atomic_fetch_add_explicit(&mapped, 1, memory_order_relaxed) + 1;
	*out = st;
	return 0;
}

int stack_get(size_t size, nf_stack **out)
{
	unsigned cls;
	int e = size_class(size, &cls);
	if (e)
		return e;
	if (pop(cls, 1, out))
		return 0;
	return map_stack(cls, out);
}

unsigned stack_mapped(void) { return atomic_load_explicit(&mapped, memory_order_relaxed); }
