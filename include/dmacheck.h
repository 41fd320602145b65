/*
 * dmacheck.h - the WebAssembly backend ABI of dmacheck, version 1.
 *
 * A backend written in C (or anything that compiles to wasm32) is a wasm
 * module that exports the DMA-mapping entry points below with kernel-like
 * signatures and imports, from the module "env", the services a kernel DMA
 * layer uses: CPU loads and stores through the simulated CPU (so its cache
 * model sees them), cache maintenance by physical range, the page
 * allocator, CMA, vmap and kmap, address translation, might_sleep and the
 * kernel log. Build one with
 *
 *   clang --target=wasm32 -O2 -nostdlib -ffreestanding -I include \
 *         -Wl,--no-entry -Wl,--allow-undefined -o backend.wasm backend.c
 *
 * and run it like any backend: `npx dmacheck run --backend backend.wasm`.
 * Each simulated machine gets a fresh instance (fresh memory, fresh
 * globals). A trap (out-of-bounds access, unreachable, division by zero) is
 * an oops at the step that made the call; a call that does not return is a
 * hang. A module that lacks an export, or exports one with another
 * signature, is refused when it is loaded.
 *
 * Units and values: sizes are bytes, pfns are page frame numbers (4 KiB
 * pages), addresses are u64: kernel virtual addresses (`kva`), physical
 * addresses and DMA addresses as the platform defines them. Directions and
 * attributes have the values of include/linux/dma-mapping.h; gfp flags the
 * values below. Every call is made with a device index `dev` from 0 to the
 * number of devices of the profile minus one (see dmacheck_dev_info).
 * DMA_MAPPING_ERROR is ~0. Errors are negative errno values.
 *
 * This header is part of dmacheck (GPL-2.0-only); a backend may include it.
 */
#ifndef DMACHECK_H
#define DMACHECK_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;

#define DMACHECK_ABI_VERSION 1

#define DMA_MAPPING_ERROR (~0ULL)
#define PAGE_SIZE 4096ULL
#define PAGE_SHIFT 12

/* enum dma_data_direction */
#define DMA_BIDIRECTIONAL 0
#define DMA_TO_DEVICE 1
#define DMA_FROM_DEVICE 2
#define DMA_NONE 3

/* DMA attributes (include/linux/dma-mapping.h) */
#define DMA_ATTR_WEAK_ORDERING (1U << 1)
#define DMA_ATTR_WRITE_COMBINE (1U << 2)
#define DMA_ATTR_NO_KERNEL_MAPPING (1U << 4)
#define DMA_ATTR_SKIP_CPU_SYNC (1U << 5)
#define DMA_ATTR_FORCE_CONTIGUOUS (1U << 6)
#define DMA_ATTR_ALLOC_SINGLE_PAGES (1U << 7)
#define DMA_ATTR_NO_WARN (1U << 8)
#define DMA_ATTR_PRIVILEGED (1U << 9)
#define DMA_ATTR_MMIO (1U << 10)

/* gfp flags, as dmacheck's platform encodes them */
#define __GFP_DMA 0x01U
#define __GFP_HIGHMEM 0x02U
#define __GFP_DMA32 0x04U
#define __GFP_ZERO 0x100U
#define __GFP_NOWARN 0x2000U
#define __GFP_COMP 0x40000U
#define GFP_ATOMIC 0x820U
#define GFP_NOWAIT 0x800U
#define GFP_KERNEL 0xcc0U
#define GFP_DMA __GFP_DMA
#define GFP_DMA32 __GFP_DMA32
/* The allocation may sleep when this is set (gfpflags_allow_blocking). */
#define __GFP_DIRECT_RECLAIM 0x400U

/* errno */
#define EIO 5
#define ENOMEM 12
#define EINVAL 22
#define ENODEV 19
#define ENXIO 6
#define EBUSY 16

/* Page attributes for dmacheck_vmap and dmacheck_remap_pfn_range. */
#define DMACHECK_PROT_CACHEABLE 0
#define DMACHECK_PROT_WRITE_COMBINE 1
#define DMACHECK_PROT_UNCACHED 2

/* What a device is (dmacheck_dev_info fills it). */
struct dmacheck_range {
	u64 cpu_start; /* first CPU physical address of a dma-ranges window */
	u64 dma_start; /* DMA address of cpu_start */
	u64 size;      /* bytes */
};

struct dmacheck_dev_info {
	u32 coherent;      /* 1: the device snoops the CPU cache */
	u32 address_bits;  /* lines the device drives */
	u64 bus_dma_limit; /* highest DMA address the interconnect carries, 0 = none */
	u32 min_align_mask;
	u32 max_segment_size;
	u64 segment_boundary_mask;
	u32 nranges; /* 0: identity (DMA address == physical address) */
	u32 pad;
	struct dmacheck_range ranges[4];
	/* A DT restricted-dma-pool: all the device's DMA must stay in it (0/0: none). */
	u64 restricted_pool_base;
	u64 restricted_pool_size;
	/* A per-device coherent pool (shared-dma-pool, no-map): coherent allocations come from it (0/0: none). */
	u64 coherent_pool_base;
	u64 coherent_pool_size;
};

/* What the platform is (dmacheck_platform_info fills it; 48 bytes). */
struct dmacheck_platform_info {
	u32 arch;              /* 0 x86-64, 1 arm64, 2 arm (32-bit) */
	u32 cache_line_bytes;
	u32 arch_dma_minalign; /* 0 when the arch defines none */
	u32 mem_encrypt;       /* 1: a confidential guest, devices reach shared pages only */
	u64 zone_dma_end;      /* exclusive end of ZONE_DMA, 0 = none */
	u32 zone_dma32;        /* 1: ZONE_DMA32 exists (up to 4 GiB) */
	u32 ndevices;
	u64 ram_end;           /* one past the highest RAM byte */
	u64 ram_start;         /* the lowest RAM byte */
};

/* One scatterlist entry as the host lays it out in the module's memory (32 bytes). */
struct dmacheck_sg {
	u64 page;        /* pfn of the first page */
	u32 offset;      /* byte offset in that page */
	u32 length;      /* bytes */
	u64 dma_address; /* filled by dma_map_sg_attrs */
	u32 dma_length;  /* filled by dma_map_sg_attrs */
	u32 pad;
};

/*
 * ---- Imports: the platform and substrate services (module "env") ----
 * A kva that is not mapped, or a range that is not RAM, makes the call
 * fault: an oops at the step, as a kernel dereferencing it would.
 */
#define DMACHECK_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* CPU loads and stores through the simulated CPU and its cache. */
DMACHECK_IMPORT(cpu_read) void dmacheck_cpu_read(u64 kva, void *dst, u32 len);
DMACHECK_IMPORT(cpu_write) void dmacheck_cpu_write(u64 kva, const void *src, u32 len);
DMACHECK_IMPORT(cpu_memset) void dmacheck_cpu_memset(u64 kva, u32 value, u64 len);
DMACHECK_IMPORT(cpu_memcpy) void dmacheck_cpu_memcpy(u64 dst_kva, u64 src_kva, u64 len);
/* Cache maintenance by physical range (arch_sync_dma_for_device/_for_cpu building blocks). */
DMACHECK_IMPORT(cache_clean) void dmacheck_cache_clean(u64 phys, u64 len);
DMACHECK_IMPORT(cache_invalidate) void dmacheck_cache_invalidate(u64 phys, u64 len);
DMACHECK_IMPORT(cache_clean_invalidate) void dmacheck_cache_clean_invalidate(u64 phys, u64 len);
/* Order the CPU's write-combined stores before the device reads (dma_wmb). */
DMACHECK_IMPORT(dma_wmb) void dmacheck_dma_wmb(void);
/* The page allocator: a pfn, or -1 when none. */
DMACHECK_IMPORT(alloc_pages) s64 dmacheck_alloc_pages(u32 gfp, u32 order);
DMACHECK_IMPORT(free_pages) void dmacheck_free_pages(u64 pfn, u32 order);
/* The linear-map address of a page, or 0 for a highmem page. */
DMACHECK_IMPORT(page_address) u64 dmacheck_page_address(u64 pfn);
/* The physical address a kernel virtual address maps to, or ~0 when unmapped. */
DMACHECK_IMPORT(virt_to_phys) u64 dmacheck_virt_to_phys(u64 kva);
/* Is `kva` in the linear map (virt_addr_valid)? */
DMACHECK_IMPORT(virt_addr_valid) u32 dmacheck_virt_addr_valid(u64 kva);
/* CMA: `count` pages from the device's area (or the default one), a pfn or -1. */
DMACHECK_IMPORT(cma_alloc) s64 dmacheck_cma_alloc(u32 dev, u64 count, u32 align_order, u32 no_warn);
DMACHECK_IMPORT(cma_release) u32 dmacheck_cma_release(u32 dev, u64 pfn, u64 count);
/* vmap `count` pfns (an array of u64 in module memory) with a page attribute; a kva or 0. */
DMACHECK_IMPORT(vmap) u64 dmacheck_vmap(const u64 *pfns, u32 count, u32 prot);
DMACHECK_IMPORT(vunmap) void dmacheck_vunmap(u64 kva);
/* A temporary kernel mapping of a (highmem) page. */
DMACHECK_IMPORT(kmap_local) u64 dmacheck_kmap_local(u64 pfn);
DMACHECK_IMPORT(kunmap_local) void dmacheck_kunmap_local(u64 kva);
/* Share pages with the host on a confidential guest (0 or -errno); no-ops elsewhere. */
DMACHECK_IMPORT(set_memory_decrypted) s32 dmacheck_set_memory_decrypted(u64 kva, u32 npages);
DMACHECK_IMPORT(set_memory_encrypted) s32 dmacheck_set_memory_encrypted(u64 kva, u32 npages);
/* Map `npages` pfns into user mapping `vma` at page `pgoff` of it (dma_mmap_*); 0 or -errno. */
DMACHECK_IMPORT(remap_pfn_range) s32 dmacheck_remap_pfn_range(u32 vma, u32 pgoff, u64 pfn, u32 npages, u32 prot);
/* The user mapping's size and offset, in pages. */
DMACHECK_IMPORT(vma_pages) u32 dmacheck_vma_pages(u32 vma);
DMACHECK_IMPORT(vma_pgoff) u32 dmacheck_vma_pgoff(u32 vma);
/*
 * gen_pool (lib/genalloc.c) kept by the harness, so it sees which memory is
 * pool memory (an atomic pool's pages are not a leak, an allocation from
 * one is not from the page allocator). Optional: a module need not import
 * them. `id` is what gen_pool_create returned (-1: no pool); addresses are
 * the module's own kernel addresses, `phys` physical ones. Algorithm 0 is
 * gen_pool_first_fit, 1 gen_pool_first_fit_order_align. A free of a range
 * not allocated is an oops (the kernel BUGs). Pages added to a pool (the
 * first page of an alloc_pages block) are kept for good: pools never shrink.
 */
DMACHECK_IMPORT(gen_pool_create) s32 dmacheck_gen_pool_create(u32 min_alloc_order, const char *name, u32 len);
DMACHECK_IMPORT(gen_pool_set_algo) void dmacheck_gen_pool_set_algo(s32 id, u32 algo);
DMACHECK_IMPORT(gen_pool_add_virt) s32 dmacheck_gen_pool_add_virt(s32 id, u64 addr, u64 phys, u64 size);
DMACHECK_IMPORT(gen_pool_alloc) u64 dmacheck_gen_pool_alloc(s32 id, u64 size);
DMACHECK_IMPORT(gen_pool_free) void dmacheck_gen_pool_free(s32 id, u64 addr, u64 size);
DMACHECK_IMPORT(gen_pool_virt_to_phys) u64 dmacheck_gen_pool_virt_to_phys(s32 id, u64 addr);
DMACHECK_IMPORT(gen_pool_has_addr) u32 dmacheck_gen_pool_has_addr(s32 id, u64 addr, u64 size);
DMACHECK_IMPORT(gen_pool_size) u64 dmacheck_gen_pool_size(s32 id);
DMACHECK_IMPORT(gen_pool_avail) u64 dmacheck_gen_pool_avail(s32 id);
/* Something here may sleep: recorded as a violation in atomic context. */
DMACHECK_IMPORT(might_sleep) void dmacheck_might_sleep(void);
/* The kernel log: level 0 err, 1 warn, 2 info. */
DMACHECK_IMPORT(printk) void dmacheck_printk(u32 level, const char *msg, u32 len);
/* Facts about the machine. */
DMACHECK_IMPORT(dev_info) void dmacheck_dev_info(u32 dev, struct dmacheck_dev_info *out);
DMACHECK_IMPORT(platform_info) void dmacheck_platform_info(struct dmacheck_platform_info *out);
/*
 * The DMA options of the machine's kernel command line ("swiotlb=512,2,force
 * coherent_pool=65536": only those the machine sets), for a DMA layer that
 * sizes itself from boot options. Writes at most `len` bytes, no NUL;
 * returns the full length.
 */
DMACHECK_IMPORT(cmdline) u32 dmacheck_cmdline(char *out, u32 len);

/*
 * ---- Exports: what the backend implements ----
 * dmacheck_abi_version and dmacheck_capabilities are required; each DMA
 * call is required when the capabilities declare it.
 *
 * dmacheck_capabilities returns a pointer to a NUL-terminated JSON object
 * in the module's memory:
 *   {"name":"c-direct","calls":["attachDevice","allocAttrs",...],
 *    "attrs":0,"profiles":["x86-64"],"levels":["contract"]}
 * with the call names of the TypeScript seam (src/backend/backend.ts), the
 * honoured attributes as a number, "all" or a list of profile names, and
 * the check levels the backend claims.
 *
 * dmacheck_scratch(bytes) returns a buffer of at least `bytes` bytes in the
 * module's memory that the host may fill before a call (scatterlists,
 * sg tables) and read after it (the DMA handle of an allocation).
 */
#define DMACHECK_EXPORT(name) __attribute__((export_name(#name)))

/*
 * Exported signatures (u64 crosses the boundary as a JS BigInt):
 *   u32 dmacheck_abi_version(void);
 *   const char *dmacheck_capabilities(void);
 *   void *dmacheck_scratch(u32 bytes);
 *   s32 dma_attach(u32 dev);
 *   s32 dma_set_mask(u32 dev, u32 bits);
 *   s32 dma_set_coherent_mask(u32 dev, u32 bits);
 *   s32 dma_set_mask_and_coherent(u32 dev, u32 bits);
 *   u64 dma_alloc_attrs(u32 dev, u64 size, u64 *dma_handle, u32 gfp, u32 attrs);   returns a kva (or a cookie), 0 on failure
 *   void dma_free_attrs(u32 dev, u64 size, u64 cpu_addr, u64 dma_handle, u32 attrs);
 *   s32 dma_mmap_attrs(u32 dev, u32 vma, u64 cpu_addr, u64 dma_handle, u64 size, u32 attrs);
 *   s32 dma_get_sgtable_attrs(u32 dev, struct dmacheck_sg *sgl, u32 max_ents, u64 cpu_addr, u64 dma_handle, u64 size, u32 attrs);   entries filled (page, offset, length), or -errno
 *   u64 dma_map_page_attrs(u32 dev, u64 pfn, u64 offset, u64 size, u32 dir, u32 attrs);
 *   void dma_unmap_page_attrs(u32 dev, u64 addr, u64 size, u32 dir, u32 attrs);
 *   u64 dma_map_single_attrs(u32 dev, u64 kva, u64 size, u32 dir, u32 attrs);
 *   void dma_unmap_single_attrs(u32 dev, u64 addr, u64 size, u32 dir, u32 attrs);
 *   s32 dma_map_sg_attrs(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir, u32 attrs);   mapped count, 0 on failure
 *   void dma_unmap_sg_attrs(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir, u32 attrs);
 *   void dma_sync_single_for_cpu(u32 dev, u64 addr, u64 size, u32 dir);
 *   void dma_sync_single_for_device(u32 dev, u64 addr, u64 size, u32 dir);
 *   void dma_sync_sg_for_cpu(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir);
 *   void dma_sync_sg_for_device(u32 dev, struct dmacheck_sg *sgl, u32 nents, u32 dir);
 *   s32 dma_mapping_error(u32 dev, u64 addr);
 *   u64 dma_max_mapping_size(u32 dev);
 *   u32 dma_get_cache_alignment(u32 dev);
 *   u32 dma_need_sync(u32 dev, u64 addr);
 *   u32 dma_can_mmap(u32 dev);
 *
 * The non-coherent allocators (Documentation/core-api/dma-api.rst Part II;
 * the memory is owned like a streaming mapping and moves with the
 * dma_sync_single_* calls), resources and queries:
 *   s64 dma_alloc_pages(u32 dev, u64 size, u64 *dma_handle, u32 dir, u32 gfp);   the first pfn, -1 on failure
 *   void dma_free_pages(u32 dev, u64 size, u64 pfn, u64 dma_handle, u32 dir);
 *   s32 dma_mmap_pages(u32 dev, u32 vma, u64 size, u64 pfn);
 *   u64 dma_alloc_noncoherent(u32 dev, u64 size, u64 *dma_handle, u32 dir, u32 gfp);   a kva, 0 on failure
 *   void dma_free_noncoherent(u32 dev, u64 size, u64 vaddr, u64 dma_handle, u32 dir);
 *   u64 dma_map_resource(u32 dev, u64 phys, u64 size, u32 dir, u32 attrs);   device MMIO (not RAM)
 *   void dma_unmap_resource(u32 dev, u64 addr, u64 size, u32 dir, u32 attrs);
 *   u64 dma_get_required_mask(u32 dev);
 *   u32 dma_addressing_limited(u32 dev);
 *   u64 dma_opt_mapping_size(u32 dev);
 *   u32 dma_need_unmap(u32 dev);
 *   u64 dma_get_merge_boundary(u32 dev);
 * dma_alloc_noncontiguous, swiotlbState and iovaState are not in ABI
 * version 1, nor is the IOMMU: a C backend does not declare the IOMMU
 * profiles (arm64-smmu, armv7-iommu).
 */

#endif /* DMACHECK_H */
