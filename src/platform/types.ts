/**
 * Address and unit types shared by every layer: branded numbers, so that a
 * physical address, a DMA (bus) address, a kernel virtual address and a page
 * frame number cannot be mixed up by accident.
 *
 * Not a kernel mirror. Addresses are plain `number`s (not `bigint`): a driver
 * step must cost microseconds, and every simulated address space stays below
 * 2^52, so all arithmetic is exact. Masks are kept as bit widths
 * (`DMA_BIT_MASK(64)` is width 64); {@link maskLimit} turns a width into the
 * highest address it covers.
 */

declare const brand: unique symbol;
/** A `number` tagged with what it measures. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A CPU physical address, in bytes (`phys_addr_t`). */
export type PhysAddr = Brand<number, 'PhysAddr'>;
/** A device-side bus address, in bytes (`dma_addr_t`). Never dereferenced by the CPU (R1). */
export type DmaAddr = Brand<number, 'DmaAddr'>;
/** A kernel virtual address, in bytes (`void *`). */
export type CpuAddr = Brand<number, 'CpuAddr'>;
/** A page frame number (`struct page *` in the kernel; `phys >> PAGE_SHIFT`). */
export type Pfn = Brand<number, 'Pfn'>;

/** log2 of the page size. Every profile uses 4 KiB pages. */
export const PAGE_SHIFT = 12;
/** Page size, in bytes. */
export const PAGE_SIZE = 1 << PAGE_SHIFT;

export const physAddr = (n: number): PhysAddr => n as PhysAddr;
export const dmaAddr = (n: number): DmaAddr => n as DmaAddr;
export const cpuAddr = (n: number): CpuAddr => n as CpuAddr;
export const pfn = (n: number): Pfn => n as Pfn;

/** `PFN_PHYS`: the physical address of the first byte of a page frame. */
export const pfnToPhys = (p: Pfn): PhysAddr => (p * PAGE_SIZE) as PhysAddr;
/** `PHYS_PFN`: the page frame holding a physical address. */
export const physToPfn = (a: PhysAddr): Pfn => Math.floor(a / PAGE_SIZE) as Pfn;
/** `PAGE_ALIGN`: round a byte count up to whole pages, in bytes. */
export const pageAlign = (sizeBytes: number): number => Math.ceil(sizeBytes / PAGE_SIZE) * PAGE_SIZE;
/** Number of pages covering `sizeBytes` (`PAGE_ALIGN(size) >> PAGE_SHIFT`). */
export const pagesFor = (sizeBytes: number): number => Math.ceil(sizeBytes / PAGE_SIZE);

/**
 * `get_order`: the smallest order whose block (`PAGE_SIZE << order` bytes)
 * holds `sizeBytes`. `get_order(0)` is undefined in the kernel; here it is 0.
 */
export function getOrder(sizeBytes: number): number {
  if (!(sizeBytes > PAGE_SIZE)) return 0;
  // Beyond 2^52 bytes no simulated address space exists; cap so garbage sizes never loop.
  return Math.min(Math.ceil(Math.log2(sizeBytes / PAGE_SIZE)), 52 - PAGE_SHIFT);
}

/** Highest address representable with this many bits (`DMA_BIT_MASK(bits)`), capped at 2^53 - 1. */
export function maskLimit(bits: number): number {
  return bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
}

/** `min_not_zero`: the smaller of two limits, where 0 means "no limit". */
export function minNotZero(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

/** Lower-case hexadecimal with a `0x` prefix, as the kernel's `%pa`/`%llx` print addresses. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** True when `n` is a positive power of two. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}
