/**
 * Not a kernel mirror: build one platform, its substrate and a backend on
 * them in one call, with every device of the profile attached and its masks
 * set, which is what a driver's probe does before its first DMA (R12).
 */
import { createSubstrate, type Substrate } from '../linux/mm/substrate.ts';
import { type FaultOptions } from '../platform/faults.ts';
import { type Platform, createPlatform } from '../platform/platform.ts';
import { getProfile } from '../platform/profiles.ts';
import type { BackendFactory, DmaBackend } from './backend.ts';
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

/**
 * Build profile `profileName` with a backend and attach every device.
 * @throws Error when the profile is unknown, or a device cannot be attached or masked
 */
export function setUp<B extends DmaBackend = DmaBackend>(profileName: string, options: SetUpOptions = {}): SetUp<B> {
  const platform = createPlatform(getProfile(profileName), {
    seed: options.seed ?? '1',
    ...(options.faults === undefined ? {} : { faults: options.faults }),
  });
  const mm = createSubstrate(platform);
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
