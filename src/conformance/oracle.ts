/**
 * Not a kernel mirror: the data half of the contract model (DESIGN.md "The
 * contract model"). For every buffer the oracle keeps the shadow content,
 * what the last legal writer put there and who that writer was, and it turns
 * what the trusted platform shows (CPU reads through page tables and cache,
 * device reads through the bus, user reads through the mmap'ed pages,
 * substrate accounting) into {@link Observation}s. It never asks the backend
 * what happened.
 *
 * The oracle does not judge: each property (`properties/`) is a checker over
 * observations, so one run can be judged by one property (a fast-check run
 * shrinks towards that property's failure) or by all of them (a replay).
 */
import type { RuleId } from '../../spec/rules.ts';
import type { DebugCheckId, Misuse } from './misuse.ts';
import type { CheckLevel } from '../backend/backend.ts';
import { hex } from '../platform/types.ts';
import type { PlatformViolation } from '../platform/context.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import type { DeviceFaultKind } from '../platform/device.ts';
import type { PageAttr } from '../platform/pgtable.ts';
import type { ObjKind } from './model.ts';
import type { BadCall, NcApi, Step } from './steps.ts';

/** Every level, from the most to the least binding. */
export const CHECK_LEVELS: readonly CheckLevel[] = ['contract', 'linux', 'hardening'];
export type { CheckLevel };

/** Who put a shadow byte there. `unknown` bytes are never compared. */
export const ORIGIN = { unknown: 0, allocZero: 1, cpu: 2, device: 3 } as const;
/** One origin code. */
export type Origin = (typeof ORIGIN)[keyof typeof ORIGIN];
/** The name of each {@link ORIGIN} value, as diagnostics print it. */
export const ORIGIN_NAMES = ['unknown', 'dma_alloc zeroing', 'CPU write', 'device write'] as const;

/**
 * Shadow content of one object: bytes and the origin of each byte. Kept
 * uniform (one value, one origin, no arrays) until a partial write, so a
 * large buffer that is only zeroed and read costs no shadow arrays.
 */
export class Shadow {
  private bytes: Uint8Array | null = null;
  private origins: Uint8Array | null = null;
  private uniformValue = 0;
  private uniformOrigin: Origin = ORIGIN.unknown;

  constructor(readonly sizeBytes: number) {}

  private materialise(): void {
    if (this.bytes !== null) return;
    this.bytes = new Uint8Array(this.sizeBytes);
    this.origins = new Uint8Array(this.sizeBytes);
    if (this.uniformValue !== 0) this.bytes.fill(this.uniformValue);
    if (this.uniformOrigin !== ORIGIN.unknown) this.origins.fill(this.uniformOrigin);
  }

  /** The shadow bytes (materialised on first use). */
  get data(): Uint8Array {
    this.materialise();
    return this.bytes as Uint8Array;
  }

  /** The origin of each byte (materialised on first use). */
  get origin(): Uint8Array {
    this.materialise();
    return this.origins as Uint8Array;
  }

  /** Copy `[offset, offset+len)` of bytes and origins to `data[at..]`, `origin[at..]`. */
  copyTo(offset: number, len: number, data: Uint8Array, origin: Uint8Array, at: number): void {
    if (this.bytes === null) {
      data.fill(this.uniformValue, at, at + len);
      origin.fill(this.uniformOrigin, at, at + len);
      return;
    }
    data.set(this.bytes.subarray(offset, offset + len), at);
    origin.set((this.origins as Uint8Array).subarray(offset, offset + len), at);
  }

  /** Record a legal write of `bytes` at `offset` by `origin`. */
  write(offset: number, bytes: Uint8Array, origin: Origin): void {
    this.materialise();
    (this.bytes as Uint8Array).set(bytes, offset);
    (this.origins as Uint8Array).fill(origin, offset, offset + bytes.length);
  }

  /** Mark `[offset, offset+size)` as holding `value` put there by `origin`. */
  fill(offset: number, sizeBytes: number, value: number, origin: Origin): void {
    if (offset === 0 && sizeBytes >= this.sizeBytes) {
      this.bytes = null;
      this.origins = null;
      this.uniformValue = value;
      this.uniformOrigin = origin;
      return;
    }
    this.materialise();
    (this.bytes as Uint8Array).fill(value, offset, offset + sizeBytes);
    (this.origins as Uint8Array).fill(origin, offset, offset + sizeBytes);
  }

  /** Forget the origin of `[offset, offset+size)`: those bytes are undefined now (never compared). */
  forget(offset: number, sizeBytes: number): void {
    if (this.bytes === null && this.uniformOrigin === ORIGIN.unknown) return;
    this.materialise();
    (this.origins as Uint8Array).fill(ORIGIN.unknown, offset, offset + sizeBytes);
  }
}

/** Where a step sits in its trace, for evidence. */
export interface StepRef {
  /** 1-based index in the trace; 0 for the implicit teardown. */
  readonly index: number;
  readonly step: Step | null;
}

/** A read the platform performed and what the contract expected of it. */
export interface ReadObservation {
  readonly kind: 'cpu-read' | 'device-read' | 'user-read' | 'neighbour-read';
  readonly at: StepRef;
  /** Symbolic name of the object or mapping read. */
  readonly ref: string;
  /** Kind of the object read (`coherent` buffers share ownership, R32). */
  readonly objKind: ObjKind;
  /** Device that read, or null for CPU and user reads. */
  readonly dev: string | null;
  /** Address the read was issued at: kernel VA, DMA address or user offset. */
  readonly addr: number;
  /** Physical address of the first byte, when known. */
  readonly phys: number | null;
  readonly expected: Uint8Array;
  readonly origin: Uint8Array;
  readonly seen: Uint8Array;
  /** The bytes travelled through a swiotlb bounce buffer (the read is of, or through, a mapping whose DMA address is not the buffer's own). */
  readonly bounced: boolean;
  /** Where the object's pages lie (see the `alloc` observation's `region`); null for objects the driver allocated itself. */
  readonly region: string | null;
  /**
   * Not a read the driver made: the oracle's non-perturbing peek of the
   * range that just changed hands, after this transfer (what a CPU load or
   * a device read would return at that moment). Absent for the driver's reads.
   */
  readonly transfer?: Transfer;
}

/** An ownership transfer after which the oracle peeks at the range that changed hands. */
export type Transfer = 'dma_alloc' | 'dma_map' | 'dma_sync_for_device' | 'dma_sync_for_cpu' | 'dma_unmap';

/** Where a zone lies and the largest free buddy block it holds now (a fact the `linux`-level fallback checks read). */
export interface ZoneFacts {
  readonly type: string;
  readonly startPhys: number;
  readonly endPhys: number;
  /** Highest order with a free block, -1 when none. */
  readonly maxFreeOrder: number;
}

/** A gen_pool the substrate knows (atomic pools, ARM32's pool), and where its first fit would place a request now. */
export interface PoolFacts {
  readonly name: string;
  readonly availBytes: number;
  /** Physical address where the pool's algorithm would place the request, or null when it has no room. */
  readonly placementPhys: number | null;
}

/** Everything the oracle reports: what the trusted platform showed, never a verdict (properties judge). */
export type Observation =
  | ReadObservation
  | {
      /** A non-coherent allocation (`dma_alloc_pages`, `dma_alloc_noncoherent`, `dma_alloc_noncontiguous` with its vmap) and the facts of its result. */
      readonly kind: 'nc-alloc';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly api: NcApi;
      readonly sizeBytes: number;
      readonly gfp: number;
      readonly ok: boolean;
      readonly dma: number;
      /** Attribute of the CPU mapping handed out (null on failure or when it does not translate). */
      readonly cpuAttr: PageAttr | null;
      /** What the CPU loads right after the call (first and last 8 KiB) is all zero; null on failure. */
      readonly zeroed: boolean | null;
      readonly faultInjection: boolean;
    }
  | {
      /** A `dma_map_resource` call: where its DMA address leads through the device's bus, and what the call did to the CPU caches. */
      readonly kind: 'resource';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly resource: string;
      /** Physical address of the MMIO mapped. */
      readonly phys: number;
      readonly sizeBytes: number;
      readonly ok: boolean;
      readonly dma: number;
      /** Why the DMA address does not lead to the resource through the device's bus (windows, mask, bus limit), or null when it does. */
      readonly misdirected: string | null;
      /** Cache clean and invalidate operations the call made (none belong to MMIO). */
      readonly cacheOps: number;
      /** The device's streaming mask in force, bits. */
      readonly maskBits: number;
    }
  | {
      /**
       * The IOMMU translations a device can use after a step, judged against
       * what is live for it: an entry no live allocation or mapping of the
       * device covers, a permission wider than the direction allows, an
       * IOTLB entry that outlived its unmap (at once in strict mode, after a
       * flush event in lazy mode, or over a reused IOVA).
       */
      readonly kind: 'iommu';
      readonly at: StepRef;
      readonly dev: string;
      /** The allocation or mapping (live or gone) whose IOVA range holds the first offending entry, or null. */
      readonly ref: string | null;
      readonly strict: boolean;
      readonly granuleBytes: number;
      /** The first page-table entry no live range of the device covers, as evidence, or null. */
      readonly unexpected: string | null;
      /** The first entry with a permission beyond what the covering ranges allow, as evidence, or null. */
      readonly overPermission: string | null;
      /** The first IOTLB entry that outlived its unmap where the mode allows no more, as evidence, or null. */
      readonly stale: string | null;
    }
  | {
      /** A streaming mapping of an untrusted device behind an IOMMU: what its granules expose beyond the buffer. */
      readonly kind: 'iommu-exposure';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly dma: number;
      readonly sizeBytes: number;
      readonly granuleBytes: number;
      /** Bytes of the mapped granules outside the buffer. */
      readonly outsideBytes: number;
      /** True when those granules are the buffer's own pages (not a bounce buffer): the device reads the buffer's neighbours. */
      readonly inPlace: boolean;
      /** Non-zero bytes outside the buffer in a bounce buffer's granules (another user's data), or 0. */
      readonly nonZero: number;
    }
  | {
      /** The DMA segments of an sg mapping as the backend merged them, with the device's limits. */
      readonly kind: 'sg-segments';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      /** Bytes of the input entries, in order. */
      readonly entryBytes: readonly number[];
      readonly segments: readonly { readonly dma: number; readonly len: number }[];
      readonly maxSegmentSize: number;
      readonly segmentBoundaryMask: number;
    }
  | {
      /** A device access through a resource mapping, and what the MMIO registers show after it. */
      readonly kind: 'resource-io';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly access: 'read' | 'write';
      /** Null when the bytes moved between the device and the registers; else what went wrong, with both sides. */
      readonly mismatch: string | null;
    }
  | {
      /** The addressing queries of one device, with the facts to judge them by. */
      readonly kind: 'addressing';
      readonly at: StepRef;
      readonly dev: string;
      /** `dma_addressing_limited`. */
      readonly limited: boolean;
      /** A RAM byte the device cannot reach in place with its streaming mask, bus limit and windows, as evidence; null when it reaches all RAM. */
      readonly unreachableRam: string | null;
      /** Linux's own answer, `mask < dma_get_required_mask` or RAM outside the windows (it rounds the top of RAM up to a power of two). */
      readonly linuxLimited: boolean;
      /** `dma_get_required_mask` as a limit in bytes, null when not declared. */
      readonly requiredMask: number | null;
      /** DMA address of the last byte of RAM through the device's windows (null when outside every window). */
      readonly ramTopDma: number | null;
      /** `dma_opt_mapping_size` and `dma_max_mapping_size`, bytes, null when not declared. */
      readonly optMappingSize: number | null;
      readonly maxMappingSize: number | null;
      /** `dma_need_unmap`, null when not declared. */
      readonly needUnmap: boolean | null;
      /** A live mapping of the device that went through a bounce buffer, as evidence, or null. */
      readonly bouncedMapping: string | null;
      /** `dma_get_merge_boundary`, null when not declared. */
      readonly mergeBoundary: number | null;
      readonly maskBits: number;
    }
  | {
      /**
       * What the machine looked like once the backend booted, before the
       * first step: the gen_pools it created (atomic pools, device pools)
       * with their sizes, and the size of each device's swiotlb.
       */
      readonly kind: 'boot';
      readonly at: StepRef;
      readonly pools: readonly { readonly name: string; readonly sizeBytes: number }[];
      /** Slots of the swiotlb each device uses, when the backend reports it. */
      readonly swiotlbSlots: Readonly<Record<string, number>>;
    }
  | {
      /** A `dma_set_mask`/`dma_set_coherent_mask`/`dma_set_mask_and_coherent` call and what it returned. */
      readonly kind: 'set-mask';
      readonly at: StepRef;
      readonly dev: string;
      readonly which: 'mask' | 'coherent' | 'both';
      readonly bits: number;
      /** 0 or a negative errno. */
      readonly ret: number;
    }
  | {
      /** A DMA address was handed to a device (a coherent handle, a mapping or one mapped sg segment). */
      readonly kind: 'dma-address';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly dma: number;
      readonly sizeBytes: number;
      /** Mask width in force: the device's natural width set at probe, or what the driver set since (streaming mask for mappings, coherent mask for allocations). */
      readonly maskBits: number;
      /** What makes the range unreachable through the bus (mask, bus limit, windows, not RAM), or null. */
      readonly unreachable: string | null;
      /** The first private (encrypted) page the range reaches on an encrypted guest, as a physical address, or null. */
      readonly privatePhys: number | null;
      /** Where the range leaves the device's restricted-dma-pool, as evidence, or null. */
      readonly outsidePool: string | null;
    }
  | {
      /** A device access through a handed-out address faulted. */
      readonly kind: 'device-fault';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly dma: number;
      readonly sizeBytes: number;
      readonly faultKind: DeviceFaultKind;
      readonly reason: string;
    }
  | {
      /** A `dma_alloc_attrs` call, with the facts of its result (or of its failure). */
      readonly kind: 'alloc';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly sizeBytes: number;
      readonly gfp: number;
      readonly attrs: number;
      readonly ok: boolean;
      /** Success: the CPU address (or cookie) and handle. */
      readonly cpuAddr: number | null;
      readonly dma: number;
      /** The buffer has a kernel mapping the CPU may use (no NO_KERNEL_MAPPING cookie). */
      readonly kernelMapping: boolean;
      /** Physical address of each page of the buffer, from its kernel mapping (or for a cookie the handle); null when they do not translate. */
      readonly pages: readonly number[] | null;
      /** Where the pages lie: `cma:<area>`, `pool:<gen_pool>`, `coherent-pool:<dev>`, `restricted-pool:<dev>`, `global-pool`, `buddy`, `mixed`; null on failure. */
      readonly region: string | null;
      /** Attribute of the CPU mapping handed out (null for a cookie or on failure). */
      readonly cpuAttr: PageAttr | null;
      /** A live object or bounce buffer the pages overlap, as evidence, or null. */
      readonly overlaps: string | null;
      /** Failure: what changed in the substrate's accounting although nothing was handed out. */
      readonly changed: readonly string[];
      /** Live coherent buffers and streaming mappings (every device) before the call. */
      readonly live: number;
      /** Failure: the zones and their largest free blocks, and the substrate's gen_pools with their placement for this size. */
      readonly zones: readonly ZoneFacts[] | null;
      readonly pools: readonly PoolFacts[] | null;
      /** Fault injection was on (page allocation or page-state conversion may fail on purpose). */
      readonly faultInjection: boolean;
      /** The device's coherent DMA mask in bits when the call was made: its width, or the last mask the backend accepted. */
      readonly coherentMaskBits: number;
    }
  | {
      /** A coherent buffer was freed: which of its pages are still held, and where. */
      readonly kind: 'free';
      readonly at: StepRef;
      readonly ref: string;
      readonly region: string | null;
      /** Pages of the buffer still held after the free, with where (`CMA area x`, `gen_pool y`, `not on the buddy free lists`); empty when all came back. */
      readonly held: readonly { readonly pfn: number; readonly where: string }[];
    }
  | {
      readonly kind: 'oops';
      readonly at: StepRef;
      readonly message: string;
      /** Faulting kernel virtual address, when the backend took a page fault. */
      readonly faultAddress: number | null;
      /** The NO_KERNEL_MAPPING buffer whose cookie the fault address lies in, if any. */
      readonly cookieOf: string | null;
    }
  | { readonly kind: 'platform-violation'; readonly at: StepRef; readonly violation: PlatformViolation }
  | {
      readonly kind: 'sgtable';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      /** Where the buffer's pages lie (see the `alloc` observation), or null. */
      readonly region: string | null;
      readonly ret: number;
      /** Page frames of the buffer, as the platform shows them. */
      readonly expectedPfns: readonly number[];
      /** Page frames the returned table covers, in order. */
      readonly seenPfns: readonly number[];
      readonly sizeBytes: number;
    }
  | {
      readonly kind: 'mmap';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      /** Where the buffer's pages lie (see the `alloc` observation), or null. */
      readonly region: string | null;
      readonly ret: number;
      readonly populatedPages: number;
      readonly expectedPages: number;
    }
  | { readonly kind: 'leak'; readonly at: StepRef; readonly differences: readonly string[] }
  | {
      /** After teardown: the IOVA space an IOMMU device's mappings hold (the backend's `iovaState`), against the start. */
      readonly kind: 'iova-state';
      readonly at: StepRef;
      readonly dev: string;
      readonly startBytes: number;
      /** Null when the backend says the device has no IOMMU now. */
      readonly endBytes: number | null;
    }
  | {
      /**
       * A streaming mapping used a kmalloc object in place (its DMA address
       * leads to the object itself), with the facts R11 is judged on.
       */
      readonly kind: 'kmalloc-in-place';
      readonly at: StepRef;
      readonly ref: string;
      readonly obj: string;
      readonly dev: string;
      readonly dir: 'DMA_TO_DEVICE' | 'DMA_FROM_DEVICE' | 'DMA_BIDIRECTIONAL';
      /** The platform's device snoops the CPU cache (or the arch has no caches to maintain). */
      readonly coherent: boolean;
      /** First byte mapped and bytes mapped. */
      readonly phys: number;
      readonly sizeBytes: number;
      /** The object's slab slot (`ksize` bytes from its start): bytes beyond it belong to other objects, now or later. */
      readonly slotPhys: number;
      readonly slotBytes: number;
      /** CPU cache line, bytes. */
      readonly lineBytes: number;
    }
  | {
      /** A mapping segment whose DMA address leads to other memory than the buffer: a bounce buffer. */
      readonly kind: 'bounce';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly dma: number;
      readonly sizeBytes: number;
      /** Physical address the DMA address reaches. */
      readonly bouncePhys: number;
      /** Physical address of the buffer mapped. */
      readonly origPhys: number;
      /** Another live bounce buffer or driver object the bounce buffer overlaps, as evidence, or null. */
      readonly overlaps: string | null;
    }
  | {
      /** A device's swiotlb accounting after everything was unmapped and freed, against the start (`swiotlbState`). */
      readonly kind: 'swiotlb-state';
      readonly at: StepRef;
      readonly dev: string;
      readonly differences: readonly string[];
    }
  | {
      readonly kind: 'refusal';
      readonly at: StepRef;
      readonly call: BadCall;
      readonly expected: string;
      readonly got: string;
      /** What changed although the call was refused, or null. */
      readonly changed: string | null;
    }
  | {
      /** A misuse step ran (misuse mode): what it was, and what dma-debug reported during it. */
      readonly kind: 'misuse';
      readonly at: StepRef;
      readonly misuse: Misuse;
      readonly ref: string;
      readonly dev: string | null;
      /** The dma-debug check designed to report it, or null where dma-debug cannot see it. */
      readonly expectedDebug: DebugCheckId | null;
      /** The checks dma-debug reported during the step. */
      readonly reported: readonly string[];
      /** What the platform did at once (a CPU page fault, a device fault), or null. */
      readonly immediate: string | null;
    }
  | {
      /**
       * An observation about memory a misuse touched (misuse mode): not
       * judged as a property violation, but kept as the misuse's consequence
       * for the matrix.
       */
      readonly kind: 'consequence';
      readonly at: StepRef;
      /** The misuse that touched the memory (the latest, when several did), and its step. */
      readonly misuse: Misuse;
      readonly misuseStep: number;
      readonly observation: Observation;
    }
  | {
      /** One dma-debug report (`src/linux/kernel/dma/debug.ts`), with whether the step was a misuse. */
      readonly kind: 'debug-report';
      readonly at: StepRef;
      readonly check: string;
      readonly dev: string;
      readonly message: string;
      /** The report is a misuse's doing: in a misuse or invalid-call step, on memory a misuse touched, or in the teardown after one. */
      readonly duringMisuse: boolean;
    };

/** One kind of observation. */
export type ObservationKind = Observation['kind'];

/** A broken contract: which property and check, at which level, which rules, where, and the evidence. */
export interface Violation {
  readonly property: string;
  /** The check that failed (its id within the property). */
  readonly check: string;
  readonly level: CheckLevel;
  /** The rules of the failed check. */
  readonly rules: readonly RuleId[];
  /** The kernel function or document the check follows, when no rule states it. */
  readonly see?: string;
  /** What the check allows. */
  readonly latitude?: string;
  readonly at: StepRef;
  /** One line: the actor, the broken expectation, bracketed `key=value` evidence with both sides. */
  readonly message: string;
}

/** A read's first mismatch over compared bytes. */
export interface Mismatch {
  /** Byte offset in the read of the first differing byte. */
  readonly offset: number;
  /** Number of compared bytes that differ. */
  readonly count: number;
  /** Origin of the expected byte at `offset`. */
  readonly origin: string;
  /** Up to 8 expected and seen bytes from `offset`, hex. */
  readonly expectedHex: string;
  readonly seenHex: string;
}

function hexBytes(b: Uint8Array, from: number, n: number): string {
  let s = '';
  for (let i = from; i < Math.min(b.length, from + n); i++) s += (b[i] as number).toString(16).padStart(2, '0');
  return s;
}

/**
 * Compare a read over the bytes whose origin passes `compare` (default:
 * every byte with a known origin).
 * @returns the first mismatch, or null when every compared byte agrees
 */
export function firstMismatch(obs: ReadObservation, compare: (origin: number) => boolean = (o) => o !== ORIGIN.unknown): Mismatch | null {
  let first = -1;
  let count = 0;
  const { expected, seen, origin } = obs;
  for (let i = 0; i < expected.length; i++) {
    const o = origin[i] as number;
    if (o === ORIGIN.unknown || !compare(o)) continue;
    if (expected[i] !== seen[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return null;
  return {
    offset: first,
    count,
    origin: ORIGIN_NAMES[origin[first] as number] as string,
    expectedHex: hexBytes(expected, first, 8),
    seenHex: hexBytes(seen, first, 8),
  };
}

/** The standard one-line evidence for a read mismatch. */
export function describeMismatch(obs: ReadObservation, m: Mismatch): string {
  const where = obs.kind === 'device-read' ? `dma=${hex(obs.addr + m.offset)}` : obs.kind === 'user-read' ? `user_offset=${obs.addr + m.offset}` : `vaddr=${hex(obs.addr + m.offset)}`;
  const phys = obs.phys === null ? '' : ` [phys=${hex(obs.phys + m.offset)}]`;
  const dev = obs.dev === null ? '' : ` [dev=${obs.dev}]`;
  const peek = obs.transfer === undefined ? '' : ` [observed_after=${obs.transfer}]`;
  return `[ref=${obs.ref}]${dev} [${where}]${phys} [bytes_differing=${m.count}/${obs.expected.length}] [expected=${m.expectedHex}] [seen=${m.seenHex}] [written_by=${m.origin}]${peek}`;
}

/**
 * Latitude: on this profile's architecture, mapping a buffer
 * `DMA_FROM_DEVICE` may discard what the CPU wrote before (ARM32 invalidates
 * at the start of a FROM_DEVICE transfer; arm64 did until 2022), so bytes
 * the device then does not write are undefined rather than preserved. Where
 * this is false (arm64 since "Don't invalidate FROM_DEVICE buffers at start
 * of DMA transfer", swiotlb since the info-leak fix) they must keep their
 * earlier content (arch/arm64/mm/dma-mapping.c `arch_sync_dma_for_device`,
 * arch/arm/mm/dma-mapping.c `__dma_page_cpu_to_dev`). dma-iommu's bounce
 * buffers keep them too (swiotlb copies the buffer in; only the padding
 * around it is cleared).
 */
export function fromDeviceMapMayDiscard(profile: PlatformProfile): boolean {
  return profile.dma.archSync === 'armv7' || profile.dma.archSync === 'arm64-pre-2022';
}
