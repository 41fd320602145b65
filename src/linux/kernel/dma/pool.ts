/**
 * The DMA atomic pools (kernel/dma/pool.c): memory set aside, already
 * remapped uncached, so that a non-blocking coherent allocation for a
 * device that needs a remap can be served without sleeping (vmap and CMA
 * both sleep). Entry points `dma_atomic_pool_init`, `dma_alloc_from_pool`,
 * `dma_free_from_pool`.
 *
 * Up to three `gen_pool`s, one per zone: kernel (when ZONE_NORMAL has
 * memory), DMA (when ZONE_DMA has), DMA32 (when ZONE_DMA32 has). Each starts
 * at `coherent_pool=` bytes, else 128 KiB per GiB of RAM (at least 128 KiB,
 * at most one max-order block), taken from the default CMA area when it lies
 * in the pool's zone, else from the page allocator at decreasing orders;
 * the memory is cleaned from the cache and vmapped with `pgprot_dmacoherent`.
 * An allocation that leaves a pool with less than that size free schedules
 * the expansion work (`atomic_pool_work_fn`), which grows each low pool by
 * its current size in process context later. Pools never shrink.
 */
import { PAGE_SIZE, type CpuAddr, type Pfn, getOrder, pfn, pfnToPhys } from '../../../platform/types.ts';
import { archDmaPrepCoherent } from '../../arch/dma-sync-policy.ts';
import type { Device, DmaKernel } from '../../include/linux/device.ts';
import { GFP_DMA, GFP_DMA32, GFP_KERNEL, __GFP_NOWARN, type Gfp, gfpToString } from '../../include/linux/gfp.ts';
import type { WorkStruct } from '../workqueue.ts';
import type { GenPool } from '../../lib/genalloc.ts';
import { VM_DMA_COHERENT } from '../../mm/vmalloc.ts';
import { dmaAllocFromContiguous } from './contiguous.ts';

const KiB = 1024;

/** The atomic pools of one kernel. */
export interface AtomicPools {
  /** `atomic_pool_kernel`, `atomic_pool_dma32`, `atomic_pool_dma`; null where that zone has no memory. */
  readonly kernel: GenPool | null;
  readonly dma32: GenPool | null;
  readonly dma: GenPool | null;
  /** `atomic_pool_size`, bytes: the initial size and the low-water mark that triggers expansion. */
  readonly sizeBytes: number;
  /** `atomic_pool_work`. */
  readonly work: WorkStruct;
}

/** `cma_in_zone`: does the default CMA area lie inside the zone `gfp` asks for? */
function cmaInZone(k: DmaKernel, gfp: Gfp): boolean {
  const cma = k.mm.cma.defaultArea;
  if (cma === null) return false;
  const end = cma.config.basePhys + cma.config.sizeBytes - 1;
  const zones = k.platform.profile.zones;
  if (zones.dmaEndPhys !== null && (gfp & GFP_DMA) !== 0) return end <= zones.dmaEndPhys - 1;
  if (zones.dma32 && (gfp & GFP_DMA32) !== 0) return end <= Math.max(2 ** 32 - 1, (zones.dmaEndPhys ?? 0) - 1);
  return true;
}

/**
 * `atomic_pool_expand`: add up to `poolSize` bytes to `pool` (one block,
 * order lowered until an allocation succeeds), cleaned and remapped uncached.
 * The pages are kept for good. @returns 0 or -12 (`-ENOMEM`)
 */
export function atomicPoolExpand(k: DmaKernel, pool: GenPool, poolSize: number, gfp: Gfp): number {
  let order = Math.min(getOrder(poolSize), k.platform.profile.maxOrder);
  let page: Pfn | null = null;
  for (;;) {
    if (cmaInZone(k, gfp)) page = dmaAllocFromContiguous(k, null, 2 ** order, order, false, true);
    if (page === null) {
      page = k.mm.pages.allocPages(gfp | __GFP_NOWARN, order);
      if (page !== null) k.mm.pages.markPersistent(page);
    }
    if (page !== null || order === 0) break;
    order--;
  }
  if (page === null) return -12;
  const size = PAGE_SIZE * 2 ** order;
  archDmaPrepCoherent(k.arch, page, size);
  let addr: CpuAddr | null;
  if (k.platform.profile.dma.directRemap) {
    const first = page;
    addr = k.mm.vmalloc.vmap(Array.from({ length: 2 ** order }, (_, i) => pfn(first + i)), k.platform.profile.dma.dmacoherentAttr, VM_DMA_COHERENT);
  } else {
    addr = k.mm.pages.pageAddress(page);
  }
  // Nothing is given back on failure: the model's vmap fails only when the vmalloc area is full, and the pages are marked kept.
  if (addr === null) return -12;
  // Pool memory must be shared on an encrypted guest; pools never shrink, so it is never re-encrypted. A failed conversion leaks the pages.
  const lin = k.mm.pages.pageAddress(page);
  if (lin !== null && k.mm.setMemoryDecrypted(lin, 2 ** order) !== 0) return -12;
  return pool.addVirt(addr, pfnToPhys(page), size);
}

/**
 * `dma_atomic_pool_init`: create the atomic pools (kernel/dma/pool.c) where
 * `CONFIG_DMA_COHERENT_POOL` is selected: by `CONFIG_DMA_DIRECT_REMAP` (the
 * profile's `dma.directRemap`) or by memory encryption (x86's
 * `AMD_MEM_ENCRYPT`/`INTEL_TDX_GUEST`: non-blocking allocations of shared
 * memory cannot wait for a page conversion).
 * @returns the pools, or null on a profile without them
 */
export function dmaAtomicPoolInit(k: DmaKernel): AtomicPools | null {
  const p = k.platform.profile;
  if (!p.dma.directRemap && !p.memEncrypt) return null;
  const ramBytes = p.ram.reduce((s, b) => s + b.sizeBytes, 0);
  const defaultBytes = Math.max(Math.min(Math.floor(ramBytes / (8 * KiB) / PAGE_SIZE), 2 ** p.maxOrder) * PAGE_SIZE, 128 * KiB);
  const size = p.coherentPoolBytes ?? defaultBytes;
  const has = (t: string) => k.mm.pages.zones.some((z) => z.type === t && z.managedPages > 0);
  const make = (gfp: Gfp, name: string): GenPool | null => {
    const pool = k.mm.genPoolCreate(Math.log2(PAGE_SIZE), name);
    pool.setAlgo('first-fit-order-align');
    if (atomicPoolExpand(k, pool, size, gfp) !== 0) {
      k.dmesg.err(`DMA: failed to allocate ${size / KiB} KiB ${gfpToString(gfp)} pool for atomic allocation`);
      return null;
    }
    k.dmesg.info(`DMA: preallocated ${size / KiB} KiB ${gfpToString(gfp)} pool for atomic allocations`);
    return pool;
  };
  const pools: { kernel: GenPool | null; dma32: GenPool | null; dma: GenPool | null } = { kernel: null, dma32: null, dma: null };
  const work: WorkStruct = {
    name: 'atomic_pool_work',
    func: () => {
      const resize = (pool: GenPool | null, gfp: Gfp) => {
        if (pool !== null && pool.availBytes < size) atomicPoolExpand(k, pool, pool.sizeBytes, gfp);
      };
      resize(pools.dma, GFP_KERNEL | GFP_DMA);
      resize(pools.dma32, GFP_KERNEL | GFP_DMA32);
      resize(pools.kernel, GFP_KERNEL);
    },
  };
  if (has('NORMAL')) pools.kernel = make(GFP_KERNEL, 'atomic_pool_kernel');
  if (has('DMA')) pools.dma = make(GFP_KERNEL | GFP_DMA, 'atomic_pool_dma');
  if (has('DMA32')) pools.dma32 = make(GFP_KERNEL | GFP_DMA32, 'atomic_pool_dma32');
  return { ...pools, sizeBytes: size, work };
}

/** `dma_guess_pool`: the first pool for `gfp` (prev null), else the next to fall back to. */
function dmaGuessPool(pools: AtomicPools, prev: GenPool | null, gfp: Gfp): GenPool | null {
  const { kernel, dma32, dma } = pools;
  if (prev === null) {
    if ((gfp & GFP_DMA) !== 0) return dma ?? dma32 ?? kernel;
    if ((gfp & GFP_DMA32) !== 0) return dma32 ?? dma ?? kernel;
    return kernel ?? dma32 ?? dma;
  }
  if (prev === kernel) return dma32 ?? dma;
  if (prev === dma32) return dma;
  return null;
}

/**
 * `dma_alloc_from_pool`: `size` bytes from the pool matching `gfp`'s zone,
 * falling back kernel → DMA32 → DMA; a chunk whose physical range fails
 * `physOk` is given back and the next pool tried. The memory is zeroed
 * through the pool's mapping. Never sleeps. A failure WARNs ("DMA pool
 * exhausted", or "Failed to get suitable pool" when there is none).
 * @returns `{ page, cpuAddr }` or null
 */
export function dmaAllocFromPool(dev: Device, size: number, gfp: Gfp, physOk: (dev: Device, phys: number, size: number) => boolean): { page: Pfn; cpuAddr: CpuAddr } | null {
  const k = dev.kernel;
  const pools = k.atomicPools;
  let found = false;
  if (pools !== null) {
    for (let pool = dmaGuessPool(pools, null, gfp); pool !== null; pool = dmaGuessPool(pools, pool, gfp)) {
      found = true;
      const addr = pool.alloc(size);
      if (addr === 0) continue;
      const phys = pool.virtToPhys(addr);
      if (!physOk(dev, phys, size)) {
        pool.free(addr, size);
        continue;
      }
      if (pool.availBytes < pools.sizeBytes) k.mm.workqueue.schedule(pools.work);
      k.platform.cpu.memset(addr as CpuAddr, 0, size, 'dma-pool:memset');
      return { page: pfn(phys / PAGE_SIZE), cpuAddr: addr as CpuAddr };
    }
  }
  if (!found) k.dmesg.warn(`WARNING: Failed to get suitable pool for ${dev.name} [size=${size}]`);
  else if ((gfp & __GFP_NOWARN) === 0) k.dmesg.warn(`WARNING: DMA pool exhausted for ${dev.name} [size=${size}]`);
  return null;
}

/**
 * `dma_free_from_pool`: give `[start, start+size)` back to the pool holding it.
 * @returns false when no pool holds the address
 */
export function dmaFreeFromPool(dev: Device, start: CpuAddr, size: number): boolean {
  const pools = dev.kernel.atomicPools;
  if (pools === null) return false;
  for (let pool = dmaGuessPool(pools, null, 0); pool !== null; pool = dmaGuessPool(pools, pool, 0)) {
    if (!pool.hasAddr(start, size)) continue;
    pool.free(start, size);
    return true;
  }
  return false;
}
