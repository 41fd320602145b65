/*
 * kshim linux/genalloc.h - the gen_pool API over the harness's gen_pool
 * (include/dmacheck.h, imports gen_pool_*), so the harness sees the atomic
 * pools kernel/dma/pool.c builds: their pages are pool memory, not a leak,
 * and an allocation from them is from an atomic pool. Written for dmacheck;
 * lib/genalloc.c is not compiled. Only what kernel/dma/pool.c (6.1) calls.
 */
#ifndef KSHIM_LINUX_GENALLOC_H
#define KSHIM_LINUX_GENALLOC_H

#include <linux/types.h>
#include <kshim/abi.h>

struct gen_pool {
	s32 id; /* the harness's pool */
};

typedef unsigned long (*genpool_algo_t)(unsigned long *map, unsigned long size, unsigned long start,
					 unsigned int nr, void *data, struct gen_pool *pool, unsigned long start_addr);

unsigned long gen_pool_first_fit(unsigned long *map, unsigned long size, unsigned long start, unsigned int nr,
				 void *data, struct gen_pool *pool, unsigned long start_addr);
unsigned long gen_pool_first_fit_order_align(unsigned long *map, unsigned long size, unsigned long start,
					     unsigned int nr, void *data, struct gen_pool *pool,
					     unsigned long start_addr);

struct gen_pool *gen_pool_create(int min_alloc_order, int nid);
void gen_pool_destroy(struct gen_pool *pool);
void gen_pool_set_algo(struct gen_pool *pool, genpool_algo_t algo, void *data);

static inline int gen_pool_add_virt(struct gen_pool *pool, unsigned long addr, phys_addr_t phys, size_t size, int nid)
{
	(void)nid;
	return dmacheck_gen_pool_add_virt(pool->id, addr, phys, size);
}

static inline unsigned long gen_pool_alloc(struct gen_pool *pool, size_t size)
{
	return (unsigned long)dmacheck_gen_pool_alloc(pool->id, size);
}

static inline void gen_pool_free(struct gen_pool *pool, unsigned long addr, size_t size)
{
	dmacheck_gen_pool_free(pool->id, addr, size);
}

static inline phys_addr_t gen_pool_virt_to_phys(struct gen_pool *pool, unsigned long addr)
{
	return (phys_addr_t)dmacheck_gen_pool_virt_to_phys(pool->id, addr);
}

static inline bool gen_pool_has_addr(struct gen_pool *pool, unsigned long start, size_t size)
{
	return dmacheck_gen_pool_has_addr(pool->id, start, size) != 0;
}

static inline size_t gen_pool_size(struct gen_pool *pool)
{
	return (size_t)dmacheck_gen_pool_size(pool->id);
}

static inline size_t gen_pool_avail(struct gen_pool *pool)
{
	return (size_t)dmacheck_gen_pool_avail(pool->id);
}

#endif
