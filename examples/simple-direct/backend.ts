/**
 * An independent DMA layer for coherent platforms, written only against
 * dmacheck's public surface (`src/index.ts`), as a backend author would
 * write one: nothing here comes from the reference (`src/linux/kernel/dma`).
 * It shows the services a backend uses and is kept green by a test at the
 * `contract` level on x86-64.
 *
 * What it does, in a few lines each:
 * - coherent buffers: whole pages from the page allocator in a zone the
 *   device's mask reaches (ZONE_DMA under 24 bits, ZONE_DMA32 under 32),
 *   zeroed through the CPU, handed out at their linear address; the DMA
 *   handle is the physical address (x86 has no `dma-ranges` offsets);
 * - streaming maps: in place when the device reaches the buffer, otherwise
 *   through a bounce block of its own taken from a low zone, copied through
 *   the CPU at map and sync-for-device, and back at sync-for-cpu and unmap;
 * - every device is coherent, so there is no cache maintenance at all.
 * Attributes are ignored (it declares none, as R56 allows).
 */
import {
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  ENODEV,
  ENOMEM,
  ENXIO,
  GFP_ATOMIC,
  GFP_DMA,
  GFP_DMA32,
  PAGE_SIZE,
  SIZE_MAX,
  type BackendEnv,
  type BackendFactory,
  type CpuAddr,
  type DmaAddr,
  type DmaAllocation,
  type DmaBackend,
  type Gfp,
  type Pfn,
  type Scatterlist,
  type SgTable,
  type VmArea,
  getOrder,
  maskLimit,
  pageAlign,
  pfn,
  pfnToPhys,
  sgEntry,
  sgTable,
} from '../../src/index.ts';

interface Bounce {
  readonly pfn: Pfn;
  readonly order: number;
  /** Physical address of the original bytes. */
  readonly orig: number;
  readonly sizeBytes: number;
}

/** The DMA layer of one machine. */
export class SimpleDirect implements DmaBackend {
  readonly name = 'simple-direct';
  readonly capabilities = simpleDirect.capabilities;
  private readonly masks = new Map<string, number>();
  /** Live bounce blocks by DMA address. */
  private readonly bounces = new Map<number, Bounce>();

  constructor(private readonly env: BackendEnv) {}

  /** Highest address `dev` can reach: its mask, and the interconnect's limit where the platform has one (DT `dma-ranges`, `bus_dma_limit`). */
  private limit(dev: string): number {
    const mask = maskLimit(this.masks.get(dev) ?? 32);
    const bus = this.env.platform.devices.find((d) => d.name === dev)?.config.busDmaLimit ?? 0;
    return bus === 0 ? mask : Math.min(mask, bus);
  }

  /** The zone modifier that keeps pages below `limit`. */
  private zone(limit: number): Gfp {
    const dmaEnd = this.env.platform.profile.zones.dmaEndPhys;
    if (dmaEnd !== null && limit < dmaEnd) return GFP_DMA;
    return limit <= maskLimit(32) ? GFP_DMA32 : 0;
  }

  attachDevice(dev: string): number {
    const hw = this.env.platform.devices.find((d) => d.name === dev);
    if (hw === undefined || !hw.config.coherent) return -ENODEV;
    this.masks.set(dev, 32);
    return 0;
  }
  setMask(dev: string, bits: number): number {
    if (!(bits >= 24 && bits <= 64)) return -5;
    this.masks.set(dev, bits);
    return 0;
  }
  setCoherentMask(dev: string, bits: number): number {
    return this.setMask(dev, bits);
  }
  setMaskAndCoherent(dev: string, bits: number): number {
    return this.setMask(dev, bits);
  }

  allocAttrs(dev: string, sizeBytes: number, gfp: Gfp, _attrs: number): DmaAllocation {
    if (!(sizeBytes > 0)) return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
    const order = getOrder(sizeBytes);
    const limit = this.limit(dev);
    const first = this.env.mm.pages.allocPages(gfp | this.zone(limit), order);
    if (first === null) return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
    const phys = pfnToPhys(first);
    const va = this.env.mm.pages.pageAddress(first);
    if (va === null || phys + sizeBytes - 1 > limit) {
      this.env.mm.pages.freePages(first, order);
      return { cpuAddr: null, dmaHandle: DMA_MAPPING_ERROR };
    }
    this.env.platform.cpu.memset(va, 0, pageAlign(sizeBytes), 'simple-direct');
    return { cpuAddr: va, dmaHandle: phys as number as DmaAddr };
  }
  freeAttrs(_dev: string, sizeBytes: number, cpuAddr: CpuAddr | null, dmaHandle: DmaAddr, _attrs: number): void {
    if (cpuAddr === null) return;
    this.env.mm.pages.freePages(pfn(Math.floor(dmaHandle / PAGE_SIZE)), getOrder(sizeBytes));
  }
  mmapAttrs(_dev: string, vma: VmArea, _cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, _attrs: number): number {
    const count = Math.ceil(sizeBytes / PAGE_SIZE);
    if (vma.pgoff >= count || vma.nrPages > count - vma.pgoff) return -ENXIO;
    return this.env.platform.user.remapPfnRange(vma, 0, pfn(Math.floor(dmaHandle / PAGE_SIZE) + vma.pgoff), vma.nrPages, 'cacheable');
  }
  getSgtableAttrs(_dev: string, _cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, _attrs: number): { ret: number; sgt: SgTable | null } {
    return { ret: 0, sgt: sgTable([sgEntry(pfn(Math.floor(dmaHandle / PAGE_SIZE)), 0, pageAlign(sizeBytes))]) };
  }

  /** Copy `len` bytes between two physical ranges through the CPU (both lowmem, linear map). */
  private copy(from: number, to: number, len: number): void {
    const pt = this.env.platform.pt;
    const src = pt.linearAddress(from);
    const dst = pt.linearAddress(to);
    if (src === null || dst === null) throw new Error('simple-direct: bounce copy of memory without a linear address');
    this.env.platform.cpu.write(dst, this.env.platform.cpu.read(src, len, 'simple-direct'), 'simple-direct');
  }

  private mapPhys(dev: string, phys: number, sizeBytes: number): DmaAddr {
    if (!(sizeBytes > 0)) return DMA_MAPPING_ERROR;
    const limit = this.limit(dev);
    if (phys + sizeBytes - 1 <= limit) return phys as DmaAddr;
    // Out of reach: bounce through a block of our own in a zone the device reaches, at the
    // original's offset in its page, so the low address bits a device may rely on are kept
    // (dma_set_min_align_mask: NVMe keeps 12).
    const offset = phys % PAGE_SIZE;
    const order = getOrder(offset + sizeBytes);
    // Maps may be made in atomic context (R42): the bounce block is taken without sleeping.
    const first = this.env.mm.pages.allocPages(GFP_ATOMIC | this.zone(limit), order);
    if (first === null) return DMA_MAPPING_ERROR;
    const bounce = pfnToPhys(first) + offset;
    if (bounce + sizeBytes - 1 > limit) {
      this.env.mm.pages.freePages(first, order);
      return DMA_MAPPING_ERROR;
    }
    // Copy whatever the direction, so bytes the device does not write keep the original's content.
    this.copy(phys, bounce, sizeBytes);
    this.bounces.set(bounce, { pfn: first, order, orig: phys, sizeBytes });
    return bounce as number as DmaAddr;
  }

  private unmapPhys(addr: number, sizeBytes: number, dir: number): void {
    const b = this.bounces.get(addr);
    if (b === undefined) return;
    if (dir !== DMA_TO_DEVICE) this.copy(addr, b.orig, Math.min(sizeBytes, b.sizeBytes));
    this.bounces.delete(addr);
    this.env.mm.pages.freePages(b.pfn, b.order);
  }

  /** The bounce block holding `[addr, addr+size)`, with the offset of `addr` in it. */
  private bounceOf(addr: number, sizeBytes: number): { b: Bounce; at: number } | null {
    for (const [start, b] of this.bounces) if (addr >= start && addr + sizeBytes <= start + b.sizeBytes) return { b, at: addr - start };
    return null;
  }

  mapPage(dev: string, page: Pfn, offsetBytes: number, sizeBytes: number, _dir: number, _attrs: number): DmaAddr {
    return this.mapPhys(dev, pfnToPhys(page) + offsetBytes, sizeBytes);
  }
  unmapPage(_dev: string, addr: DmaAddr, sizeBytes: number, dir: number, _attrs: number): void {
    this.unmapPhys(addr, sizeBytes, dir);
  }
  mapSingle(dev: string, cpuAddr: CpuAddr, sizeBytes: number, _dir: number, _attrs: number): DmaAddr {
    if (!this.env.platform.pt.isLinearAddr(cpuAddr)) return DMA_MAPPING_ERROR;
    return this.mapPhys(dev, this.env.platform.pt.translate(cpuAddr, 'read', 'simple-direct').phys, sizeBytes);
  }
  unmapSingle(dev: string, addr: DmaAddr, sizeBytes: number, dir: number, attrs: number): void {
    this.unmapPage(dev, addr, sizeBytes, dir, attrs);
  }
  mapSg(dev: string, sgl: Scatterlist[], nents: number, dir: number, attrs: number): number {
    if (!(nents >= 1 && nents <= sgl.length)) return 0;
    for (let i = 0; i < nents; i++) {
      const sg = sgl[i] as Scatterlist;
      const dma = this.mapPage(dev, sg.page, sg.offset, sg.length, dir, attrs);
      if (dma === DMA_MAPPING_ERROR) {
        this.unmapSg(dev, sgl, i, DMA_TO_DEVICE, attrs);
        return 0;
      }
      sg.dmaAddress = dma;
      sg.dmaLength = sg.length;
    }
    return nents;
  }
  unmapSg(dev: string, sgl: Scatterlist[], nents: number, dir: number, attrs: number): void {
    for (let i = 0; i < nents; i++) this.unmapPage(dev, (sgl[i] as Scatterlist).dmaAddress, (sgl[i] as Scatterlist).dmaLength, dir, attrs);
  }

  syncSingleForCpu(_dev: string, addr: DmaAddr, sizeBytes: number, dir: number): void {
    const hit = this.bounceOf(addr, sizeBytes);
    if (hit !== null && dir !== DMA_TO_DEVICE) this.copy(addr, hit.b.orig + hit.at, sizeBytes);
  }
  syncSingleForDevice(_dev: string, addr: DmaAddr, sizeBytes: number, dir: number): void {
    const hit = this.bounceOf(addr, sizeBytes);
    if (hit !== null && dir !== DMA_FROM_DEVICE) this.copy(hit.b.orig + hit.at, addr, sizeBytes);
  }
  syncSgForCpu(dev: string, sgl: Scatterlist[], nents: number, dir: number): void {
    for (let i = 0; i < nents; i++) this.syncSingleForCpu(dev, (sgl[i] as Scatterlist).dmaAddress, (sgl[i] as Scatterlist).dmaLength, dir);
  }
  syncSgForDevice(dev: string, sgl: Scatterlist[], nents: number, dir: number): void {
    for (let i = 0; i < nents; i++) this.syncSingleForDevice(dev, (sgl[i] as Scatterlist).dmaAddress, (sgl[i] as Scatterlist).dmaLength, dir);
  }

  mappingError(_dev: string, addr: DmaAddr): number {
    return addr === DMA_MAPPING_ERROR ? -ENOMEM : 0;
  }
  maxMappingSize(_dev: string): number {
    return SIZE_MAX;
  }
  getCacheAlignment(_dev: string): number {
    return 1;
  }
  needSync(_dev: string, addr: DmaAddr): boolean {
    return this.bounceOf(addr, 1) !== null;
  }
  canMmap(_dev: string): boolean {
    return true;
  }
}

/** The backend module's export: `npx dmacheck run --backend examples/simple-direct/backend.ts --profile x86-64`. */
export const simpleDirect: BackendFactory = {
  name: 'simple-direct',
  capabilities: {
    calls: ['attachDevice', 'setMask', 'setCoherentMask', 'setMaskAndCoherent', 'allocAttrs', 'freeAttrs', 'mmapAttrs', 'getSgtableAttrs', 'mapPage', 'unmapPage', 'mapSingle', 'unmapSingle', 'mapSg', 'unmapSg', 'syncSingleForCpu', 'syncSingleForDevice', 'syncSgForCpu', 'syncSgForDevice', 'mappingError', 'maxMappingSize', 'getCacheAlignment', 'needSync', 'canMmap'],
    attrs: 0,
    profiles: ['x86-64'],
    levels: ['contract'],
  },
  create: (env) => new SimpleDirect(env),
};

export default simpleDirect;
