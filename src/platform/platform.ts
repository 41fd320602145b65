/**
 * One simulated machine: memory, cache, page tables, CPU, user space,
 * devices, execution context, fault injection and the seeded PRNG, built
 * from a validated {@link PlatformProfile}.
 *
 * Not a kernel mirror. The platform is trusted: every backend runs on it,
 * and the oracle observes through it (CPU reads through page tables and
 * cache, device reads through the bus, user reads through mmap'ed pages).
 * It also carries the legal hardware events of DESIGN.md "The hardware
 * model": speculative fill, eviction, write-combine drain.
 */
import { MmioSpace } from './mmio.ts';
import { CpuCache } from './cache.ts';
import { ExecutionContext, ViolationLog } from './context.ts';
import { Cpu, WriteCombineBuffer } from './cpu.ts';
import { DeviceHw, MemoryEncryption } from './device.ts';
import { DEFAULT_FAULTS, FaultInjector, type FaultOptions, validateFaults } from './faults.ts';
import { PhysicalMemory } from './memory.ts';
import { KernelPageTables } from './pgtable.ts';
import { Prng } from './prng.ts';
import { type PlatformProfile, ProfileError, assertValidProfile } from './profiles.ts';
import { UserSpace } from './user.ts';

/** Options of {@link createPlatform}. */
export interface PlatformOptions {
  /** Seed of every random choice the platform makes (garbage, faults, events). */
  readonly seed: string;
  /** Fault injection; every knob defaults to off. */
  readonly faults?: Partial<FaultOptions>;
}

/** A simulated machine. Create with {@link createPlatform}. */
export class Platform {
  readonly prng: Prng;
  readonly mem: PhysicalMemory;
  readonly cache: CpuCache;
  readonly pt: KernelPageTables;
  readonly cpu: Cpu;
  readonly user: UserSpace;
  readonly violations = new ViolationLog();
  readonly context: ExecutionContext;
  readonly faults: FaultInjector;
  /** Page states of an encrypted guest (`profile.memEncrypt`); null otherwise. */
  readonly encryption: MemoryEncryption | null;
  /** Device MMIO regions a DMA engine can target (`dma_map_resource`). */
  readonly mmio: MmioSpace;
  private readonly devs = new Map<string, DeviceHw>();

  constructor(
    readonly profile: PlatformProfile,
    options: PlatformOptions,
  ) {
    assertValidProfile(profile);
    const faults = { ...DEFAULT_FAULTS, ...options.faults };
    const fe = validateFaults(faults);
    if (fe.length > 0) throw new ProfileError(profile.name, fe);
    this.prng = new Prng(options.seed);
    this.mem = new PhysicalMemory(profile.ram, this.prng.fork('memory'));
    this.cache = new CpuCache(this.mem, profile.cache.lineSizeBytes, profile.cache.partialLinePolicy);
    this.pt = new KernelPageTables(profile.va, this.mem);
    this.cpu = new Cpu(this.pt, this.cache, this.mem, new WriteCombineBuffer(this.mem));
    this.pt.onTlbFlush = () => this.cpu.wc.drain();
    this.user = new UserSpace(this.mem, this.cache);
    this.context = new ExecutionContext(this.violations);
    this.faults = new FaultInjector(faults, this.prng.fork('faults'));
    this.encryption = profile.memEncrypt ? new MemoryEncryption() : null;
    this.mmio = new MmioSpace(profile.mmio);
    for (const d of profile.devices) this.devs.set(d.name, new DeviceHw(d, this.mem, this.cache, this.encryption, this.mmio));
  }

  /** The device named `name`; throws with the accepted names when unknown. */
  device(name: string): DeviceHw {
    const d = this.devs.get(name);
    if (d === undefined) throw new Error(`unknown device '${name}' on ${this.profile.name}: accepted are ${[...this.devs.keys()].join(', ')}`);
    return d;
  }

  /** Every device, in profile order. */
  get devices(): readonly DeviceHw[] {
    return [...this.devs.values()];
  }

  /**
   * Legal event: the CPU speculatively fills the line holding `phys`. Only
   * lines that some kernel mapping makes cacheable can be filled.
   * @returns true when the line was (or already is) in the cache
   */
  speculativeFill(phys: number): boolean {
    if (!this.mem.isRam(phys) || !this.pt.isCacheableSomewhere(phys)) return false;
    this.cache.speculativeFill(phys);
    return true;
  }

  /** Legal event: the cache evicts the line holding `phys` (written back if dirty). */
  evict(phys: number): void {
    this.cache.evict(phys);
  }

  /**
   * The machine is thrown away (a harness is done with one sequence): its
   * cache arena and page buffers go to the next machine built in this
   * thread. Nothing may use the platform afterwards.
   */
  release(): void {
    this.cache.release();
    this.mem.release();
  }

  /** Legal event: the write-combine buffer drains to RAM. */
  wcDrain(): void {
    this.cpu.wc.drain();
  }
}

/** Build a platform; throws {@link ProfileError} naming every conflicting knob when the profile or faults are invalid. */
export function createPlatform(profile: PlatformProfile, options: PlatformOptions): Platform {
  return new Platform(profile, options);
}
