/**
 * swiotlb (kernel/dma/swiotlb.c, include/linux/swiotlb.h): the software IO
 * TLB. When a device cannot reach a buffer, or must not (a confidential
 * guest, a restricted-dma-pool device, a small kmalloc buffer that shares a
 * cache line), dma-direct copies the buffer through a bounce buffer taken
 * from a pool of 2 KiB slots the device can reach. See
 * Documentation/core-api/swiotlb.rst, kernel/dma/swiotlb.c (`swiotlb_alloc`,
 * `swiotlb_tbl_map_single`, `swiotlb_bounce`) and kernel/dma/direct.h
 * (`dma_direct_map_phys`, `dma_direct_sync_single_for_device/_for_cpu`).
 *
 * The pool (`io_tlb_pool`) is split into power-of-two areas, each with its
 * own rotating search index and used count; its slots are grouped in
 * 128-slot segments that no allocation crosses. Each slot keeps the length
 * of the free run from it to the end of its segment (`list`), the original
 * address it shadows (`orig_addr`), the bytes left in the allocation from it
 * (`alloc_size`), and, on the first real slot of an allocation, how many pad
 * slots precede it (`pad_slots`).
 *
 * Copies go through the CPU (`memcpy` through the linear map, `kmap_local`
 * for highmem originals), so on non-coherent devices the cache maintenance
 * of the bounce slot in dma-direct's order is what makes them visible.
 *
 * Not modelled: `swiotlb_update_mem_attributes` (no profile encrypts memory;
 * a CC guest is modelled by its forced bouncing), the debugfs files, and
 * the background growth worker of `CONFIG_SWIOTLB_DYNAMIC` (transient pools
 * are modelled).
 */
import {
  type CpuAddr,
  type DmaAddr,
  type PhysAddr,
  PAGE_SIZE,
  getOrder,
  hex,
  maskLimit,
  minNotZero,
  pagesFor,
  pfnToPhys,
  physToPfn,
} from '../../../platform/types.ts';
import type { SwiotlbConfig } from '../../../platform/profiles.ts';
import type { Device, DmaKernel } from '../../include/linux/device.ts';
import { DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC, DMA_BIDIRECTIONAL, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE, type DmaDataDirection, dirToString } from '../../include/linux/dma-mapping.ts';
import { devIsDmaCoherent } from '../../include/linux/dma-map-ops.ts';
import { dmaCapable, dmaStreamingLimit, forceDmaUnencrypted, physToDma } from '../../include/linux/dma-direct.ts';
import { dmaCoherentOk } from './direct.ts';
import { dmaAllocFromPool, dmaFreeFromPool } from './pool.ts';
import { GFP_DMA, GFP_DMA32, GFP_NOWAIT, __GFP_NOWARN, type Gfp, gfpflagsAllowBlocking } from '../../include/linux/gfp.ts';
import { archSyncDmaForDevice } from '../../arch/dma-sync-policy.ts';

/** `IO_TLB_SHIFT`: log2 of the slot size. */
export const IO_TLB_SHIFT = 11;
/** `IO_TLB_SIZE`: bytes per slot. */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** `IO_TLB_SEGSIZE`: slots per segment, the longest contiguous bounce buffer (256 KiB). */
export const IO_TLB_SEGSIZE = 128;
/** `INVALID_PHYS_ADDR`: `orig_addr` of a free slot (and of a slot handed out by `swiotlb_alloc`). */
export const INVALID_PHYS_ADDR = -1;
/** The failure value of the `phys_addr_t` returning functions (`(phys_addr_t)DMA_MAPPING_ERROR`). */
export const SWIOTLB_MAP_ERROR = DMA_MAPPING_ERROR as number as PhysAddr;

/** Slots needed for `sizeBytes` (`nr_slots`). */
export function nrSlots(sizeBytes: number): number {
  return Math.ceil(sizeBytes / IO_TLB_SIZE);
}

/** `io_tlb_offset`: a slot's index inside its segment. */
function ioTlbOffset(index: number): number {
  return index & (IO_TLB_SEGSIZE - 1);
}

/** One area of a pool: its search start and used slots (`struct io_tlb_area`). */
export interface IoTlbArea {
  /** Next slot index (relative to the area) the search starts from. */
  index: number;
  /** Slots taken in this area. */
  used: number;
}

/** One contiguous pool of slots (`struct io_tlb_pool`). */
export class IoTlbPool {
  /** First physical byte. */
  readonly startPhys: PhysAddr;
  /** One past the last physical byte. */
  readonly endPhys: PhysAddr;
  /** Linear-map address of the first byte (`vaddr`). */
  readonly vaddr: CpuAddr;
  /** Slots. */
  readonly nslabs: number;
  readonly nareas: number;
  /** Slots per area. */
  readonly areaNslabs: number;
  /** Per slot: free slots from here to the end of the segment (0 = taken). */
  readonly list: Int32Array;
  /** Per slot: the original physical address it shadows, {@link INVALID_PHYS_ADDR} when none. */
  readonly origAddr: Float64Array;
  /** Per slot: bytes of the allocation from this slot on. */
  readonly allocSize: Int32Array;
  /** On the first real slot of an allocation: pad slots in front of it. */
  readonly padSlots: Uint16Array;
  readonly areas: IoTlbArea[];
  /** A transient pool of `CONFIG_SWIOTLB_DYNAMIC`, sized for one mapping and freed with it. */
  readonly transient: boolean;
  /** Where the pool's memory came from, for freeing a transient pool: a page block (first pfn, order), the atomic pools, or firmware-reserved memory. */
  readonly block: { readonly from: 'pages'; readonly pfn: number; readonly order: number } | { readonly from: 'atomic-pool' | 'reserved' };

  constructor(startPhys: PhysAddr, vaddr: CpuAddr, nslabs: number, nareas: number, transient: boolean, block: IoTlbPool['block']) {
    this.startPhys = startPhys;
    this.endPhys = (startPhys + nslabs * IO_TLB_SIZE) as PhysAddr;
    this.vaddr = vaddr;
    this.nslabs = nslabs;
    this.nareas = nareas;
    this.areaNslabs = nslabs / nareas;
    this.list = new Int32Array(nslabs);
    this.origAddr = new Float64Array(nslabs).fill(INVALID_PHYS_ADDR);
    this.allocSize = new Int32Array(nslabs);
    this.padSlots = new Uint16Array(nslabs);
    this.areas = Array.from({ length: nareas }, () => ({ index: 0, used: 0 }));
    this.transient = transient;
    this.block = block;
    // swiotlb_init_io_tlb_pool: every slot free, runs counting down to each segment end or the pool's end, whichever is first.
    for (let i = 0; i < nslabs; i++) this.list[i] = Math.min(IO_TLB_SEGSIZE - ioTlbOffset(i), nslabs - i);
  }

  /** True when `phys` lies in the pool. */
  contains(phys: number): boolean {
    return phys >= this.startPhys && phys < this.endPhys;
  }
}

/** A swiotlb instance (`struct io_tlb_mem`): the default one, or a device's restricted pool. */
export interface IoTlbMem {
  /** `default` or the restricted pool's device name, for messages. */
  readonly name: string;
  /** Pools, the boot-time one first. */
  readonly pools: IoTlbPool[];
  /** Slots over every non-transient pool. */
  readonly nslabs: number;
  /** `force_bounce`: every streaming mapping bounces (`swiotlb=force`, CC guests, restricted pools). */
  readonly forceBounce: boolean;
  /** `for_alloc`: coherent allocations come from the slots (restricted pools). */
  readonly forAlloc: boolean;
  /** `can_grow` (`CONFIG_SWIOTLB_DYNAMIC`): a transient pool may be added when the pools are full. */
  readonly canGrow: boolean;
  /** Highest physical address a pool may use (`phys_limit`). */
  readonly physLimit: number;
  /** Slots taken over every pool (`total_used`). */
  totalUsed: number;
  /** Highest `totalUsed` seen (`used_hiwater`). */
  usedHiwater: number;
  /**
   * What `swiotlb_tbl_map_single` copies into the slot: `always` (since
   * v5.17, whatever the direction and attributes), or `to-device-only`
   * (before: only TO_DEVICE and BIDIRECTIONAL without SKIP_CPU_SYNC, which
   * let a FROM_DEVICE transfer the device only partly wrote hand the
   * previous user's slot data to the CPU): the v5.17 swiotlb info-leak fix
   * and its partial revert in the v5.18 cycle (LWN "A security fix briefly
   * breaks DMA", 2022).
   */
  readonly mapTimeCopy: SwiotlbMapTimeCopy;
}

/** The map-time copy rule of a kernel version, see {@link IoTlbMem.mapTimeCopy}. */
export type SwiotlbMapTimeCopy = 'always' | 'to-device-only';

/** Pool memory: lowmem pages (the bounce copy and `swiotlb_alloc` use the linear address). */
interface TlbMemory {
  readonly phys: number;
  readonly va: CpuAddr;
  readonly block: IoTlbPool['block'];
}

/**
 * `alloc_dma_pages`: a page block that lies below `physLimit`, made shared
 * with the host on an encrypted guest. `'again'` when the block landed
 * above the limit (freed again); null when there is no memory or the block
 * cannot be decrypted (re-encrypted and freed; leaked if that fails too).
 * @see kernel/dma/swiotlb.c alloc_dma_pages (v6.18)
 */
function allocDmaPages(k: DmaKernel, gfp: Gfp, bytes: number, physLimit: number): TlbMemory | 'again' | null {
  const order = getOrder(bytes);
  const pages = k.mm.pages;
  const first = pages.allocPages(gfp, order);
  if (first === null) return null;
  const phys = pfnToPhys(first);
  const va = pages.pageAddress(first);
  if (phys + bytes - 1 > physLimit || va === null) {
    pages.freePages(first, order);
    return 'again';
  }
  if (k.mm.setMemoryDecrypted(va, pagesFor(bytes)) !== 0) {
    if (k.mm.setMemoryEncrypted(va, pagesFor(bytes)) === 0) pages.freePages(first, order);
    return null;
  }
  return { phys, va, block: { from: 'pages', pfn: first, order } };
}

/**
 * `swiotlb_alloc_tlb`: memory for a pool of `bytes` below `physLimit`. A
 * non-blocking request of a device that needs shared memory comes from the
 * atomic pools (decrypting may sleep); otherwise the zone is chosen from the
 * limit (ZONE_DMA, ZONE_DMA32, none) and a block above the limit is retried
 * in DMA32, then in DMA.
 * @see kernel/dma/swiotlb.c swiotlb_alloc_tlb (v6.18)
 */
function swiotlbAllocTlb(k: DmaKernel, dev: Device | null, bytes: number, physLimit: number, gfpIn: Gfp): TlbMemory | null {
  if (!gfpflagsAllowBlocking(gfpIn) && dev !== null && forceDmaUnencrypted(dev)) {
    const got = dmaAllocFromPool(dev, bytes, gfpIn, dmaCoherentOk);
    return got === null ? null : { phys: pfnToPhys(got.page), va: got.cpuAddr, block: { from: 'atomic-pool' } };
  }
  const zones = k.mm.pages.zones;
  const hasDma = zones.some((z) => z.type === 'DMA');
  const hasDma32 = zones.some((z) => z.type === 'DMA32');
  const dmaZone = zones.find((z) => z.type === 'DMA');
  const zoneDmaLimit = dmaZone === undefined ? -1 : dmaZone.endPfn * PAGE_SIZE - 1;
  let gfp = gfpIn & ~(GFP_DMA | GFP_DMA32);
  if (hasDma && physLimit <= zoneDmaLimit) gfp |= GFP_DMA;
  else if (hasDma32 && physLimit <= maskLimit(32)) gfp |= GFP_DMA32;
  for (;;) {
    const got = allocDmaPages(k, gfp, bytes, physLimit);
    if (got !== 'again') return got;
    if (hasDma32 && physLimit < Number.MAX_SAFE_INTEGER && (gfp & (GFP_DMA32 | GFP_DMA)) === 0) gfp |= GFP_DMA32;
    else if (hasDma && (gfp & GFP_DMA) === 0) gfp = (gfp & ~GFP_DMA32) | GFP_DMA;
    else return null;
  }
}

/**
 * `swiotlb_free_tlb`: back to the atomic pool it came from, or re-encrypted
 * and back to the page allocator (leaked if it cannot be re-encrypted).
 */
function swiotlbFreeTlb(dev: Device, pool: IoTlbPool): void {
  const k = dev.kernel;
  const bytes = pool.nslabs * IO_TLB_SIZE;
  if (pool.block.from === 'atomic-pool') {
    dmaFreeFromPool(dev, pool.vaddr, bytes);
    return;
  }
  if (pool.block.from !== 'pages') return;
  if (k.mm.setMemoryEncrypted(pool.vaddr, pagesFor(bytes)) === 0) k.mm.pages.freePages(physToPfn(pool.startPhys), pool.block.order);
}

/**
 * `swiotlb_init_io_tlb_pool`'s clear: a new pool's memory is zeroed. Modelled
 * as the clear having reached RAM with no line left in the cache, one of the
 * states the kernel's cached memset can leave (the bytes a device will use
 * are cleaned by the map's own maintenance; dirty zeroes elsewhere in the
 * pool could only ever write zeroes back), at no cost per line.
 */
function clearPool(k: DmaKernel, pool: IoTlbPool): IoTlbPool {
  k.platform.cpu.clearToRam(pool.vaddr, pool.nslabs * IO_TLB_SIZE, 'swiotlb_init_io_tlb_pool');
  return pool;
}

/**
 * `swiotlb_alloc_pool` for one mapping (`CONFIG_SWIOTLB_DYNAMIC`): a
 * transient pool of `nslabs` slots, one area, below `physLimit`, cleared.
 * @returns the pool, or null when no memory can be found
 * @see kernel/dma/swiotlb.c swiotlb_alloc_pool (v6.18)
 */
function allocTransientPool(dev: Device, nslabs: number, physLimit: number): IoTlbPool | null {
  const mem = swiotlbAllocTlb(dev.kernel, dev, nslabs * IO_TLB_SIZE, physLimit, GFP_NOWAIT);
  if (mem === null) return null;
  return clearPool(dev.kernel, new IoTlbPool(mem.phys as PhysAddr, mem.va, nslabs, 1, true, mem.block));
}

/**
 * The boot pool's memory (`swiotlb_memblock_alloc`: `memblock_alloc_low`
 * when `low`, below 4 GiB, else anywhere): taken before any driver runs,
 * top-down as memblock allocates, and shared with the host later by
 * `swiotlb_update_mem_attributes`. @returns null when none is found
 * @see kernel/dma/swiotlb.c swiotlb_memblock_alloc
 */
function bootTlbMemory(k: DmaKernel, nslabs: number, physLimit: number): TlbMemory | null {
  const order = getOrder(nslabs * IO_TLB_SIZE);
  const pages = k.mm.pages;
  // Top-down, but in the linear map: the bounce copy needs a kernel address (highmem has none).
  const lowmemEnd = k.platform.profile.va.lowmemEndPhys;
  const first = pages.allocTopDown(order, Math.min(physLimit, lowmemEnd - 1));
  if (first === null) return null;
  const phys = pfnToPhys(first);
  const va = pages.pageAddress(first);
  if (va === null || phys + nslabs * IO_TLB_SIZE - 1 > physLimit) {
    pages.freePages(first, order);
    return null;
  }
  return { phys, va, block: { from: 'pages', pfn: first, order } };
}

/**
 * `swiotlb_update_mem_attributes`: on an encrypted guest the bounce pool is
 * shared with the host once at boot, so devices can reach it.
 */
function swiotlbUpdateMemAttributes(k: DmaKernel, pool: IoTlbPool): void {
  if (k.platform.profile.memEncrypt && k.mm.setMemoryDecrypted(pool.vaddr, pagesFor(pool.nslabs * IO_TLB_SIZE)) !== 0) {
    k.dmesg.warn(`software IO TLB: failed to decrypt the bounce buffer [mem ${hex(pool.startPhys)}]`);
  }
}

/**
 * `swiotlb_init_remap`: the default swiotlb of a kernel, set up at boot.
 * @returns the instance, or null when the memory cannot be found (the kernel then runs without swiotlb and says so)
 */
export function swiotlbInit(k: DmaKernel, o: SwiotlbConfig, mapTimeCopy: SwiotlbMapTimeCopy = 'always'): IoTlbMem | null {
  const physLimit = o.low ? maskLimit(32) : Number.MAX_SAFE_INTEGER;
  const mem = bootTlbMemory(k, o.slots, physLimit);
  if (mem === null) {
    k.dmesg.warn(`software IO TLB: Cannot allocate buffer [slots=${o.slots}]`);
    return null;
  }
  const pool = clearPool(k, new IoTlbPool(mem.phys as PhysAddr, mem.va, o.slots, o.areas, false, mem.block));
  k.dmesg.info(`software IO TLB: mapped [mem ${hex(pool.startPhys)}-${hex(pool.endPhys - 1)}] (${(o.slots * IO_TLB_SIZE) >> 20}MB)`);
  swiotlbUpdateMemAttributes(k, pool);
  return { name: 'default', pools: [pool], nslabs: o.slots, forceBounce: o.force, forAlloc: false, canGrow: o.dynamic, physLimit, totalUsed: 0, usedHiwater: 0, mapTimeCopy };
}

/**
 * `rmem_swiotlb_device_init`: a device's own restricted-dma-pool over its DT
 * reserved-memory region (lowmem, whole segments), one area, with
 * `force_bounce` and `for_alloc` set (kernel/dma/swiotlb.c). The region is
 * the firmware's: nothing is taken from the page allocator.
 * @returns the instance, or null when the region has no linear mapping
 */
export function swiotlbRestrictedPoolInit(k: DmaKernel, devName: string, region: { readonly basePhys: number; readonly sizeBytes: number }, mapTimeCopy: SwiotlbMapTimeCopy = 'always'): IoTlbMem | null {
  const va = k.platform.pt.linearAddress(region.basePhys);
  const slots = region.sizeBytes / IO_TLB_SIZE;
  if (va === null || !Number.isInteger(slots) || slots < IO_TLB_SEGSIZE) {
    k.dmesg.err(`OF: reserved mem: restricted-dma-pool for ${devName}: region [${hex(region.basePhys)}+${hex(region.sizeBytes)}] is not lowmem whole segments`);
    return null;
  }
  // Shared with the host on an encrypted guest (a no-op elsewhere), then cleared.
  if (k.mm.setMemoryDecrypted(va, pagesFor(region.sizeBytes)) !== 0) k.dmesg.warn(`OF: reserved mem: restricted-dma-pool for ${devName}: cannot share the region with the host`);
  const pool = clearPool(k, new IoTlbPool(region.basePhys as PhysAddr, va, slots, 1, false, { from: 'reserved' }));
  return { name: devName, pools: [pool], nslabs: slots, forceBounce: true, forAlloc: true, canGrow: false, physLimit: maskLimit(32), totalUsed: 0, usedHiwater: 0, mapTimeCopy };
}

/** `is_swiotlb_active`: the device has a swiotlb with slots. */
export function isSwiotlbActive(dev: Device): boolean {
  return dev.dmaIoTlbMem !== null && dev.dmaIoTlbMem.nslabs > 0;
}

/** `is_swiotlb_force_bounce`. */
export function isSwiotlbForceBounce(dev: Device): boolean {
  return dev.dmaIoTlbMem?.forceBounce ?? false;
}

/** `is_swiotlb_for_alloc`: coherent allocations come from the device's restricted pool. */
export function isSwiotlbForAlloc(dev: Device): boolean {
  return dev.dmaIoTlbMem?.forAlloc ?? false;
}

/** `swiotlb_find_pool`: the pool of the device's swiotlb (or its transient pools) holding `phys`, or null. */
export function swiotlbFindPool(dev: Device, phys: number): IoTlbPool | null {
  const mem = dev.dmaIoTlbMem;
  if (mem === null) return null;
  for (const p of mem.pools) if (p.contains(phys)) return p;
  for (const p of dev.dmaIoTlbPools) if (p.contains(phys)) return p;
  return null;
}

/** `is_swiotlb_buffer`: `phys` lies in a bounce buffer of the device. */
export function isSwiotlbBuffer(dev: Device, phys: number): boolean {
  return swiotlbFindPool(dev, phys) !== null;
}

/**
 * `swiotlb_align_offset`: the bytes of `addr` a bounce buffer must keep:
 * the bits under the device's `min_align_mask` and under
 * `allocAlignMask | (IO_TLB_SIZE - 1)`.
 */
export function swiotlbAlignOffset(dev: Device, allocAlignMask: number, addr: number): number {
  return addr & dev.dmaParms.minAlignMask & (allocAlignMask | (IO_TLB_SIZE - 1));
}

/** `get_max_slots`: slots per segment-boundary window. */
function getMaxSlots(boundaryMask: number): number {
  return Math.floor(boundaryMask / IO_TLB_SIZE) + 1;
}

/** `iommu_is_span_boundary`: would `nr` slots from `index` cross a boundary window of `boundarySize` slots? */
function isSpanBoundary(index: number, nr: number, shift: number, boundarySize: number): boolean {
  const offset = (shift + index) % boundarySize;
  return offset + nr > boundarySize;
}

function wrapAreaIndex(pool: IoTlbPool, index: number): number {
  return index >= pool.areaNslabs ? 0 : index;
}

/**
 * `swiotlb_search_pool_area`: find `allocSize` bytes of slots in one area,
 * honouring `alloc_align_mask`, the device's `min_align_mask` (bits from
 * 2 KiB up matched by slot choice), page alignment for requests of a page or
 * more when no mask applies, and the device's segment boundary; then take
 * them and renumber the free run in front of them.
 * @returns the first slot index in the pool, or -1
 */
function searchPoolArea(dev: Device, pool: IoTlbPool, areaIndex: number, origAddr: number, allocSize: number, allocAlignMaskIn: number): number {
  const area = pool.areas[areaIndex] as IoTlbArea;
  const boundaryMask = dev.dmaParms.segmentBoundaryMask;
  // Masks are 2^n - 1 up to 64 bits: take the low bits arithmetically (`&` would cut to 32 bits).
  const tblDmaAddr = physToDma(dev, pool.startPhys) % (boundaryMask + 1);
  const maxSlots = getMaxSlots(boundaryMask);
  let iotlbAlignMask = dev.dmaParms.minAlignMask;
  const nslots = nrSlots(allocSize);
  const offset = swiotlbAlignOffset(dev, 0, origAddr);
  let allocAlignMask = allocAlignMaskIn;
  // Legacy guarantee for streaming mappings: a page or more, no mask ⇒ page aligned.
  if (allocAlignMask === 0 && iotlbAlignMask === 0 && allocSize >= PAGE_SIZE) allocAlignMask = PAGE_SIZE - 1;
  allocAlignMask |= IO_TLB_SIZE - 1;
  iotlbAlignMask &= ~allocAlignMask;
  const stride = getMaxSlots(Math.max(allocAlignMask, iotlbAlignMask));
  if (nslots > pool.areaNslabs - area.used) return -1;
  const slotBase = areaIndex * pool.areaNslabs;
  let index = area.index;
  let slotIndex = -1;
  for (let checked = 0; checked < pool.areaNslabs; ) {
    const s = slotBase + index;
    const tlbAddr = tblDmaAddr + s * IO_TLB_SIZE;
    if ((tlbAddr & allocAlignMask) !== 0 || (origAddr !== 0 && (tlbAddr & iotlbAlignMask) !== (origAddr & iotlbAlignMask))) {
      index = wrapAreaIndex(pool, index + 1);
      checked++;
      continue;
    }
    if (!isSpanBoundary(s, nslots, nrSlots(tblDmaAddr), maxSlots) && (pool.list[s] as number) >= nslots) {
      slotIndex = s;
      break;
    }
    index = wrapAreaIndex(pool, index + stride);
    checked += stride;
  }
  if (slotIndex < 0) return -1;
  for (let i = slotIndex; i < slotIndex + nslots; i++) {
    pool.list[i] = 0;
    pool.allocSize[i] = allocSize - (offset + (i - slotIndex) * IO_TLB_SIZE);
  }
  let count = 0;
  for (let i = slotIndex - 1; i >= 0 && ioTlbOffset(i) !== IO_TLB_SEGSIZE - 1 && (pool.list[i] as number) !== 0; i--) pool.list[i] = ++count;
  area.index = wrapAreaIndex(pool, index + nslots);
  area.used += nslots;
  return slotIndex;
}

/** `raw_smp_processor_id()`: the model runs on one CPU. */
const CURRENT_CPU = 0;

/** `swiotlb_pool_find_slots`: every area, starting from the current CPU's. */
function poolFindSlots(dev: Device, pool: IoTlbPool, origAddr: number, allocSize: number, allocAlignMask: number): number {
  const start = CURRENT_CPU & (pool.nareas - 1);
  let i = start;
  do {
    const index = searchPoolArea(dev, pool, i, origAddr, allocSize, allocAlignMask);
    if (index >= 0) return index;
    if (++i >= pool.nareas) i = 0;
  } while (i !== start);
  return -1;
}

function noteUsed(mem: IoTlbMem, nslots: number): void {
  mem.totalUsed += nslots;
  if (mem.totalUsed > mem.usedHiwater) mem.usedHiwater = mem.totalUsed;
}

/**
 * `swiotlb_find_slots`: search every pool of the device's swiotlb; with
 * `CONFIG_SWIOTLB_DYNAMIC`, when all are full, try a transient pool sized
 * for this request (`GFP_NOWAIT`, below the device's streaming limit),
 * freed again at unmap.
 * @returns pool and first slot, or null
 */
function findSlots(dev: Device, origAddr: number, allocSize: number, allocAlignMask: number): { pool: IoTlbPool; index: number } | null {
  const mem = dev.dmaIoTlbMem as IoTlbMem;
  // No run of slots is longer than a segment: larger requests are refused before any search or growth.
  if (allocSize > IO_TLB_SEGSIZE * IO_TLB_SIZE) return null;
  for (const pool of mem.pools) {
    const index = poolFindSlots(dev, pool, origAddr, allocSize, allocAlignMask);
    if (index >= 0) {
      noteUsed(mem, nrSlots(allocSize));
      return { pool, index };
    }
  }
  if (!mem.canGrow) return null;
  const nslabs = nrSlots(allocSize);
  const pool = allocTransientPool(dev, nslabs, minNotZero(dev.dmaMask === null ? 0 : maskLimit(dev.dmaMask), dev.busDmaLimit) || mem.physLimit);
  if (pool === null) return null;
  const index = poolFindSlots(dev, pool, origAddr, allocSize, allocAlignMask);
  if (index < 0) {
    swiotlbFreeTlb(dev, pool);
    return null;
  }
  dev.dmaIoTlbPools.push(pool);
  noteUsed(mem, nslabs);
  return { pool, index };
}

/** Copy `sizeBytes` between a lowmem bounce address and an original that may be highmem (page by page through `kmap_local`). */
function copyOrig(dev: Device, orig: number, bounceVa: number, sizeBytes: number, toBounce: boolean): void {
  const p = dev.kernel.platform;
  for (let done = 0; done < sizeBytes; ) {
    const a = orig + done;
    const n = Math.min(PAGE_SIZE - (a % PAGE_SIZE), sizeBytes - done);
    let va: number | null = p.pt.linearAddress(a);
    let kmapped: CpuAddr | null = null;
    if (va === null) {
      kmapped = p.pt.kmapLocal(physToPfn(a as PhysAddr));
      if (kmapped === null) throw new Error(`swiotlb_bounce: no kmap slot for highmem original [phys=${hex(a)}]`);
      va = kmapped + (a % PAGE_SIZE);
    }
    try {
      if (toBounce) p.cpu.write(bounceVa + done, p.cpu.read(va, n, 'swiotlb_bounce'), 'swiotlb_bounce');
      else p.cpu.write(va, p.cpu.read(bounceVa + done, n, 'swiotlb_bounce'), 'swiotlb_bounce');
    } finally {
      if (kmapped !== null) p.pt.kunmapLocal(kmapped);
    }
    done += n;
  }
}

/**
 * `swiotlb_bounce`: copy between the bounce buffer at `tlbAddr` and the
 * original it shadows, `DMA_TO_DEVICE` meaning original → bounce. The slot
 * of `tlbAddr` gives the original and what is left of the allocation. The
 * in-slot offset is signed (v6.9 on): an address in the first
 * `min_align_mask` offset bytes of the second or a later slot lies before
 * that slot's original, which is where it belongs, so a partial sync there
 * copies the right bytes. A size past what is left of the allocation WARNs
 * once and is clamped (past its end altogether, where the kernel's unsigned
 * size wraps and copies on, the model copies nothing). With the kernel-history quirk
 * `swiotlbBounceBeforeStartRefused` (before v6.9) such an address WARNs
 * "Access before mapping start detected" and nothing is copied.
 * @see kernel/dma/swiotlb.c swiotlb_bounce (v6.18, gregkh/linux; v6.9 "swiotlb: fix swiotlb_bounce() to do partial sync's correctly")
 */
export function swiotlbBounce(dev: Device, tlbAddr: number, sizeIn: number, dir: DmaDataDirection, pool: IoTlbPool): void {
  const index = Math.floor((tlbAddr - pool.startPhys) / IO_TLB_SIZE);
  let orig = pool.origAddr[index] as number;
  let allocSize = pool.allocSize[index] as number;
  let size = sizeIn;
  if (orig === INVALID_PHYS_ADDR) return;
  const inSlot = tlbAddr & (IO_TLB_SIZE - 1);
  const origOffset = swiotlbAlignOffset(dev, 0, orig);
  const k = dev.kernel;
  if (k.quirks.swiotlbBounceBeforeStartRefused) {
    if (inSlot < origOffset) {
      k.dmesg.warnOnce(`swiotlb_bounce:before:${dev.name}`, `WARNING: Access before mapping start detected [dev=${dev.name}] [orig_offset=${origOffset}] [requested_offset=${inSlot}]`);
      return;
    }
    if (inSlot - origOffset > allocSize) {
      k.dmesg.warnOnce(`swiotlb_bounce:overflow:${dev.name}`, `WARNING: Buffer overflow detected [dev=${dev.name}] [alloc_size=${allocSize}] [mapping_size=${size}+${inSlot - origOffset}]`);
      return;
    }
  }
  const tlbOffset = inSlot - origOffset;
  orig += tlbOffset;
  allocSize -= tlbOffset;
  if (size > allocSize) {
    k.dmesg.warnOnce(`swiotlb_bounce:overflow:${dev.name}`, `WARNING: Buffer overflow detected [dev=${dev.name}] [alloc_size=${allocSize}] [mapping_size=${size}]`);
    size = Math.max(0, allocSize);
  }
  if (k.quirks.swiotlbBounceShortByOne) size = Math.max(0, size - 1);
  copyOrig(dev, orig, pool.vaddr + (tlbAddr - pool.startPhys), size, dir === DMA_TO_DEVICE);
}

/**
 * `swiotlb_tbl_map_single`: take slots for `mappingSize` bytes at
 * `origAddr` and copy the original into them, whatever the direction and
 * attributes (so bytes the device does not write keep the original's
 * content, never a previous user's: the v5.17 info-leak fix). The bounce
 * address keeps the original's bits under `min_align_mask`; an offset of
 * 2 KiB or more under `allocAlignMask` is taken up by whole pad slots.
 * @param allocAlignMask alignment of the allocation (dma-iommu: the IOVA granule mask; dma-direct: 0)
 * @returns the bounce physical address, or {@link SWIOTLB_MAP_ERROR} (no swiotlb, or full: "swiotlb buffer is full" unless `DMA_ATTR_NO_WARN`)
 * @see kernel/dma/swiotlb.c swiotlb_tbl_map_single
 */
export function swiotlbTblMapSingle(dev: Device, origAddr: PhysAddr, mappingSize: number, allocAlignMask: number, dir: DmaDataDirection, attrs: number): PhysAddr {
  const mem = dev.dmaIoTlbMem;
  const k = dev.kernel;
  if (mem === null || mem.nslabs === 0) {
    k.dmesg.warn(`${dev.name}: Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer`);
    return SWIOTLB_MAP_ERROR;
  }
  if (allocAlignMask > PAGE_SIZE - 1) k.dmesg.warnOnce(`swiotlb:align:${dev.name}`, `WARNING: ${dev.name}: Alloc alignment may prevent fulfilling requests with max mapping_size [alloc_align_mask=${hex(allocAlignMask)}]`);
  let offset = swiotlbAlignOffset(dev, allocAlignMask, origAddr);
  const size = Math.ceil((mappingSize + offset) / (allocAlignMask + 1)) * (allocAlignMask + 1);
  const found = findSlots(dev, origAddr, size, allocAlignMask);
  if (found === null) {
    if ((attrs & DMA_ATTR_NO_WARN) === 0) {
      k.dmesg.warn(`${dev.name}: swiotlb buffer is full (sz: ${size} bytes), total ${mem.nslabs} (slots), used ${mem.totalUsed} (slots)`);
    }
    return SWIOTLB_MAP_ERROR;
  }
  const { pool } = found;
  // dma_reset_need_sync: a device that bounces must never skip its syncs again.
  dev.dmaSkipSync = false;
  const pad = offset >> IO_TLB_SHIFT;
  offset &= IO_TLB_SIZE - 1;
  const index = found.index + pad;
  pool.padSlots[index] = pad;
  for (let i = 0; i < nrSlots(size) - pad; i++) pool.origAddr[index + i] = origAddr + i * IO_TLB_SIZE;
  const tlbAddr = (pool.startPhys + index * IO_TLB_SIZE + offset) as PhysAddr;
  const copy = mem.mapTimeCopy === 'always' || ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 && (dir === DMA_TO_DEVICE || dir === DMA_BIDIRECTIONAL));
  if (copy) swiotlbBounce(dev, tlbAddr, mappingSize, DMA_TO_DEVICE, pool);
  return tlbAddr;
}

/**
 * `swiotlb_release_slots`: give an allocation's slots (pad slots included)
 * back, merging the free run with the free slots after and before it inside
 * the segment.
 */
export function swiotlbReleaseSlots(dev: Device, tlbAddr: number, pool: IoTlbPool): void {
  const offset = swiotlbAlignOffset(dev, 0, tlbAddr);
  let index = Math.floor((tlbAddr - offset - pool.startPhys) / IO_TLB_SIZE);
  index -= pool.padSlots[index] as number;
  const nslots = nrSlots((pool.allocSize[index] as number) + offset);
  const area = pool.areas[Math.floor(index / pool.areaNslabs)] as IoTlbArea;
  const segEnd = (Math.floor(index / IO_TLB_SEGSIZE) + 1) * IO_TLB_SEGSIZE;
  let count = index + nslots < segEnd ? (pool.list[index + nslots] as number) : 0;
  for (let i = index + nslots - 1; i >= index; i--) {
    pool.list[i] = ++count;
    pool.origAddr[i] = INVALID_PHYS_ADDR;
    pool.allocSize[i] = 0;
    pool.padSlots[i] = 0;
  }
  for (let i = index - 1; i >= 0 && ioTlbOffset(i) !== IO_TLB_SEGSIZE - 1 && (pool.list[i] as number) !== 0; i--) pool.list[i] = ++count;
  area.used -= nslots;
  const mem = dev.dmaIoTlbMem as IoTlbMem;
  mem.totalUsed -= nslots;
}

/** `swiotlb_del_transient`: free a transient pool with its only mapping. @returns true when `tlbAddr` was in one */
function delTransient(dev: Device, pool: IoTlbPool): boolean {
  if (!pool.transient) return false;
  const mem = dev.dmaIoTlbMem as IoTlbMem;
  mem.totalUsed -= pool.nslabs;
  dev.dmaIoTlbPools.splice(dev.dmaIoTlbPools.indexOf(pool), 1);
  swiotlbFreeTlb(dev, pool);
  return true;
}

/**
 * `swiotlb_tbl_unmap_single`: copy back (FROM_DEVICE, BIDIRECTIONAL; not
 * with `DMA_ATTR_SKIP_CPU_SYNC`) and release. A no-op for an address that
 * is not a bounce buffer of the device.
 * @see include/linux/swiotlb.h swiotlb_tbl_unmap_single
 */
export function swiotlbTblUnmapSingle(dev: Device, tlbAddr: PhysAddr, mappingSize: number, dir: DmaDataDirection, attrs: number): void {
  const pool = swiotlbFindPool(dev, tlbAddr);
  if (pool === null) return;
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 && (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL)) swiotlbBounce(dev, tlbAddr, mappingSize, DMA_FROM_DEVICE, pool);
  if (delTransient(dev, pool)) return;
  swiotlbReleaseSlots(dev, tlbAddr, pool);
}

/**
 * `swiotlb_sync_single_for_device`: original → bounce for TO_DEVICE and
 * BIDIRECTIONAL; nothing for FROM_DEVICE (the 2022 attempt to copy there
 * too broke drivers that peek at a receive buffer and was reverted). No-op
 * when `tlbAddr` is not a bounce buffer.
 */
export function swiotlbSyncSingleForDevice(dev: Device, tlbAddr: PhysAddr, sizeBytes: number, dir: DmaDataDirection): void {
  const pool = swiotlbFindPool(dev, tlbAddr);
  if (pool === null) return;
  if (dir === DMA_TO_DEVICE || dir === DMA_BIDIRECTIONAL) swiotlbBounce(dev, tlbAddr, sizeBytes, DMA_TO_DEVICE, pool);
  else if (dir !== DMA_FROM_DEVICE) dev.kernel.dmesg.err(`kernel BUG at kernel/dma/swiotlb.c: swiotlb_sync_single_for_device [dir=${dirToString(dir)}]`);
}

/** `swiotlb_sync_single_for_cpu`: bounce → original for FROM_DEVICE and BIDIRECTIONAL. No-op when not a bounce buffer. */
export function swiotlbSyncSingleForCpu(dev: Device, tlbAddr: PhysAddr, sizeBytes: number, dir: DmaDataDirection): void {
  const pool = swiotlbFindPool(dev, tlbAddr);
  if (pool === null) return;
  if (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL) swiotlbBounce(dev, tlbAddr, sizeBytes, DMA_FROM_DEVICE, pool);
  else if (dir !== DMA_TO_DEVICE) dev.kernel.dmesg.err(`kernel BUG at kernel/dma/swiotlb.c: swiotlb_sync_single_for_cpu [dir=${dirToString(dir)}]`);
}

/**
 * `swiotlb_map`: bounce `[paddr, paddr+size)` for dma-direct. The bounce
 * address itself must be reachable (else release, WARN "swiotlb addr …
 * overflow", error); non-coherent devices then get
 * `arch_sync_dma_for_device` on the bounce slot unless SKIP_CPU_SYNC.
 * @returns the DMA address of the bounce buffer, or `DMA_MAPPING_ERROR`
 * @see kernel/dma/swiotlb.c swiotlb_map
 */
export function swiotlbMap(dev: Device, paddr: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr {
  const tlb = swiotlbTblMapSingle(dev, paddr, size, 0, dir, attrs);
  if (tlb === SWIOTLB_MAP_ERROR) return DMA_MAPPING_ERROR;
  const dma = physToDma(dev, tlb);
  if (!dmaCapable(dev, dma, size, true)) {
    swiotlbTblUnmapSingle(dev, tlb, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    dev.kernel.dmesg.warnOnce(
      `swiotlb_map:overflow:${dev.name}`,
      `WARNING: ${dev.name}: swiotlb addr ${hex(dma)}+${size} overflow [mask=${hex(dmaStreamingLimit(dev))}] [bus_limit=${hex(dev.busDmaLimit)}]`,
    );
    return DMA_MAPPING_ERROR;
  }
  if (!devIsDmaCoherent(dev) && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) archSyncDmaForDevice(dev.kernel.arch, tlb, size, dir);
  return dma;
}

/**
 * `swiotlb_max_mapping_size`: one segment, less what `min_align_mask` may
 * cost in slot choice.
 * @returns bytes
 */
export function swiotlbMaxMappingSize(dev: Device): number {
  const m = dev.dmaParms.minAlignMask;
  const minAlign = m === 0 ? 0 : Math.ceil(m / IO_TLB_SIZE) * IO_TLB_SIZE;
  return IO_TLB_SIZE * IO_TLB_SEGSIZE - minAlign;
}

/**
 * `swiotlb_alloc`: whole pages for a coherent allocation of a
 * restricted-pool device, aligned to the allocation order; a slot that is
 * not page aligned is released with a WARN.
 * @returns the first pfn, or null
 */
export function swiotlbAlloc(dev: Device, size: number): number | null {
  const mem = dev.dmaIoTlbMem;
  if (mem === null) return null;
  const align = PAGE_SIZE * 2 ** getOrder(size) - 1;
  const found = findSlots(dev, 0, size, align);
  if (found === null) return null;
  const tlbAddr = found.pool.startPhys + found.index * IO_TLB_SIZE;
  if (tlbAddr % PAGE_SIZE !== 0) {
    dev.kernel.dmesg.warnOnce(`swiotlb_alloc:${dev.name}`, `WARNING: ${dev.name}: Cannot allocate pages from non page-aligned swiotlb addr ${hex(tlbAddr)}`);
    swiotlbReleaseSlots(dev, tlbAddr, found.pool);
    return null;
  }
  return Math.floor(tlbAddr / PAGE_SIZE);
}

/** `swiotlb_free`: release pages `swiotlb_alloc` handed out. @returns false when the page is in no pool of the device */
export function swiotlbFree(dev: Device, pfn: number, _size: number): boolean {
  const tlbAddr = pfn * PAGE_SIZE;
  const pool = swiotlbFindPool(dev, tlbAddr);
  if (pool === null) return false;
  swiotlbReleaseSlots(dev, tlbAddr, pool);
  return true;
}

/** The accounting of one pool, for tests and the `swiotlb-slots-sound` property. */
export interface IoTlbPoolState {
  readonly startPhys: number;
  readonly nslabs: number;
  readonly transient: boolean;
  /** Per area: search index and used slots. */
  readonly areas: readonly IoTlbArea[];
  /** Free-run count of every slot. */
  readonly list: ArrayLike<number>;
}

/** A copy of the accounting of a swiotlb instance (what debugfs `io_tlb_used` shows, plus the slot lists). */
export interface IoTlbMemState {
  readonly name: string;
  readonly nslabs: number;
  readonly used: number;
  readonly pools: readonly IoTlbPoolState[];
}

/** Snapshot of `mem` and of a device's transient pools. */
export function swiotlbState(mem: IoTlbMem, transient: readonly IoTlbPool[] = []): IoTlbMemState {
  return {
    name: mem.name,
    nslabs: mem.nslabs,
    used: mem.totalUsed,
    pools: [...mem.pools, ...transient].map((p) => ({ startPhys: p.startPhys, nslabs: p.nslabs, transient: p.transient, areas: p.areas.map((a) => ({ ...a })), list: p.list.slice() })),
  };
}
