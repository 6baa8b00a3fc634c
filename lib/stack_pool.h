/* Pooled stacks for spawn children and coroutines (parent side only).
 *
 * A stack is one mapping: a guard region of NF_STACK_GUARD bytes at the low
 * end (MADV_GUARD_INSTALL, or PROT_NONE on kernels before 6.13), then `size`
 * usable bytes, committed lazily by the kernel as they are touched. The
 * descriptor lives in the top bytes of the usable area, so a stack costs no
 * allocation besides its mapping. Stacks are never unmapped while the process
 * runs: the free list is a lock-free LIFO whose ABA tag makes a stale pop fail,
 * and reading a stale `next` is harmless because the memory stays mapped. Once
 * warm, get/put are one compare-and-swap each: no syscall, no lock, no malloc.
 */
#ifndef NF_STACK_POOL_H
#define NF_STACK_POOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nf_stack {
	/* Free-list link, valid only while pooled. Atomic (relaxed) because a
	 * pop may read it while another thread, having popped the same stack
	 * and pushed it back, writes it: harmless for the algorithm (the tag
	 * makes that pop's CAS fail) but a data race, i.e. undefined, for a
	 * plain field. */
	_Atomic(struct nf_stack *) next;
	void *lo;              /* lowest usable byte (just above the guard) */
	size_t size;           /* usable bytes, descriptor included */
	unsigned cls;          /* size class index */
	unsigned id;           /* serial number, for diagnostics */
} nf_stack;

/* User-space pointers fit in the low 48 bits (x86_64, aarch64 with 4-level
 * page tables): the free list and the poller's epoll data put a tag or a
 * generation in the 16 above. */
#define NF_PTR_BITS 48
#define NF_PTR_MASK ((UINT64_C(1) << NF_PTR_BITS) - 1)

/* Usable top of a stack: the first byte above the area a user may use (the
 * descriptor sits here). 64-byte aligned. */
static inline char *stack_top(const nf_stack *st) { return (char *)st; }

/* Get a stack of at least `size` usable bytes (rounded up to a power-of-two
 * class from 16 KiB to 8 MiB). ENOMEM when no mapping can be had (e.g.
 * vm.max_map_count reached); EINVAL for a size above the largest class. */
int stack_get(size_t size, nf_stack **out);

/* Return a stack to its pool. Nothing may run on it any more. */
void stack_put(nf_stack *st);

/* Batches for per-thread caches, one compare-and-swap each. get_batch pops
 * up to n pooled stacks of size's class, linked through ->next from *first
 * (the last link NULL); returns how many, 0 when that pool is empty (it maps
 * nothing). put_chain pushes such a list, first..last, of one class. */
unsigned stack_get_batch(size_t size, unsigned n, nf_stack **first);
void stack_put_chain(nf_stack *first, nf_stack *last);

/* The guard is larger than a page because gcc (without
 * -fstack-clash-protection, Debian's default) lets a frame over 4 KiB skip a
 * single guard page and land in the neighbouring stack. It costs address
 * space only.
 *
 * Why 68 KiB and not 64: the kernel places consecutive stacks next to each
 * other, so the guard fixes their stride. With a 64 KiB guard every stride
 * (guard + a power-of-two size) is a multiple of 32 pages, and the second
 * level TLB, indexed by the low bits of the page number, put every stack top
 * into the same few sets, and 1000 live coroutines missed the dTLB on nearly
 * every create+join. One more page makes every stride an odd number of pages,
 * which spreads the tops over all sets (measured: bench/RESULTS.md, "Numbers
 * behind design choices in the code"). */
#define NF_STACK_GUARD (68 * 1024)

/* Default size of spawn-child and coroutine stacks. */
#define NF_STACK_DEFAULT (64 * 1024)

/* How many stacks were ever mapped (for tests and benchmarks). */
unsigned stack_mapped(void);

#endif
