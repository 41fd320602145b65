/**
 * Not a kernel mirror: judging helpers shared by the properties, beside the
 * oracle (DESIGN.md "Style": the session records, the properties judge).
 * They read the facts an observation carries and the profile; the
 * `linux`-level ones know the path Linux takes for an allocation
 * (kernel/dma/mapping.c `dma_alloc_attrs`, kernel/dma/coherent.c,
 * kernel/dma/direct.c `dma_direct_alloc`, kernel/dma/contiguous.c,
 * kernel/dma/pool.c, arch/arm/mm/dma-mapping.c `arch_dma_alloc`), which an
 * independent backend is free not to follow.
 */
import { DMA_ATTR_FORCE_CONTIGUOUS } from '../linux/include/linux/dma-mapping.ts';
import { DMA_ATTR_NO_KERNEL_MAPPING } from '../linux/include/linux/dma-mapping.ts';
import { gfpflagsAllowBlocking } from '../linux/include/linux/gfp.ts';
import { rangePhysToDma } from '../platform/bus.ts';
import type { DeviceConfig } from '../platform/device.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import { PAGE_SIZE, hex, maskLimit } from '../platform/types.ts';
import type { Observation, PoolFacts } from './oracle.ts';

/** The `alloc` observation. */
export type AllocObservation = Extract<Observation, { kind: 'alloc' }>;

/** The hardware description of device `dev` on `profile`. */
export function deviceConfig(profile: PlatformProfile, dev: string): DeviceConfig {
  const d = profile.devices.find((x) => x.name === dev);
  if (d === undefined) throw new Error(`no device ${dev} on ${profile.name}`);
  return d;
}

/** Highest DMA address `dev` reaches with its coherent mask (set to its natural width) and bus limit. */
export function coherentLimit(profile: PlatformProfile, dev: string): number {
  const cfg = deviceConfig(profile, dev);
  return Math.min(maskLimit(cfg.addressBits), cfg.busDmaLimit === 0 ? Infinity : cfg.busDmaLimit);
}

/**
 * Can `dev` reach `[phys, phys+size)` through its windows, within
 * {@link coherentLimit} and, when given, the coherent mask of `maskBits` the
 * driver set (and the backend accepted)?
 */
export function reaches(profile: PlatformProfile, dev: string, phys: number, size: number, maskBits?: number): boolean {
  // Behind an IOMMU any page is reachable: the masks bound the IOVA, not the physical address.
  if (deviceConfig(profile, dev).iommu !== null) return true;
  const ranges = deviceConfig(profile, dev).dmaRanges;
  const lo = rangePhysToDma(ranges, phys);
  const hi = rangePhysToDma(ranges, phys + size - 1);
  return lo !== null && hi !== null && hi <= coherentLimit(profile, dev) && (maskBits === undefined || hi <= maskLimit(maskBits));
}

/**
 * The path Linux takes for a `dma_alloc_attrs` call, as the profile and the
 * device's description decide it: `direct` = pages (CMA, then the buddy
 * allocator), `atomic-pool`, `device-pool`, `global-pool`, `arm` (ARM32's
 * allocator: CMA without fallback, remap, or its atomic pool), `swiotlb`
 * (restricted pool), `iommu-pages` (dma-iommu's page array, buddy pages
 * of any order mapped at one IOVA).
 */
export type AllocPath = 'direct' | 'atomic-pool' | 'device-pool' | 'global-pool' | 'arm' | 'swiotlb' | 'iommu-pages';

/** @see kernel/dma/mapping.c dma_alloc_attrs, kernel/dma/coherent.c dma_alloc_from_dev_coherent, kernel/dma/direct.c dma_direct_alloc and dma_set_decrypted, kernel/dma/swiotlb.c swiotlb_alloc, arch/arm/mm/dma-mapping.c arch_dma_alloc */
export function linuxAllocPath(profile: PlatformProfile, dev: string, gfp: number, attrs: number): AllocPath {
  const cfg = deviceConfig(profile, dev);
  const dma = profile.dma;
  const blocking = gfpflagsAllowBlocking(gfp);
  if (cfg.iommu !== null && profile.arch === 'arm') {
    // arch/arm/mm/dma-mapping.c arm_iommu_alloc_attrs: a page array (CMA, without fallback, for FORCE_CONTIGUOUS) when it may sleep, ARM's atomic pool when not.
    return blocking || cfg.coherent ? 'iommu-pages' : 'arm';
  }
  if (cfg.iommu !== null) {
    // drivers/iommu/dma-iommu.c iommu_dma_alloc: a page array when it may sleep, the atomic pools for a non-coherent device when not, else contiguous pages.
    if (blocking && (attrs & DMA_ATTR_FORCE_CONTIGUOUS) === 0) return 'iommu-pages';
    return !blocking && !cfg.coherent ? 'atomic-pool' : 'direct';
  }
  if (cfg.restrictedDmaPool !== null) return 'swiotlb';
  if (cfg.coherentPool !== null) return 'device-pool';
  // On an encrypted guest NO_KERNEL_MAPPING is not honoured, and decryption may sleep: non-blocking requests use the pools.
  if (profile.memEncrypt) return blocking ? 'direct' : 'atomic-pool';
  if ((attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0 || cfg.coherent) return 'direct';
  if (dma.archHasDmaAlloc) return 'arm';
  if (dma.globalPool) return 'global-pool';
  return dma.directRemap && !blocking ? 'atomic-pool' : 'direct';
}

/** Evidence common to allocation checks. */
export function allocEvidence(o: AllocObservation): string {
  return `[ref=${o.ref}] [dev=${o.dev}] [size=${o.sizeBytes}] [gfp=${gfpflagsAllowBlocking(o.gfp) ? 'blocking' : 'non-blocking'}]${o.region === null ? '' : ` [from=${o.region}]`}`;
}

/** A free buddy block of at least `order` in a lowmem zone the device reaches whole (what `__dma_direct_alloc_pages` would find), as evidence, or null. */
export function buddyCouldServe(profile: PlatformProfile, o: AllocObservation, order: number): string | null {
  if (o.faultInjection || o.zones === null) return null;
  for (const z of o.zones) {
    if (z.type === 'HIGHMEM' || !reaches(profile, o.dev, z.startPhys, z.endPhys - z.startPhys)) continue;
    if (z.maxFreeOrder >= order) return `[zone=${z.type}] [free_order=${z.maxFreeOrder}] [order=${order}]`;
  }
  return null;
}

/**
 * The atomic pools `dma_alloc_from_pool` tries for `dev`, in the kernel's
 * order (`dma_guess_pool`): the zone hint of the coherent limit picks the
 * first pool (DMA, DMA32 or kernel), then kernel → DMA32 → DMA. Devices
 * behind `dma-ranges` are left out (empty): their hint depends on the
 * translation of an address outside the windows.
 * @see kernel/dma/pool.c dma_guess_pool
 */
export function atomicPoolChain(profile: PlatformProfile, dev: string, pools: readonly PoolFacts[]): PoolFacts[] {
  const iommu = deviceConfig(profile, dev).iommu !== null;
  if (deviceConfig(profile, dev).dmaRanges !== null && !iommu) return [];
  const pool = (n: string) => pools.find((g) => g.name === `atomic_pool_${n}`) ?? null;
  const [kernel, dma32, dma] = [pool('kernel'), pool('dma32'), pool('dma')];
  const limit = coherentLimit(profile, dev);
  const z = profile.zones;
  // dma-iommu passes no zone hint: the gfp (without zone bits) picks the kernel pool first.
  const hint = iommu ? 'kernel' : z.dmaEndPhys !== null && limit <= z.dmaEndPhys - 1 ? 'dma' : limit <= maskLimit(32) ? 'dma32' : 'kernel';
  const chain: PoolFacts[] = [];
  let next = hint === 'dma' ? (dma ?? dma32 ?? kernel) : hint === 'dma32' ? (dma32 ?? dma ?? kernel) : (kernel ?? dma32 ?? dma);
  while (next !== null && !chain.includes(next)) {
    chain.push(next);
    next = next === kernel ? (dma32 ?? dma) : next === dma32 ? dma : null;
  }
  return chain;
}

/** The pool an allocation for `dev` must come from: the device's own coherent pool (a board's carve-out), or null. */
export function devicePool(profile: PlatformProfile, dev: string): { readonly region: string; readonly basePhys: number; readonly sizeBytes: number } | null {
  const cfg = deviceConfig(profile, dev);
  return cfg.coherentPool === null ? null : { region: `coherent-pool:${dev}`, ...cfg.coherentPool };
}

/**
 * The global coherent pool Linux serves a non-coherent device's allocation
 * from (`CONFIG_DMA_GLOBAL_POOL`; NO_KERNEL_MAPPING buffers take the
 * direct path before it), or null.
 * @see kernel/dma/direct.c dma_direct_alloc
 */
export function globalPoolFor(profile: PlatformProfile, dev: string, attrs: number): { readonly region: string; readonly basePhys: number; readonly sizeBytes: number } | null {
  const cfg = deviceConfig(profile, dev);
  if (!profile.dma.globalPool || cfg.coherent || cfg.coherentPool !== null || profile.globalCoherentPool === null || (attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0) return null;
  return { region: 'global-pool', ...profile.globalCoherentPool };
}

/** `hex` of a page frame's first byte. */
export function pfnHex(pfn: number): string {
  return hex(pfn * PAGE_SIZE);
}

/**
 * Latitude: Linux's ARM32 IOMMU ops cannot share an atomic-pool buffer:
 * `__iommu_get_pages` has no page array for it (it hands back the first
 * page as if it were one), so `dma_mmap_attrs` and `dma_get_sgtable_attrs`
 * may fail for it (the model returns -ENXIO; arch/arm/mm/dma-mapping.c).
 */
export function linuxCannotShare(profile: PlatformProfile, dev: string, region: string | null): boolean {
  return profile.arch === 'arm' && deviceConfig(profile, dev).iommu !== null && region !== null && region.startsWith('pool:');
}
