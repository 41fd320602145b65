/**
 * Not a kernel mirror: build one platform, its substrate and a backend on
 * them in one call, with the profile's devices attached and their masks
 * set, which is what a driver's probe does before its first DMA (R12).
 *
 * {@link setUp} is the convenience for tests and scripts: it trusts the
 * backend and throws when a device cannot be attached. {@link bootMachine}
 * is what the harness uses: the backend is behind the box (`guard.ts`), a
 * device the backend refuses (`attachDevice` returning `-ENODEV`, which the
 * DMA API documents) is left out and reported, whatever `create` throws is
 * a `BackendCallError`, and a created object that is not a backend an
 * `UnusableBackendError`.
 */
import { createSubstrate, type Substrate } from '../linux/mm/substrate.ts';
import { errnoName } from '../linux/include/linux/errno.ts';
import { type FaultOptions } from '../platform/faults.ts';
import { type Platform, createPlatform } from '../platform/platform.ts';
import { type PlatformProfile, getProfile } from '../platform/profiles.ts';
import type { BackendCapabilities, BackendFactory, DmaBackend } from './backend.ts';
import { GuardedBackend, UnusableBackendError, backendShapeProblem, watched } from './guard.ts';
import referenceBackend from './reference.ts';

/** Options of {@link setUp}. */
export interface SetUpOptions {
  /** Platform seed. Default `'1'`. */
  readonly seed?: string;
  /** Backend factory. Default: the reference backend. */
  readonly backend?: BackendFactory;
  /** Fault injection for the platform. */
  readonly faults?: Partial<FaultOptions>;
  /**
   * Mask width set on every device with `dma_set_mask_and_coherent`; default
   * each device's `addressBits` (its natural mask). Null leaves the kernel's
   * 32-bit default.
   */
  readonly maskBits?: number | null;
}

/** A ready machine: platform, substrate, backend with every device attached. */
export interface SetUp<B extends DmaBackend = DmaBackend> {
  readonly platform: Platform;
  readonly mm: Substrate;
  readonly backend: B;
}

function machine(profile: string | PlatformProfile, seed: string, faults: Partial<FaultOptions> | undefined): { platform: Platform; mm: Substrate } {
  const platform = createPlatform(typeof profile === 'string' ? getProfile(profile) : profile, { seed, ...(faults === undefined ? {} : { faults }) });
  return { platform, mm: createSubstrate(platform) };
}

/**
 * Build `profile` (a built-in name or a profile object) with a backend and attach every device.
 * @throws Error when the profile is unknown, or a device cannot be attached or masked
 */
export function setUp<B extends DmaBackend = DmaBackend>(profile: string | PlatformProfile, options: SetUpOptions = {}): SetUp<B> {
  const { platform, mm } = machine(profile, options.seed ?? '1', options.faults);
  const backend = (options.backend ?? referenceBackend).create({ platform, mm }) as B;
  for (const d of platform.devices) {
    const r = backend.attachDevice(d.name);
    if (r !== 0) throw new Error(`${backend.name}: attachDevice(${d.name}) returned ${r}`);
    const bits = options.maskBits === undefined ? d.config.addressBits : options.maskBits;
    if (bits !== null) {
      const m = backend.setMaskAndCoherent(d.name, bits);
      if (m !== 0) throw new Error(`${backend.name}: dma_set_mask_and_coherent(${d.name}, ${bits}) returned ${m}`);
    }
  }
  return { platform, mm, backend };
}

/** Options of {@link bootMachine}. */
export interface BootOptions {
  readonly seed: string;
  readonly backend: BackendFactory;
  /** The backend's declared capabilities (read once, safely, when the module was loaded). Default: read from the factory. */
  readonly capabilities?: BackendCapabilities;
  /** Devices to attach, in this order; default every device of the profile. */
  readonly devices?: readonly string[];
  readonly faults?: Partial<FaultOptions>;
}

/** A machine with a boxed backend; `attached` devices are usable, `refused` ones are left out. */
export interface Machine {
  readonly platform: Platform;
  readonly mm: Substrate;
  readonly backend: GuardedBackend;
  readonly attached: readonly string[];
  readonly refused: readonly { readonly dev: string; readonly why: string }[];
}

/**
 * Boot a machine for the harness: `create(env)` behind the box, then
 * `attachDevice` and `dma_set_mask_and_coherent` (the device's natural
 * width) on each device.
 * @throws BackendCallError when `create` (or an attach) throws; UnusableBackendError when it returns something that cannot be driven
 */
export function bootMachine(profile: string | PlatformProfile, o: BootOptions): Machine {
  const { platform, mm } = machine(profile, o.seed, o.faults);
  const caps = o.capabilities ?? o.backend.capabilities;
  const inner = watched('create', () => o.backend.create({ platform, mm }));
  const problem = backendShapeProblem(inner, caps);
  if (problem !== null) throw new UnusableBackendError(`--backend ${o.backend.name}: ${problem}`);
  const backend = new GuardedBackend(inner, o.backend.name, caps);
  const attached: string[] = [];
  const refused: { dev: string; why: string }[] = [];
  for (const name of o.devices ?? platform.devices.map((d) => d.name)) {
    const r = backend.attachDevice(name);
    if (r !== 0) {
      refused.push({ dev: name, why: `attachDevice(${name}) returned ${errnoName(r)}` });
      continue;
    }
    const bits = platform.device(name).config.addressBits;
    const m = backend.setMaskAndCoherent(name, bits);
    if (m !== 0) refused.push({ dev: name, why: `dma_set_mask_and_coherent(${name}, DMA_BIT_MASK(${bits})) returned ${errnoName(m)}` });
    else attached.push(name);
  }
  return { platform, mm, backend, attached, refused };
}
