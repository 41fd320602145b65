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
import { hex } from '../platform/types.ts';
import type { PlatformViolation } from '../platform/context.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import type { ObjKind } from './model.ts';
import type { Step } from './steps.ts';

/** Who put a shadow byte there. `unknown` bytes are never compared. */
export const ORIGIN = { unknown: 0, allocZero: 1, cpu: 2, device: 3 } as const;
/** One origin code. */
export type Origin = (typeof ORIGIN)[keyof typeof ORIGIN];
const ORIGIN_NAMES = ['unknown', 'dma_alloc zeroing', 'CPU write', 'device write'] as const;

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
  /** Where the object's pages lie (see `AllocSource.region`); null for objects the driver allocated itself. */
  readonly region: string | null;
}

/**
 * The path the kernel takes for a `dma_alloc_attrs` call, as the profile and
 * the device's description decide it (kernel-dma.md §1.1–1.3, §1.17):
 * `direct` = pages (CMA, then the buddy allocator), `atomic-pool`,
 * `device-pool`, `global-pool`, `arm` (ARM32's allocator: CMA without
 * fallback, remap, or its atomic pool), `swiotlb` (restricted pool).
 */
export type AllocPath = 'direct' | 'atomic-pool' | 'device-pool' | 'global-pool' | 'arm' | 'swiotlb';

/** Everything the oracle reports. */
export type Observation =
  | ReadObservation
  | {
      readonly kind: 'dma-address';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly dma: number;
      readonly sizeBytes: number;
      /** Mask width in force (coherent mask for allocations, streaming mask for maps). */
      readonly maskBits: number;
      /** Why the range is unreachable by the device, or null when it is reachable. */
      readonly problem: string | null;
    }
  | {
      readonly kind: 'alloc';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly ok: boolean;
      /** Problems found with a successful allocation (alignment, overlap, bad address), or with a failure's side effects. */
      readonly problems: readonly string[];
    }
  | {
      /**
       * Where an allocation came from, judged against the path the kernel
       * takes (`path`). `region`: `cma:<area>`, `pool:<gen_pool>`,
       * `coherent-pool:<dev>`, `global-pool`, `buddy`, `mixed`, or null on
       * failure. Problems are sorted by the property that owns them.
       */
      readonly kind: 'alloc-source';
      readonly at: StepRef;
      readonly ref: string;
      readonly dev: string;
      readonly path: AllocPath;
      readonly region: string | null;
      readonly blocking: boolean;
      readonly cmaProblems: readonly string[];
      readonly atomicProblems: readonly string[];
      readonly poolProblems: readonly string[];
    }
  | {
      /** A coherent buffer was freed: were its pages given back to where they came from? */
      readonly kind: 'free';
      readonly at: StepRef;
      readonly ref: string;
      readonly region: string | null;
      readonly problems: readonly string[];
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
      readonly ret: number;
      /** Page frames of the buffer, as the platform shows them. */
      readonly expectedPfns: readonly number[];
      /** Page frames the returned table covers, in order. */
      readonly seenPfns: readonly number[];
      readonly sizeBytes: number;
    }
  | { readonly kind: 'mmap'; readonly at: StepRef; readonly ref: string; readonly ret: number; readonly populatedPages: number; readonly expectedPages: number }
  | { readonly kind: 'leak'; readonly at: StepRef; readonly differences: readonly string[] }
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
      /** Broken bounce-buffer rules (alignment, boundary, overlap), empty when sound. */
      readonly problems: readonly string[];
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
      readonly call: string;
      readonly expected: string;
      readonly got: string;
      /** What changed although the call was refused, or null. */
      readonly changed: string | null;
    };

/** A broken contract: which property, which rules, where, and the evidence. */
export interface Violation {
  readonly property: string;
  readonly rules: readonly RuleId[];
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
  return `[ref=${obs.ref}]${dev} [${where}]${phys} [bytes_differing=${m.count}/${obs.expected.length}] [expected=${m.expectedHex}] [seen=${m.seenHex}] [written_by=${m.origin}]`;
}

/**
 * Latitude: on this profile's architecture, mapping a buffer
 * `DMA_FROM_DEVICE` may discard what the CPU wrote before (ARM32 invalidates
 * at the start of a FROM_DEVICE transfer; arm64 did until 2022), so bytes
 * the device then does not write are undefined rather than preserved. Where
 * this is false (arm64 since "Don't invalidate FROM_DEVICE buffers at start
 * of DMA transfer", swiotlb since the info-leak fix) they must keep their
 * earlier content. kernel-dma.md §2.8.
 */
export function fromDeviceMapMayDiscard(profile: PlatformProfile): boolean {
  return profile.dma.archSync === 'armv7' || profile.dma.archSync === 'arm64-pre-2022';
}
