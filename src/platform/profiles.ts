/**
 * Platform profiles: named machines as typed configs, with a validator whose
 * errors name the conflicting knobs.
 *
 * Not a kernel mirror. A profile gathers what a kernel engineer would read
 * off a board and a `.config`: RAM banks, zones, the kernel virtual address
 * layout, cache geometry, `ARCH_DMA_MINALIGN` and the kmalloc minimum
 * alignment, which DMA Kconfig options the arch selects, and the devices.
 * DESIGN.md "Profiles"; Documentation/core-api/dma-api-howto.rst "Platform
 * Issues"; kernel/dma/swiotlb.c and Documentation/core-api/swiotlb.rst
 * (swiotlb); kernel/dma/contiguous.c, kernel/dma/pool.c, kernel/dma/coherent.c
 * (CMA areas, the atomic pools' `coherent_pool=` size, per-device and global
 * coherent pools, all of them boot-time reservations a board describes).
 */
import type { MmioRegionConfig } from './mmio.ts';
import type { DmaRange } from './bus.ts';
import type { PartialLinePolicy } from './cache.ts';
import { DEVICE_DEFAULTS, type DeviceConfig, type ReservedRegion } from './device.ts';
import { validateIommuConfig } from './iommu.ts';
import type { RamBank } from './memory.ts';
import type { PageAttr, VaLayout } from './pgtable.ts';
import { PAGE_SIZE, hex, isPowerOfTwo, physAddr } from './types.ts';

/** Which table of `arch_sync_dma_for_device/_for_cpu` the arch uses (arch/arm64/mm/dma-mapping.c, arch/arm/mm/dma-mapping.c). */
export type ArchSyncName = 'none' | 'arm64' | 'arm64-pre-2022' | 'armv7';

/** The DMA-related Kconfig and arch choices of a profile. */
export interface ArchDmaConfig {
  /** Cache maintenance table; `none` means the arch has no sync hooks and every device is coherent. */
  readonly archSync: ArchSyncName;
  /** `CONFIG_DMA_DIRECT_REMAP`: non-coherent allocations are vmapped uncached. */
  readonly directRemap: boolean;
  /** `CONFIG_ARCH_HAS_DMA_ALLOC` (ARM32 with MMU): non-coherent allocations go to `arch_dma_alloc`. */
  readonly archHasDmaAlloc: boolean;
  /** `CONFIG_ARCH_HAS_DMA_SET_UNCACHED`: an uncached alias of the linear address is used. */
  readonly archHasSetUncached: boolean;
  /** `CONFIG_DMA_GLOBAL_POOL`: non-coherent allocations come only from the global coherent pool. */
  readonly globalPool: boolean;
  /** `CONFIG_ARCH_HAS_DMA_WRITE_COMBINE`: `DMA_ATTR_WRITE_COMBINE` gives a write-combine mapping. */
  readonly archHasDmaWriteCombine: boolean;
  /** What `pgprot_dmacoherent` gives: `write-combine` for arm64 Normal-NC and bufferable ARMv7, else `uncached`. */
  readonly dmacoherentAttr: PageAttr;
  /** `CONFIG_DMA_NONCOHERENT_MMAP`: non-coherent buffers may be mmapped. */
  readonly noncoherentMmap: boolean;
}

/**
 * The default software IO TLB of a profile (the `swiotlb=<slots>,<areas>,force`
 * boot option and Kconfig; kernel/dma/swiotlb.c `setup_io_tlb_npages`,
 * Documentation/core-api/swiotlb.rst). Slots are 2 KiB; a segment is 128
 * slots.
 */
export interface SwiotlbConfig {
  /** Slots of the boot-time pool, a multiple of 128 (the kernel's default is 32768, 64 MiB; profiles use small pools so that "full" happens). */
  readonly slots: number;
  /** Areas, a power of two with at least one 128-slot segment each. */
  readonly areas: number;
  /** `swiotlb=force` / `SWIOTLB_FORCE` (confidential-computing guests): every streaming mapping bounces. */
  readonly force: boolean;
  /** The pool must sit below 4 GiB (`memblock_alloc_low`, x86). */
  readonly low: boolean;
  /** `CONFIG_SWIOTLB_DYNAMIC`: a transient pool is tried when the pools are full. */
  readonly dynamic: boolean;
}

/**
 * One CMA area (mm/cma.c `struct cma`), reserved at boot: the default area
 * (`cma=` or DT `linux,cma-default`), a per-NUMA-node area (`numa_cma=`), or
 * a device's own area (DT `shared-dma-pool` with `reusable`, assigned through
 * `memory-region`). kernel/dma/contiguous.c `dma_alloc_contiguous`,
 * `rmem_cma_setup`; mm/cma.c `cma_alloc`.
 */
export interface CmaAreaConfig {
  readonly name: string;
  /** First byte; page-block aligned. */
  readonly basePhys: number;
  /** Bytes; a whole number of page blocks. */
  readonly sizeBytes: number;
  readonly kind: 'default' | 'numa' | 'device';
  /** Node of a `numa` area; null otherwise. */
  readonly node: number | null;
  /** Device of a `device` area; null otherwise. */
  readonly device: string | null;
}

/** A whole simulated machine. */
export interface PlatformProfile {
  readonly name: string;
  /** One line for `--help` and reports. */
  readonly description: string;
  readonly arch: 'x86-64' | 'arm64' | 'arm';
  /** Width of `phys_addr_t`/`dma_addr_t` and of kernel pointers. */
  readonly wordBits: 32 | 64;
  /** False for noMMU systems (no vmalloc, identity linear map). */
  readonly mmu: boolean;
  readonly ram: readonly RamBank[];
  readonly va: VaLayout;
  readonly zones: {
    /** Exclusive upper physical bound of ZONE_DMA (`zone_dma_limit + 1`); null = no ZONE_DMA. */
    readonly dmaEndPhys: number | null;
    /** True when ZONE_DMA32 exists (up to 4 GiB). */
    readonly dma32: boolean;
  };
  /** `MAX_PAGE_ORDER`: largest buddy block is `PAGE_SIZE << maxOrder` bytes. */
  readonly maxOrder: number;
  readonly cache: {
    readonly lineSizeBytes: number;
    readonly partialLinePolicy: PartialLinePolicy;
  };
  /** `ARCH_DMA_MINALIGN` in bytes; null when the arch does not define it (`dma_get_cache_alignment()` is 1). */
  readonly archDmaMinalignBytes: number | null;
  /** Smallest kmalloc alignment, bytes (`ARCH_KMALLOC_MINALIGN`, or smaller when swiotlb can bounce). */
  readonly kmallocMinAlignBytes: number;
  readonly dma: ArchDmaConfig;
  /**
   * Guest memory is encrypted (`cc_platform_has(CC_ATTR_MEM_ENCRYPT)`: an
   * SEV-SNP or TDX guest): pages are private until converted to shared, and
   * devices reach shared pages only.
   */
  readonly memEncrypt: boolean;
  /** The default swiotlb; null = `CONFIG_SWIOTLB` off (unreachable buffers fail to map). */
  readonly swiotlb: SwiotlbConfig | null;
  /** CMA areas; empty = `CONFIG_DMA_CMA` off or `cma=0`. */
  readonly cma: readonly CmaAreaConfig[];
  /** The `coherent_pool=` boot option, bytes; null = the default (128 KiB per GiB of RAM for dma-direct's atomic pools, 256 KiB for the ARM32 pool). */
  readonly coherentPoolBytes: number | null;
  /** The global coherent pool (DT `shared-dma-pool` with `linux,dma-default`), used with `dma.globalPool`; null = none. */
  readonly globalCoherentPool: ReservedRegion | null;
  readonly devices: readonly DeviceConfig[];
  /** Device MMIO a DMA engine can target with `dma_map_resource` (FIFOs, PCI BARs); empty = none. */
  readonly mmio: readonly MmioRegionConfig[];
}

/**
 * The DMA options of the machine's kernel command line, as a kernel booted
 * on this profile would be given them: `swiotlb=<slots>,<areas>[,force]`
 * (kernel/dma/swiotlb.c `setup_io_tlb_npages`) and `coherent_pool=<bytes>`
 * (kernel/dma/pool.c `early_coherent_pool`), each only when the profile sets
 * it. Backends that parse boot options (a compiled kernel) read it.
 */
export function kernelCmdline(p: PlatformProfile): string {
  const parts: string[] = [];
  if (p.swiotlb !== null) parts.push(`swiotlb=${p.swiotlb.slots},${p.swiotlb.areas}${p.swiotlb.force ? ',force' : ''}`);
  if (p.coherentPoolBytes !== null) parts.push(`coherent_pool=${p.coherentPoolBytes}`);
  return parts.join(' ');
}

/**
 * Bytes of one page block (`pageblock_nr_pages`): CMA areas are reserved in
 * whole page blocks. `pageblock_order` is the huge-page order (9 with 4 KiB
 * pages) or `MAX_PAGE_ORDER` when smaller.
 */
export function pageblockBytes(p: PlatformProfile): number {
  return PAGE_SIZE * 2 ** Math.min(9, p.maxOrder);
}

/** Every boot-time reservation the page allocator must leave alone: CMA areas, per-device coherent and restricted pools, the global pool. */
export function reservedRegions(p: PlatformProfile): { readonly what: string; readonly basePhys: number; readonly sizeBytes: number }[] {
  const out = p.cma.map((c) => ({ what: `cma ${c.name}`, basePhys: c.basePhys, sizeBytes: c.sizeBytes }));
  for (const d of p.devices) if (d.coherentPool !== null) out.push({ what: `coherent pool of ${d.name}`, ...d.coherentPool });
  for (const d of p.devices) if (d.restrictedDmaPool !== null) out.push({ what: `restricted-dma-pool of ${d.name}`, ...d.restrictedDmaPool });
  if (p.globalCoherentPool !== null) out.push({ what: 'global coherent pool', ...p.globalCoherentPool });
  return out;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function dev(
  c: Pick<DeviceConfig, 'name' | 'coherent' | 'addressBits'> & Partial<DeviceConfig>,
): DeviceConfig {
  return { ...DEVICE_DEFAULTS, ...c };
}

const bank = (start: number, size: number): RamBank => ({ startPhys: physAddr(start), sizeBytes: size });

/** x86-64: coherent devices, ZONE_DMA (16 MiB) and ZONE_DMA32, 64/32/24-bit devices. */
export const X86_64: PlatformProfile = {
  name: 'x86-64',
  description: 'coherent PCI devices, ZONE_DMA/DMA32, 64-, 32- and 24-bit masks',
  arch: 'x86-64',
  wordBits: 64,
  mmu: true,
  ram: [bank(0x10_0000, 3 * GiB - MiB), bank(4 * GiB, 4 * GiB)],
  va: {
    pageOffset: 2 ** 47,
    physOffset: 0,
    lowmemEndPhys: 2 ** 46,
    vmallocStart: 2 ** 47 + 2 ** 46,
    vmallocEnd: 2 ** 47 + 2 ** 46 + 2 ** 40,
    kmapBase: 0,
    kmapSlots: 0,
    vmemmapBase: 2 ** 45,
    uncachedAliasOffset: null,
  },
  zones: { dmaEndPhys: 16 * MiB, dma32: true },
  maxOrder: 10,
  cache: { lineSizeBytes: 64, partialLinePolicy: 'clean-invalidate' },
  memEncrypt: false,
  archDmaMinalignBytes: null,
  kmallocMinAlignBytes: 8,
  dma: {
    archSync: 'none',
    directRemap: false,
    archHasDmaAlloc: false,
    archHasSetUncached: false,
    globalPool: false,
    archHasDmaWriteCombine: false,
    dmacoherentAttr: 'uncached',
    noncoherentMmap: false,
  },
  // Below 4 GiB (memblock_alloc_low), so 32-bit devices reach it; a 24-bit device does not, and its bounce fails the post-check.
  swiotlb: { slots: 1024, areas: 2, force: false, low: true, dynamic: false },
  // Distribution kernels build CMA with cma=0 by default; dma-direct's atomic pools are only used for memory encryption here.
  cma: [],
  coherentPoolBytes: null,
  globalCoherentPool: null,
  devices: [
    dev({ name: 'nvme0', coherent: true, addressBits: 64, minAlignMask: 0xfff, maxSegmentSize: 0xffffffff }),
    dev({ name: 'nic0', coherent: true, addressBits: 32 }),
    dev({ name: 'isa0', coherent: true, addressBits: 24 }),
  ],
  mmio: [
    // A PCIe peer's memory BAR in the 32-bit hole: an NVMe controller memory buffer a DMA engine writes submission entries into (P2P DMA).
    { name: 'nvme-cmb', basePhys: 0xfe00_0000, sizeBytes: 64 * 1024, description: 'NVMe controller memory buffer (PCI BAR 2, P2P target)' },
  ],
};

/** arm64 SoC: non-coherent devices, a `dma-ranges` offset, Normal-NC remap. */
export const ARM64_SOC: PlatformProfile = {
  name: 'arm64-soc',
  description: 'non-coherent devices, dma-ranges offset, Normal-NC remap, ARCH_DMA_MINALIGN 128 over 64-byte lines',
  arch: 'arm64',
  wordBits: 64,
  mmu: true,
  ram: [bank(0x8000_0000, 2 * GiB), bank(0x8_8000_0000, 2 * GiB)],
  va: {
    pageOffset: 2 ** 51,
    physOffset: 0,
    lowmemEndPhys: 2 ** 46,
    vmallocStart: 2 ** 50,
    vmallocEnd: 2 ** 50 + 2 ** 40,
    kmapBase: 0,
    kmapSlots: 0,
    vmemmapBase: 2 ** 49,
    uncachedAliasOffset: null,
  },
  zones: { dmaEndPhys: 4 * GiB, dma32: false },
  maxOrder: 10,
  cache: { lineSizeBytes: 64, partialLinePolicy: 'clean-invalidate' },
  memEncrypt: false,
  archDmaMinalignBytes: 128,
  // Below ARCH_DMA_MINALIGN since v6.5: swiotlb bounces small kmalloc buffers of non-coherent devices (dma_kmalloc_needs_bounce).
  kmallocMinAlignBytes: 8,
  dma: {
    archSync: 'arm64',
    directRemap: true,
    archHasDmaAlloc: false,
    archHasSetUncached: false,
    globalPool: false,
    archHasDmaWriteCombine: false,
    dmacoherentAttr: 'write-combine',
    noncoherentMmap: true,
  },
  swiotlb: { slots: 512, areas: 2, force: false, low: true, dynamic: true },
  cma: [
    // linux,cma-default in ZONE_DMA (arm64 places it below the DMA limit), a numa_cma= area on node 1, and isp0's own reusable pool.
    { name: 'reserved', basePhys: 0xb000_0000, sizeBytes: 16 * MiB, kind: 'default', node: null, device: null },
    { name: 'isp0-cma', basePhys: 0xb100_0000, sizeBytes: 8 * MiB, kind: 'device', node: null, device: 'isp0' },
    { name: 'numa1', basePhys: 0x8_f000_0000, sizeBytes: 8 * MiB, kind: 'numa', node: 1, device: null },
  ],
  // coherent_pool=128K: small atomic pools, so that pressure and the deferred expansion happen.
  coherentPoolBytes: 128 * 1024,
  globalCoherentPool: null,
  devices: [
    dev({
      name: 'vpu0',
      coherent: false,
      addressBits: 32,
      dmaRanges: [{ cpuStartPhys: 0x8000_0000, dmaStart: 0, sizeBytes: 2 * GiB }],
    }),
    dev({ name: 'gpu0', coherent: false, addressBits: 40, numaNode: 1 }),
    dev({ name: 'pcie0', coherent: true, addressBits: 64 }),
    // A DT restricted-dma-pool (512 KiB, 256 slots): all its DMA goes through its own swiotlb there, and it reaches nothing else.
    dev({ name: 'wifi0', coherent: true, addressBits: 32, restrictedDmaPool: { basePhys: 0xb200_0000, sizeBytes: 512 * 1024 } }),
    // A camera ISP with its own reusable CMA area (shared-dma-pool, reusable).
    dev({ name: 'isp0', coherent: false, addressBits: 32 }),
    // A DSP with a no-map shared-dma-pool carveout: its coherent allocations come only from there (kernel/dma/coherent.c `dma_alloc_from_dev_coherent`).
    dev({ name: 'dsp0', coherent: false, addressBits: 32, coherentPool: { basePhys: 0xb180_0000, sizeBytes: 256 * 1024 } }),
  ],
  mmio: [
    // QEMU virt's PL011 UART (the data register a PL330 DMA engine feeds), identity-mapped for the engines without dma-ranges offsets.
    { name: 'uart0-fifo', basePhys: 0x0900_0000, sizeBytes: 4096, description: 'PL011 UART data FIFO (QEMU virt, 0x09000000)' },
  ],
};

/** ARMv7 with highmem: 32-bit, 768 MiB lowmem, 256 MiB highmem, ARM32 arch allocator. */
export const ARMV7_HIGHMEM: PlatformProfile = {
  name: 'armv7-highmem',
  description: '32-bit ARMv7, highmem, arch_dma_alloc, ARM32 cache maintenance',
  arch: 'arm',
  wordBits: 32,
  mmu: true,
  ram: [bank(0x8000_0000, 1 * GiB)],
  va: {
    pageOffset: 0xc000_0000,
    physOffset: 0x8000_0000,
    lowmemEndPhys: 0xb000_0000,
    vmallocStart: 0xf000_0000,
    vmallocEnd: 0xff80_0000,
    kmapBase: 0xffc0_0000,
    kmapSlots: 16,
    vmemmapBase: 0xbf00_0000,
    uncachedAliasOffset: null,
  },
  zones: { dmaEndPhys: null, dma32: false },
  maxOrder: 10,
  cache: { lineSizeBytes: 64, partialLinePolicy: 'clean-invalidate' },
  memEncrypt: false,
  archDmaMinalignBytes: 64,
  kmallocMinAlignBytes: 64,
  dma: {
    archSync: 'armv7',
    directRemap: false,
    archHasDmaAlloc: true,
    archHasSetUncached: false,
    globalPool: false,
    archHasDmaWriteCombine: false,
    dmacoherentAttr: 'write-combine',
    noncoherentMmap: true,
  },
  swiotlb: null,
  // A default CMA area in highmem (DT linux,cma-default above the lowmem line): its pages have no linear address.
  cma: [{ name: 'reserved', basePhys: 0xb800_0000, sizeBytes: 16 * MiB, kind: 'default', node: null, device: null }],
  // ARM32's own atomic pool (arch/arm/mm/dma-mapping.c), default 256 KiB.
  coherentPoolBytes: null,
  globalCoherentPool: null,
  devices: [
    dev({ name: 'mmc0', coherent: false, addressBits: 32 }),
    dev({ name: 'dmac0', coherent: false, addressBits: 32, maxSegmentSize: 0x1_0000 }),
  ],
  mmio: [
    // i.MX6 UART1, whose RX/TX FIFOs the SDMA engine serves.
    { name: 'uart1-fifo', basePhys: 0x0202_0000, sizeBytes: 4096, description: 'i.MX6 UART1 FIFO (0x02020000)' },
  ],
};

/** ARMv7 without MMU: caches on, RAM aliased uncached at a fixed offset (seed 001). */
export const ARMV7_NOMMU: PlatformProfile = {
  name: 'armv7-nommu',
  description: 'noMMU ARMv7 with caches, RAM aliased uncached at +0x10000000, global coherent pool',
  arch: 'arm',
  wordBits: 32,
  mmu: false,
  ram: [bank(0x6000_0000, 64 * MiB)],
  va: {
    pageOffset: 0x6000_0000,
    physOffset: 0x6000_0000,
    lowmemEndPhys: 0x6400_0000,
    vmallocStart: 0,
    vmallocEnd: 0,
    kmapBase: 0,
    kmapSlots: 0,
    vmemmapBase: 0x9000_0000,
    uncachedAliasOffset: 0x1000_0000,
  },
  zones: { dmaEndPhys: null, dma32: false },
  maxOrder: 10,
  cache: { lineSizeBytes: 32, partialLinePolicy: 'clean-invalidate' },
  memEncrypt: false,
  archDmaMinalignBytes: 32,
  kmallocMinAlignBytes: 32,
  dma: {
    archSync: 'armv7',
    directRemap: false,
    archHasDmaAlloc: false,
    archHasSetUncached: false,
    globalPool: true,
    archHasDmaWriteCombine: false,
    dmacoherentAttr: 'uncached',
    noncoherentMmap: false,
  },
  swiotlb: null,
  cma: [],
  coherentPoolBytes: null,
  // DT shared-dma-pool with linux,dma-default: the only source of non-coherent allocations, accessed through the uncached alias.
  globalCoherentPool: { basePhys: 0x6300_0000, sizeBytes: 1 * MiB },
  devices: [dev({ name: 'dmac0', coherent: false, addressBits: 32 })],
  mmio: [
    // STM32F7 SPI2, fed by a DMA stream.
    { name: 'spi2-fifo', basePhys: 0x4000_3800, sizeBytes: 1024, description: 'STM32F7 SPI2 data register (0x40003800)' },
  ],
};

/**
 * A confidential-computing guest (SEV-SNP / TDX style) on x86-64: guest
 * memory is private and devices reach only shared pages, so every streaming
 * mapping bounces through the shared swiotlb (`SWIOTLB_FORCE`), coherent
 * allocations are decrypted (and non-blocking ones come from the atomic
 * pools, which exist for that), and an NVMe-like device keeps its
 * `min_align_mask` bits in the bounce address.
 */
export const CC_GUEST: PlatformProfile = {
  ...X86_64,
  name: 'cc-guest',
  description: 'confidential-computing guest: private memory, every streaming mapping bounces through swiotlb, NVMe min_align_mask',
  memEncrypt: true,
  ram: [bank(0x10_0000, 2 * GiB - MiB), bank(4 * GiB, 2 * GiB)],
  swiotlb: { slots: 512, areas: 2, force: true, low: true, dynamic: false },
  devices: [
    dev({ name: 'nvme0', coherent: true, addressBits: 64, minAlignMask: 0xfff, maxSegmentSize: 0xffffffff }),
    dev({ name: 'virtio0', coherent: true, addressBits: 64 }),
    dev({ name: 'nic0', coherent: true, addressBits: 32, segmentBoundaryMask: 0xffff }),
  ],
};

/**
 * The x86-64 guest `dmacheck kernel-check` boots in QEMU (512 MiB,
 * `swiotlb=2048,force`, one CPU so one swiotlb area) with the three
 * platform devices of its module: not one of the run's profiles, it exists
 * for the differential run only. QEMU models no CPU caches and every device
 * is coherent on x86.
 */
export const QEMU_X86_64: PlatformProfile = {
  ...X86_64,
  name: 'qemu-x86-64',
  description: 'the QEMU guest of kernel-check: 512 MiB, swiotlb=2048,force, coherent platform devices',
  ram: [bank(0x10_0000, 511 * MiB)],
  swiotlb: { slots: 2048, areas: 1, force: true, low: true, dynamic: false },
  devices: [
    dev({ name: 'nvme0', coherent: true, addressBits: 64, minAlignMask: 0xfff, maxSegmentSize: 0xffffffff }),
    dev({ name: 'virtio0', coherent: true, addressBits: 64 }),
    dev({ name: 'nic0', coherent: true, addressBits: 32, segmentBoundaryMask: 0xffff }),
  ],
};

/**
 * A 32-bit Exynos-like SoC of the seed threads' era: highmem, ARM32's
 * allocator for the plain DMA master, and a 2D engine behind a System MMU
 * driven by ARM's own IOMMU ops (`arm_iommu_attach_device`, arch/arm/mm/
 * dma-mapping.c): page-array allocations, the page array as the cookie of
 * `DMA_ATTR_NO_KERNEL_MAPPING` buffers, and the atomic pool for
 * non-blocking requests (seeds 002 and 004).
 */
export const ARMV7_IOMMU: PlatformProfile = {
  ...ARMV7_HIGHMEM,
  name: 'armv7-iommu',
  description: '32-bit ARMv7 with highmem and a System MMU driven by the ARM32 IOMMU ops (page arrays, cookie page arrays, atomic pool)',
  devices: [
    ...ARMV7_HIGHMEM.devices.filter((d) => d.name === 'mmc0'),
    // Exynos G2D behind its SysMMU; its IOVA window is the platform's (0x20000000, 256 MiB).
    dev({ name: 'g2d0', coherent: false, addressBits: 32, maxSegmentSize: 0x10000, iommu: { granuleBytes: 4096, apertureBits: 32, strict: true, flushQueueSize: 256 } }),
  ],
};

/**
 * An arm64 server/SoC where every DMA master sits behind an SMMUv3: the
 * DMA address is an IOVA (drivers/iommu/dma-iommu.c), never a physical
 * address. Devices cover the cases that change dma-iommu's answers: 4 KiB
 * and 64 KiB granules, coherent and non-coherent masters, strict and lazy
 * (flush-queue) invalidation, an untrusted external PCIe device whose
 * mappings bounce, a 32-bit master (so the IOVA limit and the atomic pool
 * matter), and a PCIe root port whose `dma-ranges` leave holes that are
 * reserved in the IOVA space.
 */
export const ARM64_SMMU: PlatformProfile = {
  ...ARM64_SOC,
  name: 'arm64-smmu',
  description: 'every device behind an SMMU (dma-iommu): 4K/64K granules, strict and lazy invalidation, an untrusted PCIe device that bounces',
  ram: [bank(0x8000_0000, 2 * GiB), bank(0x8_8000_0000, 2 * GiB)],
  cma: [{ name: 'reserved', basePhys: 0xb000_0000, sizeBytes: 16 * MiB, kind: 'default', node: null, device: null }],
  coherentPoolBytes: 128 * 1024,
  devices: [
    // A non-coherent GPU with a 4 KiB-granule stage-1 domain, strict invalidation; its DMA engine takes segments of at most 32 KiB within 64 KiB windows, so sg merging meets both limits.
    dev({ name: 'gpu0', coherent: false, addressBits: 40, maxSegmentSize: 0x8000, segmentBoundaryMask: 0xffff, iommu: { granuleBytes: 4096, apertureBits: 48, strict: true, flushQueueSize: 256 } }),
    // An NVMe behind a PCIe root port: coherent, lazy invalidation with a small flush queue, inbound windows below 2 GiB and from 4 GiB (the hole and everything above 1 TiB reserved).
    dev({
      name: 'nvme0',
      coherent: true,
      addressBits: 64,
      maxSegmentSize: 0xffffffff,
      dmaRanges: [
        { cpuStartPhys: 0x10_0000, dmaStart: 0x10_0000, sizeBytes: 2 * GiB - MiB },
        { cpuStartPhys: 4 * GiB, dmaStart: 4 * GiB, sizeBytes: 1024 * GiB - 4 * GiB },
      ],
      iommu: { granuleBytes: 4096, apertureBits: 48, strict: false, flushQueueSize: 8 },
    }),
    // A Thunderbolt-attached NIC: untrusted, so strict and every unaligned mapping bounces through swiotlb.
    dev({ name: 'tbt0', coherent: true, addressBits: 64, trusted: false, segmentBoundaryMask: 0xffff, iommu: { granuleBytes: 4096, apertureBits: 48, strict: true, flushQueueSize: 256 } }),
    // A non-coherent 32-bit video engine whose SMMU context uses 64 KiB pages, lazy: IOVAs below 4 GiB, granule-sized mappings.
    dev({ name: 'vpu0', coherent: false, addressBits: 32, maxSegmentSize: 0x10_0000, iommu: { granuleBytes: 65536, apertureBits: 32, strict: false, flushQueueSize: 16 } }),
  ],
};

/** Every built-in profile, by name. */
export const PROFILES: Readonly<Record<string, PlatformProfile>> = {
  [X86_64.name]: X86_64,
  [ARM64_SOC.name]: ARM64_SOC,
  [ARM64_SMMU.name]: ARM64_SMMU,
  [ARMV7_HIGHMEM.name]: ARMV7_HIGHMEM,
  [ARMV7_IOMMU.name]: ARMV7_IOMMU,
  [ARMV7_NOMMU.name]: ARMV7_NOMMU,
  [CC_GUEST.name]: CC_GUEST,
};

/** A profile that failed validation; `errors` has one line per conflict. */
export class ProfileError extends Error {
  constructor(
    readonly profile: string,
    readonly errors: readonly string[],
  ) {
    super(`profile ${profile} is invalid:\n  ${errors.join('\n  ')}`);
    this.name = 'ProfileError';
  }
}

/** Profiles loaded from files (`--profile-file`), by name. */
const userProfiles = new Map<string, PlatformProfile>();

/**
 * Make a user's profile (validated with `validateProfile`) known by name,
 * beside the built-in ones. A built-in name cannot be replaced.
 * @throws Error naming the profile when it shadows a built-in one
 */
export function registerProfile(p: PlatformProfile): void {
  if (PROFILES[p.name] !== undefined) throw new Error(`profile ${p.name}: a built-in profile has that name`);
  userProfiles.set(p.name, p);
}

/** Every known profile name: the built-in ones, then the registered ones. */
export function profileNames(): string[] {
  return [...Object.keys(PROFILES), ...userProfiles.keys()];
}

/** Look up a profile, built-in or registered; throws with the accepted names when unknown. */
export function getProfile(name: string): PlatformProfile {
  const p = PROFILES[name] ?? userProfiles.get(name);
  if (p === undefined) throw new Error(`unknown profile '${name}': accepted are ${profileNames().join(', ')}`);
  return p;
}

const overlaps = (a0: number, a1: number, b0: number, b1: number): boolean => a0 < b1 && b0 < a1;

/**
 * Check a profile for impossible or conflicting settings.
 * @returns one line per problem, naming the knobs involved; empty when valid
 */
export function validateProfile(p: PlatformProfile): string[] {
  const e: string[] = [];
  const top = p.wordBits === 32 ? 2 ** 32 : 2 ** 52;
  // RAM
  if (p.ram.length === 0) e.push('ram: at least one bank is needed');
  p.ram.forEach((b, i) => {
    if (b.startPhys % PAGE_SIZE !== 0 || b.sizeBytes % PAGE_SIZE !== 0 || b.sizeBytes <= 0) {
      e.push(`ram[${i}]: startPhys=${hex(b.startPhys)} sizeBytes=${b.sizeBytes} must be whole pages`);
    }
    if (b.startPhys + b.sizeBytes > top) e.push(`ram[${i}]: ends at ${hex(b.startPhys + b.sizeBytes)}, beyond the ${p.wordBits}-bit physical space`);
    const prev = p.ram[i - 1];
    if (prev !== undefined && prev.startPhys + prev.sizeBytes > b.startPhys) {
      e.push(`ram[${i - 1}] and ram[${i}] overlap or are not sorted`);
    }
  });
  // MMIO: not RAM, inside the physical space, unique names
  p.mmio.forEach((r, i) => {
    if (!(r.sizeBytes > 0) || r.basePhys < 0 || r.basePhys + r.sizeBytes > top) e.push(`mmio[${i}] ${r.name}: basePhys=${hex(r.basePhys)} sizeBytes=${r.sizeBytes} must be a non-empty range of the ${p.wordBits}-bit physical space`);
    if (p.ram.some((b) => r.basePhys < b.startPhys + b.sizeBytes && b.startPhys < r.basePhys + r.sizeBytes)) e.push(`mmio[${i}] ${r.name}: overlaps RAM (MMIO is not RAM)`);
    if (p.mmio.findIndex((x) => x.name === r.name) !== i) e.push(`mmio[${i}]: the name ${r.name} is taken`);
  });
  const ramStart = p.ram[0]?.startPhys ?? 0;
  const last = p.ram[p.ram.length - 1];
  const ramEnd = last === undefined ? 0 : last.startPhys + last.sizeBytes;
  // Virtual layout
  const v = p.va;
  if (v.physOffset > ramStart) e.push(`va.physOffset=${hex(v.physOffset)} is above the first RAM bank ${hex(ramStart)}`);
  const linearEnd = v.pageOffset + (Math.min(v.lowmemEndPhys, ramEnd) - v.physOffset);
  if (linearEnd > top) e.push(`va.pageOffset=${hex(v.pageOffset)}: the linear map ends beyond the address space`);
  if (v.vmallocEnd < v.vmallocStart) e.push('va.vmallocEnd is below va.vmallocStart');
  if (overlaps(v.pageOffset, linearEnd, v.vmallocStart, v.vmallocEnd)) e.push('va: the vmalloc area overlaps the linear map');
  if (v.kmapSlots > 0 && overlaps(v.pageOffset, linearEnd, v.kmapBase, v.kmapBase + v.kmapSlots * PAGE_SIZE)) {
    e.push('va: the kmap window overlaps the linear map');
  }
  const vmemmapEnd = v.vmemmapBase + ((ramEnd - v.physOffset) / PAGE_SIZE) * 64;
  for (const [name, w0, w1] of [
    ['linear map', v.pageOffset, linearEnd],
    ['vmalloc area', v.vmallocStart, v.vmallocEnd],
    ['kmap window', v.kmapBase, v.kmapBase + v.kmapSlots * PAGE_SIZE],
  ] as const) {
    if (overlaps(v.vmemmapBase, vmemmapEnd, w0, w1)) e.push(`va.vmemmapBase=${hex(v.vmemmapBase)}: the vmemmap overlaps the ${name}`);
  }
  if (v.uncachedAliasOffset !== null) {
    const a0 = v.physOffset + v.uncachedAliasOffset;
    const a1 = Math.min(v.lowmemEndPhys, ramEnd) + v.uncachedAliasOffset;
    if (overlaps(v.pageOffset, linearEnd, a0, a1)) e.push('va.uncachedAliasOffset: the alias window overlaps the linear map');
  }
  const hasHighmem = v.lowmemEndPhys < ramEnd;
  if (hasHighmem && p.wordBits === 64) e.push(`va.lowmemEndPhys=${hex(v.lowmemEndPhys)}: highmem exists only on 32-bit profiles (wordBits=64)`);
  if (hasHighmem && v.kmapSlots === 0) e.push('va.kmapSlots=0: highmem pages need a kmap window for temporary mappings');
  // MMU
  if (!p.mmu) {
    if (v.vmallocEnd > v.vmallocStart) e.push('mmu=false conflicts with a vmalloc area (va.vmallocStart..vmallocEnd)');
    if (p.dma.directRemap) e.push('mmu=false conflicts with dma.directRemap=true (vmap needs an MMU)');
    if (p.dma.archHasDmaAlloc) e.push('mmu=false conflicts with dma.archHasDmaAlloc=true (ARM selects ARCH_HAS_DMA_ALLOC only with MMU)');
    if (v.pageOffset !== v.physOffset) e.push('mmu=false requires va.pageOffset == va.physOffset (identity mapping)');
  } else if (p.dma.directRemap && v.vmallocEnd <= v.vmallocStart) {
    e.push('dma.directRemap=true needs a vmalloc area (va.vmallocStart..vmallocEnd is empty)');
  }
  // Zones
  if (p.zones.dmaEndPhys !== null && (p.zones.dmaEndPhys <= ramStart || p.zones.dmaEndPhys > 4 * GiB)) {
    e.push(`zones.dmaEndPhys=${hex(p.zones.dmaEndPhys)}: ZONE_DMA must end above the first RAM byte and at or below 4 GiB`);
  }
  if (p.zones.dma32 && p.wordBits === 32) e.push('zones.dma32=true: ZONE_DMA32 exists only on 64-bit profiles');
  if (!Number.isInteger(p.maxOrder) || p.maxOrder < 0 || p.maxOrder > 12) e.push(`maxOrder=${p.maxOrder}: accepted is 0..12`);
  // Cache and alignment
  const line = p.cache.lineSizeBytes;
  if (!isPowerOfTwo(line) || line < 16 || line > 256) e.push(`cache.lineSizeBytes=${line}: accepted is a power of two in 16..256`);
  const minalign = p.archDmaMinalignBytes;
  if (minalign !== null && (!isPowerOfTwo(minalign) || minalign < line)) {
    e.push(`archDmaMinalignBytes=${minalign} must be a power of two ≥ cache.lineSizeBytes=${line} (R11)`);
  }
  if (p.dma.archSync !== 'none' && minalign === null) e.push(`dma.archSync=${p.dma.archSync} needs archDmaMinalignBytes (non-coherent DMA needs ARCH_DMA_MINALIGN)`);
  const kmin = p.kmallocMinAlignBytes;
  if (!isPowerOfTwo(kmin) || kmin < 8) e.push(`kmallocMinAlignBytes=${kmin}: accepted is a power of two ≥ 8`);
  // DMA Kconfig
  const d = p.dma;
  if (d.archHasDmaAlloc && d.globalPool) e.push('dma.archHasDmaAlloc and dma.globalPool are exclusive (one non-coherent allocator)');
  if (d.archSync === 'none' && (d.directRemap || d.archHasDmaAlloc || d.globalPool || d.archHasSetUncached)) {
    e.push('dma.archSync=none (all devices coherent) conflicts with a non-coherent allocator option');
  }
  if (p.arch === 'arm64' && !d.archSync.startsWith('arm64')) e.push(`dma.archSync=${d.archSync} does not fit arch=arm64`);
  if (p.arch === 'arm' && d.archSync !== 'armv7') e.push(`dma.archSync=${d.archSync} does not fit arch=arm`);
  // Devices
  const names = new Set<string>();
  p.devices.forEach((dv, i) => {
    const at = `devices[${i}] (${dv.name})`;
    if (names.has(dv.name)) e.push(`${at}: duplicate name`);
    names.add(dv.name);
    if (!/^[a-z][a-z0-9_-]*$/.test(dv.name)) e.push(`${at}: name must match [a-z][a-z0-9_-]*`);
    if (!Number.isInteger(dv.addressBits) || dv.addressBits < 12 || dv.addressBits > 64) e.push(`${at}: addressBits=${dv.addressBits}: accepted is 12..64`);
    if (!dv.coherent && d.archSync === 'none') {
      e.push(`${at}: coherent=false conflicts with dma.archSync=none (this arch has no cache maintenance hooks)`);
    }
    if (dv.minAlignMask !== 0 && !isPowerOfTwo(dv.minAlignMask + 1)) e.push(`${at}: minAlignMask=${hex(dv.minAlignMask)} must be 2^n - 1`);
    if (!isPowerOfTwo(dv.segmentBoundaryMask + 1)) e.push(`${at}: segmentBoundaryMask=${hex(dv.segmentBoundaryMask)} must be 2^n - 1`);
    if (!(dv.maxSegmentSize >= PAGE_SIZE)) e.push(`${at}: maxSegmentSize=${dv.maxSegmentSize} must be at least one page`);
    const ranges: readonly DmaRange[] = dv.dmaRanges ?? [];
    ranges.forEach((r, j) => {
      if (!(r.sizeBytes > 0)) e.push(`${at}: dmaRanges[${j}].sizeBytes must be > 0`);
      ranges.slice(0, j).forEach((q, k) => {
        if (overlaps(q.cpuStartPhys, q.cpuStartPhys + q.sizeBytes, r.cpuStartPhys, r.cpuStartPhys + r.sizeBytes)) {
          e.push(`${at}: dmaRanges[${k}] and dmaRanges[${j}] overlap on the CPU side`);
        }
      });
    });
    if (dv.dmaRanges !== null && dv.dmaRanges.length === 0) e.push(`${at}: dmaRanges=[] would make all memory unreachable; use null for identity`);
    if (dv.iommu !== null) {
      e.push(...validateIommuConfig(dv.iommu, `${at}: iommu`));
      if (p.arch === 'x86-64') e.push(`${at}: iommu is modelled on arch=arm64 (dma-iommu) and arch=arm (the ARM32 IOMMU ops) only`);
      if (p.arch === 'arm' && (dv.iommu.granuleBytes !== 4096 || !dv.iommu.strict || !dv.trusted)) e.push(`${at}: the ARM32 IOMMU ops map 4 KiB pages, strictly, for trusted devices only`);
      if (dv.restrictedDmaPool !== null || dv.coherentPool !== null) e.push(`${at}: iommu conflicts with a reserved-memory pool of the device`);
      if (!dv.trusted && p.swiotlb === null) e.push(`${at}: an untrusted device behind an IOMMU bounces through swiotlb (swiotlb=null)`);
    } else if (!dv.trusted) e.push(`${at}: trusted=false is modelled behind an IOMMU only (iommu=null)`);
  });
  if (p.devices.length === 0) e.push('devices: at least one device is needed');
  // swiotlb (slots are 2 KiB, segments 128 slots)
  const t = p.swiotlb;
  if (t !== null) {
    if (!Number.isInteger(t.slots) || t.slots < 128 || t.slots % 128 !== 0) e.push(`swiotlb.slots=${t.slots}: a positive multiple of 128 is accepted`);
    if (!isPowerOfTwo(t.areas)) e.push(`swiotlb.areas=${t.areas}: a power of two is accepted`);
    else if (t.slots / t.areas < 128) e.push(`swiotlb.areas=${t.areas}: each area needs at least one 128-slot segment (swiotlb.slots=${t.slots})`);
    if (t.slots * 2048 > PAGE_SIZE << p.maxOrder) e.push(`swiotlb.slots=${t.slots}: ${t.slots * 2048} bytes exceed the largest page block (maxOrder=${p.maxOrder})`);
    if (!p.mmu) e.push('swiotlb needs an MMU profile here (mmu=false)');
  }
  if (minalign !== null && kmin < minalign && p.devices.some((dv) => !dv.coherent) && t === null) {
    e.push(`kmallocMinAlignBytes=${kmin} is below archDmaMinalignBytes=${minalign} with non-coherent devices: small kmalloc buffers need swiotlb to bounce (swiotlb=null)`);
  }
  p.devices.forEach((dv, i) => {
    const r = dv.restrictedDmaPool;
    if (r === null) return;
    const at = `devices[${i}] (${dv.name}): restrictedDmaPool`;
    if (r.basePhys % 2048 !== 0 || r.sizeBytes % (2048 * 128) !== 0 || !(r.sizeBytes > 0)) e.push(`${at}: basePhys=${hex(r.basePhys)} sizeBytes=${r.sizeBytes}: accepted is a base on a 2 KiB slot and whole 128-slot segments`);
    if (r.basePhys + r.sizeBytes > v.lowmemEndPhys) e.push(`${at}: must lie in lowmem (below ${hex(v.lowmemEndPhys)})`);
    if (dv.coherentPool !== null) e.push(`${at}: conflicts with coherentPool (one reserved-memory region per device)`);
  });
  if (p.memEncrypt && (p.arch !== 'x86-64' || p.swiotlb === null || !p.swiotlb.force)) e.push('memEncrypt=true needs arch=x86-64 and a forced swiotlb (swiotlb.force=true): devices reach only shared memory');
  validateReservations(p, e);
  return e;
}

/** CMA areas, coherent pools and `coherent_pool=`: alignment, placement in RAM and in one zone, no overlaps, known devices. */
function validateReservations(p: PlatformProfile, e: string[]): void {
  const block = pageblockBytes(p);
  const inRam = (base: number, size: number) => p.ram.some((b) => base >= b.startPhys && base + size <= b.startPhys + b.sizeBytes);
  const cuts = [p.zones.dmaEndPhys, p.zones.dma32 ? 4 * GiB : null, p.va.lowmemEndPhys].filter((x): x is number => x !== null);
  const names = new Set(p.devices.map((d) => d.name));
  const seen = { default: 0, device: new Set<string>(), node: new Set<number>() };
  p.cma.forEach((c, i) => {
    const at = `cma[${i}] (${c.name})`;
    if (!(c.sizeBytes > 0) || c.basePhys % block !== 0 || c.sizeBytes % block !== 0) e.push(`${at}: basePhys=${hex(c.basePhys)} sizeBytes=${c.sizeBytes} must be whole page blocks of ${block} bytes`);
    if (!inRam(c.basePhys, c.sizeBytes)) e.push(`${at}: [${hex(c.basePhys)}, ${hex(c.basePhys + c.sizeBytes)}) is not inside one RAM bank`);
    const cut = cuts.find((x) => c.basePhys < x && x < c.basePhys + c.sizeBytes);
    if (cut !== undefined) e.push(`${at}: crosses the zone boundary at ${hex(cut)} (a CMA area lies in one zone)`);
    if (c.kind === 'default' && ++seen.default > 1) e.push(`${at}: a second default area (kind=default)`);
    if (c.kind === 'device') {
      if (c.device === null || !names.has(c.device)) e.push(`${at}: kind=device needs device= one of ${[...names].join(', ')} (got ${c.device})`);
      else if (seen.device.has(c.device)) e.push(`${at}: device ${c.device} already has a CMA area`);
      else seen.device.add(c.device);
    } else if (c.device !== null) e.push(`${at}: device=${c.device} is only accepted with kind=device`);
    if (c.kind === 'numa') {
      if (c.node === null || !Number.isInteger(c.node) || c.node < 0) e.push(`${at}: kind=numa needs node= a node number ≥ 0`);
      else if (seen.node.has(c.node)) e.push(`${at}: node ${c.node} already has an area`);
      else seen.node.add(c.node);
    } else if (c.node !== null) e.push(`${at}: node=${c.node} is only accepted with kind=numa`);
  });
  const regions = reservedRegions(p);
  for (const r of regions) {
    if (r.basePhys % PAGE_SIZE !== 0 || r.sizeBytes % PAGE_SIZE !== 0 || !(r.sizeBytes > 0)) e.push(`${r.what}: basePhys=${hex(r.basePhys)} sizeBytes=${r.sizeBytes} must be whole pages`);
    else if (!inRam(r.basePhys, r.sizeBytes)) e.push(`${r.what}: [${hex(r.basePhys)}, ${hex(r.basePhys + r.sizeBytes)}) is not inside one RAM bank`);
  }
  regions.forEach((a, i) => {
    for (const b of regions.slice(i + 1)) if (overlaps(a.basePhys, a.basePhys + a.sizeBytes, b.basePhys, b.basePhys + b.sizeBytes)) e.push(`${a.what} and ${b.what} overlap`);
  });
  if (p.globalCoherentPool !== null && !p.dma.globalPool) e.push('globalCoherentPool is set but dma.globalPool=false (CONFIG_DMA_GLOBAL_POOL is off)');
  const cp = p.coherentPoolBytes;
  if (cp !== null && (!Number.isInteger(cp) || cp < PAGE_SIZE || cp % PAGE_SIZE !== 0 || cp > PAGE_SIZE * 2 ** p.maxOrder)) {
    e.push(`coherentPoolBytes=${cp}: accepted is a whole number of pages up to one max-order block (${PAGE_SIZE * 2 ** p.maxOrder})`);
  }
}

/** Profiles already found valid (profiles are immutable data; a harness builds one machine per sequence). */
const validated = new WeakSet<PlatformProfile>();

/** Throw {@link ProfileError} unless the profile is valid. */
export function assertValidProfile(p: PlatformProfile): void {
  if (validated.has(p)) return;
  const errors = validateProfile(p);
  if (errors.length > 0) throw new ProfileError(p.name, errors);
  validated.add(p);
}

/** True when some RAM of `p` lies above the linear map (`CONFIG_HIGHMEM` with highmem pages). */
export function hasHighmem(p: PlatformProfile): boolean {
  return p.ram.some((b) => b.startPhys + b.sizeBytes > p.va.lowmemEndPhys);
}
