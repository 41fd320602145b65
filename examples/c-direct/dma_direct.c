/*
 * c-direct: an independent DMA layer written in C against include/dmacheck.h
 * only, compiled to wasm32 and checked by dmacheck like any backend:
 *
 *   npm run build:c
 *   npx dmacheck run --backend build/c-direct.wasm
 *
 * It is what a hypervisor or firmware engineer would write for a small
 * direct-mapped DMA layer, not a copy of the kernel's:
 *
 * - address translation: a device sees physical memory through up to four
 *   dma-ranges windows (identity when it has none); it reaches a DMA
 *   address when the address is in a window and under both its mask and
 *   the interconnect's limit;
 * - coherent buffers: whole pages from the zone the coherent mask needs
 *   (retrying lower zones), zeroed; for a non-coherent device the pages are
 *   cleaned out of the cache and mapped write-combined through vmap; on an
 *   encrypted guest they are shared with the host first. Allocations that
 *   may not sleep come from a small pool prepared at attach time, already
 *   remapped or shared, since vmap and set_memory_decrypted sleep;
 * - streaming maps: in place when the device reaches the buffer, otherwise
 *   (and always on an encrypted guest, and for a buffer a non-coherent
 *   device may write that is not aligned to ARCH_DMA_MINALIGN, which could
 *   share a cache line with other data) through a bounce block that keeps
 *   the buffer's offset in its page, so min_align_mask bits survive;
 * - cache maintenance for non-coherent devices: clean before the device
 *   reads or writes, invalidate before the CPU reads what it wrote;
 * - non-coherent allocations (dma_alloc_pages, dma_alloc_noncoherent):
 *   reachable cacheable pages, never remapped, moved between CPU and device
 *   with the single syncs; device MMIO (dma_map_resource) at its physical
 *   address, with no cache maintenance and no bounce; the addressing
 *   queries answered from the same reachability test as the maps.
 *
 * Fixed-size tables stand in for a heap: when one is full the call fails
 * the way the DMA API allows (NULL, DMA_MAPPING_ERROR).
 *
 * Bugs for the test to find, each behind a macro: BUG_NO_COPY_BACK (unmap
 * of a bounced FROM_DEVICE buffer does not copy back), BUG_NO_INVALIDATE
 * (sync for the CPU does not invalidate), BUG_BOUNCE_SHORT (the bounce copy
 * at map time is one byte short), BUG_NO_ZERO (coherent buffers are not
 * zeroed), BUG_NOT_LIMITED (dma_addressing_limited says no for a device
 * that cannot reach all RAM).
 */
#include "dmacheck.h"

#define MAX_DEVICES 16
#define MAX_ALLOCS 2048
#define MAX_BOUNCES 4096
#define POOL_PAGES 128
#define BOUNCE_POOL_PAGES 512
#define CC_MAX_MAPPING (256ULL * 1024)

#define U64_MAX (~0ULL)
#define GFP_ZONEMASK (__GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32)

struct device {
	int attached;
	struct dmacheck_dev_info info;
	u32 mask_bits;
	u32 coherent_mask_bits;
};

/* A coherent allocation. */
struct alloc {
	u64 cpu_addr; /* 0: free slot */
	u64 pfn;
	u32 order;    /* pages from alloc_pages */
	u32 npages;   /* pages from a pool (order unused) */
	u8 from_pool; /* 1: atomic_pool, 2: atomic_pool_low */
	u8 vmapped;
	u8 decrypted;
	u8 noncoherent; /* dma_alloc_pages / dma_alloc_noncoherent memory: cacheable, owned like a streaming mapping */
};

/* A live bounce block. */
struct bounce {
	u64 dma;        /* DMA address handed out (0 with used=0: free) */
	u64 size;       /* bytes mapped */
	u64 orig_phys;  /* the driver's buffer */
	u64 bounce_phys;
	u64 block_pfn;
	u32 order;
	u32 npages;
	u8 used;
	u8 from_pool;
};

/* A run of pages carved page by page (first fit). */
struct page_pool {
	u64 pfn;
	u64 kva; /* where the CPU reaches page 0 */
	u32 npages;
	u8 busy[BOUNCE_POOL_PAGES];
};

static struct dmacheck_platform_info plat;
static int plat_ready;
static struct device devs[MAX_DEVICES];
static struct alloc allocs[MAX_ALLOCS];
static struct bounce bounces[MAX_BOUNCES];
/* Remapped or shared pages for allocations that may not sleep: one in the lowest zone, one above it (as kernel/dma/pool.c keeps). */
static struct page_pool atomic_pool;
static struct page_pool atomic_pool_low;
static struct page_pool bounce_pool; /* shared pages for bounces on an encrypted guest */
static u64 pfn_list[1024];
static u8 scratch[160 * 1024] __attribute__((aligned(16)));

static const char caps[] =
	"{\"name\":\"c-direct\",\"calls\":[\"attachDevice\",\"setMask\",\"setCoherentMask\",\"setMaskAndCoherent\","
	"\"allocAttrs\",\"freeAttrs\",\"mmapAttrs\",\"getSgtableAttrs\",\"mapPage\",\"unmapPage\",\"mapSingle\","
	"\"unmapSingle\",\"mapSg\",\"unmapSg\",\"syncSingleForCpu\",\"syncSingleForDevice\",\"syncSgForCpu\","
	"\"syncSgForDevice\",\"mappingError\",\"maxMappingSize\",\"getCacheAlignment\",\"needSync\",\"canMmap\","
	"\"allocPages\",\"freePages\",\"mmapPages\",\"allocNoncoherent\",\"freeNoncoherent\",\"mapResource\",\"unmapResource\","
	"\"getRequiredMask\",\"addressingLimited\",\"optMappingSize\",\"needUnmap\",\"getMergeBoundary\"],"
	"\"attrs\":0,\"profiles\":[\"x86-64\",\"arm64-soc\",\"cc-guest\",\"armv7-highmem\"],\"levels\":[\"contract\"]}";

DMACHECK_EXPORT(dmacheck_abi_version) u32 abi_version(void) { return DMACHECK_ABI_VERSION; }
DMACHECK_EXPORT(dmacheck_capabilities) const char *capabilities(void) { return caps; }
DMACHECK_EXPORT(dmacheck_scratch) void *get_scratch(u32 bytes)
{
	if (bytes > sizeof(scratch))
		__builtin_trap();
	return scratch;
}

static void log_str(u32 level, const char *s)
{
	u32 n = 0;
	while (s[n])
		n++;
	dmacheck_printk(level, s, n);
}

static u64 mask_of(u32 bits) { return bits >= 64 ? U64_MAX : (1ULL << bits) - 1; }
static u64 min64(u64 a, u64 b) { return a < b ? a : b; }
static u32 get_order(u64 bytes)
{
	u32 order = 0;
	while ((PAGE_SIZE << order) < bytes)
		order++;
	return order;
}
static u64 page_align(u64 bytes) { return (bytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1); }

static struct device *dev_of(u32 dev)
{
	return dev < MAX_DEVICES && devs[dev].attached ? &devs[dev] : 0;
}

/* ---- address translation ---- */

static u64 phys_to_dma(const struct device *d, u64 phys)
{
	if (d->info.nranges == 0)
		return phys;
	for (u32 i = 0; i < d->info.nranges && i < 4; i++) {
		const struct dmacheck_range *r = &d->info.ranges[i];
		if (phys >= r->cpu_start && phys - r->cpu_start < r->size)
			return phys - r->cpu_start + r->dma_start;
	}
	return DMA_MAPPING_ERROR;
}

static u64 dma_to_phys(const struct device *d, u64 dma)
{
	if (d->info.nranges == 0)
		return dma;
	for (u32 i = 0; i < d->info.nranges && i < 4; i++) {
		const struct dmacheck_range *r = &d->info.ranges[i];
		if (dma >= r->dma_start && dma - r->dma_start < r->size)
			return dma - r->dma_start + r->cpu_start;
	}
	return U64_MAX;
}

/* Highest DMA address the device reaches with a mask of `bits`. */
static u64 dma_limit(const struct device *d, u32 bits)
{
	u64 limit = mask_of(bits);
	return d->info.bus_dma_limit ? min64(limit, d->info.bus_dma_limit) : limit;
}

/* Does the device reach every byte of [phys, phys+size) with a mask of `bits`? */
static int reaches(const struct device *d, u64 phys, u64 size, u32 bits)
{
	u64 first = phys_to_dma(d, phys);
	u64 last = phys_to_dma(d, phys + size - 1);
	if (first == DMA_MAPPING_ERROR || last == DMA_MAPPING_ERROR || last - first != size - 1)
		return 0;
	return last <= dma_limit(d, bits);
}

/* The zone modifier to try first for a device whose highest reachable physical address is `phys_limit`. */
static u32 zone_for(u64 phys_limit)
{
	if (plat.zone_dma_end && phys_limit < plat.zone_dma_end)
		return __GFP_DMA;
	if (plat.zone_dma32 && phys_limit <= 0xffffffffULL)
		return __GFP_DMA32;
	return 0;
}

/* The highest physical address the device reaches (through its windows). */
static u64 phys_limit(const struct device *d, u32 bits)
{
	u64 limit = dma_limit(d, bits);
	if (d->info.nranges == 0)
		return limit;
	u64 best = 0;
	for (u32 i = 0; i < d->info.nranges && i < 4; i++) {
		const struct dmacheck_range *r = &d->info.ranges[i];
		if (r->dma_start > limit)
			continue;
		u64 top = min64(r->dma_start + r->size - 1, limit);
		u64 phys = top - r->dma_start + r->cpu_start;
		if (phys > best)
			best = phys;
	}
	return best;
}

/* ---- CPU access to physical memory ---- */

/* Run `fn` over [phys, phys+len) a page at a time with a kernel address for each piece. */
static u64 kva_begin(u64 pfn, int *kmapped)
{
	u64 kva = dmacheck_page_address(pfn);
	*kmapped = 0;
	if (kva == 0) {
		kva = dmacheck_kmap_local(pfn);
		*kmapped = 1;
	}
	return kva;
}

static void copy_phys(u64 dst, u64 src, u64 len)
{
	while (len > 0) {
		u64 dst_off = dst & (PAGE_SIZE - 1), src_off = src & (PAGE_SIZE - 1);
		u64 chunk = min64(len, min64(PAGE_SIZE - dst_off, PAGE_SIZE - src_off));
		int dk, sk;
		u64 d = kva_begin(dst >> PAGE_SHIFT, &dk);
		u64 s = kva_begin(src >> PAGE_SHIFT, &sk);
		dmacheck_cpu_memcpy(d + dst_off, s + src_off, chunk);
		if (sk)
			dmacheck_kunmap_local(s);
		if (dk)
			dmacheck_kunmap_local(d);
		dst += chunk;
		src += chunk;
		len -= chunk;
	}
}

/* ---- cache maintenance (non-coherent devices) ---- */

static void sync_for_device(const struct device *d, u64 phys, u64 size, u32 dir)
{
	(void)dir;
	/* Clean in every direction: a dirty line written back later would land on what the device wrote. */
	if (!d->info.coherent)
		dmacheck_cache_clean(phys, size);
}

static void sync_for_cpu(const struct device *d, u64 phys, u64 size, u32 dir)
{
#ifndef BUG_NO_INVALIDATE
	if (!d->info.coherent && dir != DMA_TO_DEVICE)
		dmacheck_cache_invalidate(phys, size);
#else
	(void)d, (void)phys, (void)size, (void)dir;
#endif
}

/* ---- page pools ---- */

static int pool_init(struct page_pool *p, u32 npages, u32 gfp, int remap, int share)
{
	u32 order = get_order((u64)npages * PAGE_SIZE);
	s64 pfn = dmacheck_alloc_pages(gfp | __GFP_NOWARN, order);
	if (pfn < 0)
		return -ENOMEM;
	u64 kva = dmacheck_page_address((u64)pfn);
	if (kva == 0 || (share && dmacheck_set_memory_decrypted(kva, npages) != 0)) {
		dmacheck_free_pages((u64)pfn, order);
		return -ENOMEM;
	}
	if (remap) {
		dmacheck_cache_clean_invalidate((u64)pfn << PAGE_SHIFT, (u64)npages * PAGE_SIZE);
		for (u32 i = 0; i < npages; i++)
			pfn_list[i] = (u64)pfn + i;
		kva = dmacheck_vmap(pfn_list, npages, DMACHECK_PROT_WRITE_COMBINE);
		if (kva == 0) {
			dmacheck_free_pages((u64)pfn, order);
			return -ENOMEM;
		}
	}
	p->pfn = (u64)pfn;
	p->kva = kva;
	p->npages = npages;
	return 0;
}

/*
 * First fit of `n` pages starting on a multiple of `align` pages (the pool
 * itself starts on such a multiple) and not crossing a multiple of
 * `boundary` pages (0: no boundary); the index of the first, or -1.
 */
static s32 pool_take(struct page_pool *p, u32 n, u32 align, u64 boundary)
{
	for (u32 i = 0; i + n <= p->npages; i += align) {
		if (boundary && (p->pfn + i) / boundary != (p->pfn + i + n - 1) / boundary)
			continue;
		u32 j = 0;
		while (j < n && !p->busy[i + j])
			j++;
		if (j == n) {
			for (j = 0; j < n; j++)
				p->busy[i + j] = 1;
			return (s32)i;
		}
	}
	return -1;
}

static void pool_give(struct page_pool *p, u64 pfn, u32 n)
{
	for (u32 j = 0; j < n; j++)
		p->busy[pfn - p->pfn + j] = 0;
}

/* ---- devices and masks ---- */

DMACHECK_EXPORT(dma_attach) s32 attach(u32 dev)
{
	if (!plat_ready) {
		dmacheck_platform_info(&plat);
		plat_ready = 1;
		u32 low = plat.zone_dma_end ? __GFP_DMA : plat.zone_dma32 ? __GFP_DMA32 : 0;
		if (plat.arch != 0 && pool_init(&atomic_pool, POOL_PAGES, GFP_KERNEL | low, 1, 0) != 0)
			log_str(1, "c-direct: no atomic pool: atomic allocations for non-coherent devices will fail");
		if (plat.mem_encrypt) {
			if (pool_init(&atomic_pool, POOL_PAGES, GFP_KERNEL | __GFP_DMA32, 0, 1) != 0)
				log_str(1, "c-direct: no atomic pool");
			if (plat.zone_dma_end && pool_init(&atomic_pool_low, POOL_PAGES / 4, GFP_KERNEL | __GFP_DMA, 0, 1) != 0)
				log_str(1, "c-direct: no ZONE_DMA atomic pool");
			if (pool_init(&bounce_pool, BOUNCE_POOL_PAGES, GFP_KERNEL | __GFP_DMA32, 0, 1) != 0)
				log_str(0, "c-direct: no bounce pool: streaming DMA will fail");
		}
	}
	if (dev >= MAX_DEVICES || dev >= plat.ndevices)
		return -ENODEV;
	struct device *d = &devs[dev];
	dmacheck_dev_info(dev, &d->info);
	/* Per-device pools (restricted-dma-pool, shared-dma-pool carveouts) are not supported: leave the device alone. */
	if (d->info.restricted_pool_size || d->info.coherent_pool_size)
		return -ENODEV;
	d->mask_bits = 32;
	d->coherent_mask_bits = 32;
	d->attached = 1;
	return 0;
}

/*
 * Can the device work with a mask of `bits` at all: does it reach the
 * lowest RAM (through its lowest window)? Otherwise every allocation and
 * every bounce would fail, so the mask is refused as dma_set_mask does.
 */
static s32 check_bits(const struct device *d, u32 bits)
{
	if (bits < 12 || bits > 64)
		return -EIO;
	u64 lowest = plat.ram_start;
	if (d->info.nranges) {
		lowest = U64_MAX;
		for (u32 i = 0; i < d->info.nranges && i < 4; i++)
			lowest = min64(lowest, d->info.ranges[i].dma_start);
	}
	return lowest <= mask_of(bits) ? 0 : -EIO;
}

DMACHECK_EXPORT(dma_set_mask) s32 set_mask(u32 dev, u32 bits)
{
	struct device *d = dev_of(dev);
	if (!d)
		return -ENODEV;
	if (check_bits(d, bits))
		return -EIO;
	d->mask_bits = bits;
	return 0;
}

DMACHECK_EXPORT(dma_set_coherent_mask) s32 set_coherent_mask(u32 dev, u32 bits)
{
	struct device *d = dev_of(dev);
	if (!d)
		return -ENODEV;
	if (check_bits(d, bits))
		return -EIO;
	d->coherent_mask_bits = bits;
	return 0;
}

DMACHECK_EXPORT(dma_set_mask_and_coherent) s32 set_mask_and_coherent(u32 dev, u32 bits)
{
	s32 r = set_mask(dev, bits);
	return r ? r : set_coherent_mask(dev, bits);
}

/* ---- coherent allocations ---- */

static struct alloc *alloc_slot(void)
{
	for (u32 i = 0; i < MAX_ALLOCS; i++)
		if (allocs[i].cpu_addr == 0)
			return &allocs[i];
	return 0;
}

static struct alloc *alloc_find(u64 cpu_addr)
{
	for (u32 i = 0; i < MAX_ALLOCS; i++)
		if (cpu_addr != 0 && allocs[i].cpu_addr == cpu_addr)
			return &allocs[i];
	return 0;
}

static void zero(u64 kva, u64 bytes)
{
#ifndef BUG_NO_ZERO
	dmacheck_cpu_memset(kva, 0, bytes);
#else
	(void)kva, (void)bytes;
#endif
}

/*
 * 2^order pages the device reaches whole with its coherent mask: the zone
 * its limit suggests first, then each lower zone. May sleep when gfp
 * allows reclaim. A pfn, or -1.
 */
static s64 reachable_pages(const struct device *d, u64 size, u32 gfp, u32 order)
{
	if (gfp & __GFP_DIRECT_RECLAIM)
		dmacheck_might_sleep();
	u32 zone = zone_for(phys_limit(d, d->coherent_mask_bits));
	for (;;) {
		s64 pfn = dmacheck_alloc_pages((gfp & ~GFP_ZONEMASK & ~__GFP_ZERO) | zone, order);
		if (pfn >= 0 && reaches(d, (u64)pfn << PAGE_SHIFT, size, d->coherent_mask_bits))
			return pfn;
		if (pfn >= 0)
			dmacheck_free_pages((u64)pfn, order);
		/* Out of reach: retry in a lower zone while there is one. */
		if (zone == 0 && plat.zone_dma32)
			zone = __GFP_DMA32;
		else if (zone != __GFP_DMA && plat.zone_dma_end)
			zone = __GFP_DMA;
		else
			return -1;
	}
}

DMACHECK_EXPORT(dma_alloc_attrs) u64 alloc_attrs(u32 dev, u64 size, u64 *dma_handle, u32 gfp, u32 attrs)
{
	(void)attrs;
	struct device *d = dev_of(dev);
	*dma_handle = DMA_MAPPING_ERROR;
	if (!d || size == 0 || size > (PAGE_SIZE << 10))
		return 0;
	struct alloc *a = alloc_slot();
	if (!a)
		return 0;
	u32 npages = (u32)(page_align(size) >> PAGE_SHIFT);
	int remap = !d->info.coherent;
	int share = plat.mem_encrypt != 0;
	if ((remap || share) && !(gfp & __GFP_DIRECT_RECLAIM)) {
		/* vmap and set_memory_decrypted sleep: take prepared pages, from the first pool the device reaches. */
		struct page_pool *pools[2] = { &atomic_pool, &atomic_pool_low };
		for (u32 k = 0; k < 2; k++) {
			struct page_pool *p = pools[k];
			if (p->npages == 0 || !reaches(d, p->pfn << PAGE_SHIFT, size, d->coherent_mask_bits))
				continue;
			/* The DMA API promises alignment to the allocation's page order (Documentation/core-api/dma-api.rst). */
			s32 i = pool_take(p, npages, 1U << get_order(size), 0);
			if (i < 0)
				continue;
			u64 pfn = p->pfn + (u32)i;
			if (!reaches(d, pfn << PAGE_SHIFT, size, d->coherent_mask_bits)) {
				pool_give(p, pfn, npages);
				continue;
			}
			u64 kva = p->kva + (u64)i * PAGE_SIZE;
			zero(kva, (u64)npages * PAGE_SIZE);
			*a = (struct alloc){ .cpu_addr = kva, .pfn = pfn, .npages = npages, .from_pool = (u8)(k + 1) };
			*dma_handle = phys_to_dma(d, pfn << PAGE_SHIFT);
			return kva;
		}
		return 0;
	}
	u32 order = get_order(size);
	s64 pfn = reachable_pages(d, size, gfp, order);
	if (pfn < 0)
		return 0;
	u64 phys = (u64)pfn << PAGE_SHIFT;
	u64 kva = dmacheck_page_address((u64)pfn);
	if (kva == 0) {
		dmacheck_free_pages((u64)pfn, order);
		return 0;
	}
	if (share && dmacheck_set_memory_decrypted(kva, PAGE_SIZE << order >> PAGE_SHIFT) != 0) {
		/* Pages in an unknown state are leaked rather than reused. */
		return 0;
	}
	zero(kva, page_align(size));
	*a = (struct alloc){ .pfn = (u64)pfn, .order = order, .decrypted = (u8)share };
	if (remap) {
		/* Write the zeroes back and drop the lines: the buffer is used through an uncached alias from now on. */
		dmacheck_cache_clean_invalidate(phys, page_align(size));
		for (u32 i = 0; i < npages; i++)
			pfn_list[i] = (u64)pfn + i;
		kva = dmacheck_vmap(pfn_list, npages, DMACHECK_PROT_WRITE_COMBINE);
		if (kva == 0) {
			dmacheck_free_pages((u64)pfn, order);
			return 0;
		}
		a->vmapped = 1;
	}
	a->cpu_addr = kva;
	*dma_handle = phys_to_dma(d, phys);
	return kva;
}

DMACHECK_EXPORT(dma_free_attrs) void free_attrs(u32 dev, u64 size, u64 cpu_addr, u64 dma_handle, u32 attrs)
{
	(void)dev, (void)size, (void)dma_handle, (void)attrs;
	struct alloc *a = alloc_find(cpu_addr);
	if (!a)
		return;
	if (a->from_pool) {
		pool_give(a->from_pool == 1 ? &atomic_pool : &atomic_pool_low, a->pfn, a->npages);
	} else {
		if (a->vmapped)
			dmacheck_vunmap(a->cpu_addr);
		if (a->decrypted && dmacheck_set_memory_encrypted(dmacheck_page_address(a->pfn), PAGE_SIZE << a->order >> PAGE_SHIFT) != 0) {
			a->cpu_addr = 0; /* leak pages the host may still see */
			return;
		}
		dmacheck_free_pages(a->pfn, a->order);
	}
	a->cpu_addr = 0;
}

DMACHECK_EXPORT(dma_mmap_attrs) s32 mmap_attrs(u32 dev, u32 vma, u64 cpu_addr, u64 dma_handle, u64 size, u32 attrs)
{
	(void)dma_handle, (void)attrs;
	struct device *d = dev_of(dev);
	struct alloc *a = alloc_find(cpu_addr);
	if (!d || !a)
		return -ENXIO;
	u32 count = (u32)(page_align(size) >> PAGE_SHIFT);
	u32 pgoff = dmacheck_vma_pgoff(vma), n = dmacheck_vma_pages(vma);
	if (pgoff >= count || n > count - pgoff)
		return -ENXIO;
	return dmacheck_remap_pfn_range(vma, 0, a->pfn + pgoff, n, d->info.coherent ? DMACHECK_PROT_CACHEABLE : DMACHECK_PROT_WRITE_COMBINE);
}

DMACHECK_EXPORT(dma_get_sgtable_attrs) s32 get_sgtable_attrs(u32 dev, struct dmacheck_sg *sgl, u32 max_ents, u64 cpu_addr, u64 dma_handle, u64 size, u32 attrs)
{
	(void)dev, (void)dma_handle, (void)attrs;
	struct alloc *a = alloc_find(cpu_addr);
	if (!a)
		return -ENXIO;
	if (max_ents < 1)
		return -ENOMEM;
	sgl[0] = (struct dmacheck_sg){ .page = a->pfn, .offset = 0, .length = (u32)page_align(size) };
	return 1;
}

/* ---- streaming mappings ---- */

static struct bounce *bounce_find(u64 dma, u64 size)
{
	for (u32 i = 0; i < MAX_BOUNCES; i++) {
		struct bounce *b = &bounces[i];
		if (b->used && dma >= b->dma && dma - b->dma < b->size && size <= b->size - (dma - b->dma))
			return b;
	}
	return 0;
}

/* The device's segment boundary in pages (0: none below 4 GiB pages). */
static u64 boundary_pages(const struct device *d)
{
	u64 mask = d->info.segment_boundary_mask;
	return mask >= (1ULL << 44) - 1 ? 0 : (mask + 1) >> PAGE_SHIFT;
}

/* Does [dma, dma+size) stay within one segment (dma_get_seg_boundary)? */
static int within_segment(const struct device *d, u64 dma, u64 size)
{
	u64 mask = d->info.segment_boundary_mask;
	return (dma & ~mask) == ((dma + size - 1) & ~mask);
}

/* Bounce [phys, phys+size) into a block the device reaches; the DMA address or DMA_MAPPING_ERROR. */
static u64 bounce_map(struct device *d, u64 phys, u64 size)
{
	struct bounce *b = 0;
	for (u32 i = 0; i < MAX_BOUNCES && !b; i++)
		if (!bounces[i].used)
			b = &bounces[i];
	if (!b)
		return DMA_MAPPING_ERROR;
	/* Keep the offset in the page (and so every min_align_mask bit up to 4 KiB). */
	u64 offset = phys & (PAGE_SIZE - 1);
	u32 npages = (u32)(page_align(offset + size) >> PAGE_SHIFT);
	u64 block;
	u32 order = 0;
	int from_pool = 0;
	if (plat.mem_encrypt) {
		if (size > CC_MAX_MAPPING)
			return DMA_MAPPING_ERROR;
		s32 i = pool_take(&bounce_pool, npages, 1, boundary_pages(d));
		if (i < 0)
			return DMA_MAPPING_ERROR;
		block = bounce_pool.pfn + (u32)i;
		from_pool = 1;
	} else {
		order = get_order(offset + size);
		if (order > 10)
			return DMA_MAPPING_ERROR;
		/* Maps may be made in atomic context: take the block without sleeping. */
		s64 pfn = dmacheck_alloc_pages(GFP_ATOMIC | __GFP_NOWARN | zone_for(phys_limit(d, d->mask_bits)), order);
		if (pfn < 0)
			return DMA_MAPPING_ERROR;
		block = (u64)pfn;
	}
	u64 bphys = (block << PAGE_SHIFT) + offset;
	if (!reaches(d, bphys, size, d->mask_bits) || !within_segment(d, phys_to_dma(d, bphys), size)) {
		if (from_pool)
			pool_give(&bounce_pool, block, npages);
		else
			dmacheck_free_pages(block, order);
		return DMA_MAPPING_ERROR;
	}
	/* Copy whatever the direction: bytes the device does not write keep the buffer's content. */
#ifdef BUG_BOUNCE_SHORT
	copy_phys(bphys, phys, size - 1);
#else
	copy_phys(bphys, phys, size);
#endif
	*b = (struct bounce){ .dma = phys_to_dma(d, bphys), .size = size, .orig_phys = phys, .bounce_phys = bphys, .block_pfn = block, .order = order, .npages = npages, .used = 1, .from_pool = (u8)from_pool };
	sync_for_device(d, bphys, size, DMA_BIDIRECTIONAL);
	return b->dma;
}

static u64 map_phys(u32 dev, u64 phys, u64 size, u32 dir)
{
	struct device *d = dev_of(dev);
	if (!d || size == 0 || dir > DMA_FROM_DEVICE)
		return DMA_MAPPING_ERROR;
	u64 minalign = plat.arch_dma_minalign ? plat.arch_dma_minalign : plat.cache_line_bytes;
	int unaligned = !d->info.coherent && dir != DMA_TO_DEVICE && ((phys | size) & (minalign - 1));
	if (plat.mem_encrypt || unaligned || !reaches(d, phys, size, d->mask_bits))
		return bounce_map(d, phys, size);
	sync_for_device(d, phys, size, dir);
	return phys_to_dma(d, phys);
}

static void unmap_phys(u32 dev, u64 dma, u64 size, u32 dir)
{
	struct device *d = dev_of(dev);
	if (!d)
		return;
	struct bounce *b = bounce_find(dma, 1);
	if (!b) {
		u64 phys = dma_to_phys(d, dma);
		if (phys != U64_MAX)
			sync_for_cpu(d, phys, size, dir);
		return;
	}
	if (dir != DMA_TO_DEVICE) {
		sync_for_cpu(d, b->bounce_phys, b->size, dir);
#ifndef BUG_NO_COPY_BACK
		copy_phys(b->orig_phys, b->bounce_phys, b->size);
#endif
	}
	if (b->from_pool)
		pool_give(&bounce_pool, b->block_pfn, b->npages);
	else
		dmacheck_free_pages(b->block_pfn, b->order);
	b->used = 0;
}

DMACHECK_EXPORT(dma_map_page_attrs) u64 map_page_attrs(u32 dev, u64 pfn, u64 offset, u64 size, u32 dir, u32 attrs)
{
	(void)attrs;
	return map_phys(dev, (pfn << PAGE_SHIFT) + offset, size, dir);
}

DMACHECK_EXPORT(dma_unmap_page_attrs) void unmap_page_attrs(u32 dev, u64 addr, u64 size, u32 dir, u32 attrs)
{
	(void)attrs;
	unmap_phys(dev, addr, size, dir);
}

DMACHECK_EXPORT(dma_map_single_attrs) u64 map_single_attrs(u32 dev, u64 kva, u64 size, u32 dir, u32 attrs)
{
	(void)attrs;
	/* Only the linear map is physically contiguous: vmalloc and stack addresses are refused. */
	if (!dmacheck_virt_addr_valid(kva))
		return DMA_MAPPING_ERROR;
	u64 phys = dmacheck_virt_to_phys(kva);
	return phys == U64_MAX ? DMA_MAPPING_ERROR : map_phys(dev, phys, size, dir);
}

DMACHECK_EXPORT(dma_unmap_single_attrs) void unmap_single_attrs(u32 dev, u64 addr, u64 size, u32 dir, u32 attrs)
{
	(void)attrs;
	unmap_phys(dev, addr, size, dir);
}

DMACHECK_EXPORT(dma_map_sg_attrs) s32 map_sg_attrs(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir, u32 attrs)
{
	(void)attrs;
	for (u32 i = 0; i < nents; i++) {
		u64 dma = map_phys(dev, (sgl[i].page << PAGE_SHIFT) + sgl[i].offset, sgl[i].length, dir);
		if (dma == DMA_MAPPING_ERROR) {
			for (u32 j = 0; j < i; j++)
				unmap_phys(dev, sgl[j].dma_address, sgl[j].dma_length, DMA_TO_DEVICE);
			return 0;
		}
		sgl[i].dma_address = dma;
		sgl[i].dma_length = sgl[i].length;
	}
	return (s32)nents;
}

DMACHECK_EXPORT(dma_unmap_sg_attrs) void unmap_sg_attrs(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir, u32 attrs)
{
	(void)attrs;
	for (u32 i = 0; i < nents; i++)
		unmap_phys(dev, sgl[i].dma_address, sgl[i].dma_length, dir);
}

DMACHECK_EXPORT(dma_sync_single_for_cpu) void sync_single_for_cpu(u32 dev, u64 addr, u64 size, u32 dir)
{
	struct device *d = dev_of(dev);
	if (!d || size == 0)
		return;
	struct bounce *b = bounce_find(addr, size);
	if (!b) {
		u64 phys = dma_to_phys(d, addr);
		if (phys != U64_MAX)
			sync_for_cpu(d, phys, size, dir);
		return;
	}
	u64 at = addr - b->dma;
	if (dir != DMA_TO_DEVICE) {
		sync_for_cpu(d, b->bounce_phys + at, size, dir);
		copy_phys(b->orig_phys + at, b->bounce_phys + at, size);
	}
}

DMACHECK_EXPORT(dma_sync_single_for_device) void sync_single_for_device(u32 dev, u64 addr, u64 size, u32 dir)
{
	struct device *d = dev_of(dev);
	if (!d || size == 0)
		return;
	struct bounce *b = bounce_find(addr, size);
	if (!b) {
		u64 phys = dma_to_phys(d, addr);
		if (phys != U64_MAX)
			sync_for_device(d, phys, size, dir);
		return;
	}
	u64 at = addr - b->dma;
	if (dir != DMA_FROM_DEVICE)
		copy_phys(b->bounce_phys + at, b->orig_phys + at, size);
	sync_for_device(d, b->bounce_phys + at, size, dir);
}

DMACHECK_EXPORT(dma_sync_sg_for_cpu) void sync_sg_for_cpu(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir)
{
	for (u32 i = 0; i < nents; i++)
		sync_single_for_cpu(dev, sgl[i].dma_address, sgl[i].dma_length, dir);
}

DMACHECK_EXPORT(dma_sync_sg_for_device) void sync_sg_for_device(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir)
{
	for (u32 i = 0; i < nents; i++)
		sync_single_for_device(dev, sgl[i].dma_address, sgl[i].dma_length, dir);
}

/* ---- queries ---- */

DMACHECK_EXPORT(dma_mapping_error) s32 mapping_error(u32 dev, u64 addr)
{
	(void)dev;
	return addr == DMA_MAPPING_ERROR ? -ENOMEM : 0;
}

DMACHECK_EXPORT(dma_max_mapping_size) u64 max_mapping_size(u32 dev)
{
	(void)dev;
	return plat.mem_encrypt ? CC_MAX_MAPPING : U64_MAX;
}

DMACHECK_EXPORT(dma_get_cache_alignment) u32 get_cache_alignment(u32 dev)
{
	(void)dev;
	return plat.arch_dma_minalign ? plat.arch_dma_minalign : plat.cache_line_bytes;
}

DMACHECK_EXPORT(dma_need_sync) u32 need_sync(u32 dev, u64 addr)
{
	struct device *d = dev_of(dev);
	return !d || !d->info.coherent || bounce_find(addr, 1) != 0;
}

DMACHECK_EXPORT(dma_can_mmap) u32 can_mmap(u32 dev)
{
	(void)dev;
	return 1;
}

/* ---- the non-coherent allocators (Documentation/core-api/dma-api.rst Part II) ---- */

/*
 * Pages the device reaches, kept cacheable and never remapped: the driver
 * moves ownership with dma_sync_single_*, as for a streaming mapping. On an
 * encrypted guest they are shared with the host first, which may sleep:
 * without a blocking gfp the allocation fails (the API allows it).
 */
static struct alloc *alloc_nc(u32 dev, u64 size, u64 *dma_handle, u32 gfp)
{
	struct device *d = dev_of(dev);
	*dma_handle = DMA_MAPPING_ERROR;
	if (!d || size == 0 || size > (PAGE_SIZE << 10))
		return 0;
	int share = plat.mem_encrypt != 0;
	if (share && !(gfp & __GFP_DIRECT_RECLAIM))
		return 0;
	struct alloc *a = alloc_slot();
	if (!a)
		return 0;
	u32 order = get_order(size);
	s64 pfn = reachable_pages(d, size, gfp, order);
	if (pfn < 0)
		return 0;
	u64 kva = dmacheck_page_address((u64)pfn);
	if (kva == 0) {
		dmacheck_free_pages((u64)pfn, order);
		return 0;
	}
	if (share && dmacheck_set_memory_decrypted(kva, PAGE_SIZE << order >> PAGE_SHIFT) != 0)
		return 0; /* pages in an unknown state are leaked rather than reused */
	if (gfp & __GFP_ZERO)
		zero(kva, page_align(size));
	*a = (struct alloc){ .cpu_addr = kva, .pfn = (u64)pfn, .order = order, .decrypted = (u8)share, .noncoherent = 1 };
	*dma_handle = phys_to_dma(d, (u64)pfn << PAGE_SHIFT);
	return a;
}

static void free_nc(struct alloc *a)
{
	if (!a || !a->noncoherent)
		return;
	if (a->decrypted && dmacheck_set_memory_encrypted(a->cpu_addr, PAGE_SIZE << a->order >> PAGE_SHIFT) != 0) {
		a->cpu_addr = 0;
		return;
	}
	dmacheck_free_pages(a->pfn, a->order);
	a->cpu_addr = 0;
}

static struct alloc *alloc_by_pfn(u64 pfn)
{
	for (u32 i = 0; i < MAX_ALLOCS; i++)
		if (allocs[i].cpu_addr != 0 && allocs[i].noncoherent && allocs[i].pfn == pfn)
			return &allocs[i];
	return 0;
}

DMACHECK_EXPORT(dma_alloc_pages) s64 alloc_pages_export(u32 dev, u64 size, u64 *dma_handle, u32 dir, u32 gfp)
{
	(void)dir;
	struct alloc *a = alloc_nc(dev, size, dma_handle, gfp);
	return a ? (s64)a->pfn : -1;
}

DMACHECK_EXPORT(dma_free_pages) void free_pages_export(u32 dev, u64 size, u64 pfn, u64 dma_handle, u32 dir)
{
	(void)dev, (void)size, (void)dma_handle, (void)dir;
	free_nc(alloc_by_pfn(pfn));
}

DMACHECK_EXPORT(dma_mmap_pages) s32 mmap_pages(u32 dev, u32 vma, u64 size, u64 pfn)
{
	struct alloc *a = alloc_by_pfn(pfn);
	if (!dev_of(dev) || !a)
		return -ENXIO;
	u32 count = (u32)(page_align(size) >> PAGE_SHIFT);
	u32 pgoff = dmacheck_vma_pgoff(vma), n = dmacheck_vma_pages(vma);
	if (pgoff >= count || n > count - pgoff)
		return -ENXIO;
	return dmacheck_remap_pfn_range(vma, 0, pfn + pgoff, n, DMACHECK_PROT_CACHEABLE);
}

DMACHECK_EXPORT(dma_alloc_noncoherent) u64 alloc_noncoherent(u32 dev, u64 size, u64 *dma_handle, u32 dir, u32 gfp)
{
	(void)dir;
	struct alloc *a = alloc_nc(dev, size, dma_handle, gfp);
	return a ? a->cpu_addr : 0;
}

DMACHECK_EXPORT(dma_free_noncoherent) void free_noncoherent(u32 dev, u64 size, u64 vaddr, u64 dma_handle, u32 dir)
{
	(void)dev, (void)size, (void)dma_handle, (void)dir;
	struct alloc *a = alloc_find(vaddr);
	free_nc(a);
}

/* ---- device MMIO (dma_map_resource): no cache, no bounce; the address as the device sees it, or a failure ---- */

DMACHECK_EXPORT(dma_map_resource) u64 map_resource(u32 dev, u64 phys, u64 size, u32 dir, u32 attrs)
{
	(void)dir, (void)attrs;
	struct device *d = dev_of(dev);
	if (!d || size == 0 || phys + size - 1 < phys)
		return DMA_MAPPING_ERROR;
	/* MMIO is not behind the RAM windows: the bus address is the physical one, and the device must reach it. */
	if (phys + size - 1 > dma_limit(d, d->mask_bits))
		return DMA_MAPPING_ERROR;
	return phys;
}

DMACHECK_EXPORT(dma_unmap_resource) void unmap_resource(u32 dev, u64 addr, u64 size, u32 dir, u32 attrs)
{
	(void)dev, (void)addr, (void)size, (void)dir, (void)attrs;
}

/* ---- what a driver asks before it decides how to use the device ---- */

/* The smallest all-ones mask covering the DMA address of the highest RAM byte. */
DMACHECK_EXPORT(dma_get_required_mask) u64 get_required_mask(u32 dev)
{
	struct device *d = dev_of(dev);
	if (!d)
		return 0;
	u64 top = phys_to_dma(d, plat.ram_end - 1);
	if (top == DMA_MAPPING_ERROR)
		top = plat.ram_end - 1;
	u64 mask = 1;
	while (mask < top)
		mask = (mask << 1) | 1;
	return mask;
}

/* Limited when some RAM is out of the device's reach as it is (it would need bouncing). */
DMACHECK_EXPORT(dma_addressing_limited) u32 addressing_limited(u32 dev)
{
	struct device *d = dev_of(dev);
	if (!d)
		return 0;
#ifdef BUG_NOT_LIMITED
	return 0;
#else
	return !reaches(d, plat.ram_start, plat.ram_end - plat.ram_start, d->mask_bits);
#endif
}

DMACHECK_EXPORT(dma_opt_mapping_size) u64 opt_mapping_size(u32 dev)
{
	return max_mapping_size(dev);
}

/* Unmapping always matters here: bounce blocks and cache maintenance happen at unmap. */
DMACHECK_EXPORT(dma_need_unmap) u32 need_unmap(u32 dev)
{
	(void)dev;
	return 1;
}

/* No IOMMU: nothing merges segments. */
DMACHECK_EXPORT(dma_get_merge_boundary) u64 get_merge_boundary(u32 dev)
{
	(void)dev;
	return 0;
}
