/**
 * Not a kernel mirror: profile variation (DESIGN.md "Search power"). A
 * sequence may run on a variant of its profile: the same devices and
 * architecture, but memory placed and sized differently, within what the
 * profile validator accepts: CMA areas, the atomic pools, the swiotlb and
 * the per-device and restricted pools shrunk, RAM banks shrunk, devices
 * given narrower masks, a bus limit, a `min_align_mask` or segment limits.
 * Bugs that need a placement the fixed profiles never make (an area that
 * runs out after two allocations, a pool a device cannot reach, a mask that
 * forces bouncing) then show up.
 *
 * A variant is named by its overrides, a small JSON object carried by the
 * `platform` step that opens the sequence, so a trace replays on exactly
 * the machine it failed on and shrinking may drop the step (back to the
 * plain profile). Each profile has {@link VARIANTS} variants, drawn once
 * from a PRNG seeded with the profile's name, so boot caches stay warm.
 */
import { Prng } from '../platform/prng.ts';
import type { DeviceConfig } from '../platform/device.ts';
import { type PlatformProfile, pageblockBytes, validateProfile } from '../platform/profiles.ts';
import { PAGE_SIZE } from '../platform/types.ts';

/** How one device differs. */
export interface DeviceOverrides {
  readonly addressBits?: number;
  readonly busDmaLimit?: number;
  readonly minAlignMask?: number;
  readonly maxSegmentSize?: number;
  readonly segmentBoundaryMask?: number;
  /** Size of its per-device coherent pool, bytes (kept at its base). */
  readonly coherentPoolBytes?: number;
  /** Size of its restricted-dma-pool, bytes (kept at its base). */
  readonly restrictedPoolBytes?: number;
}

/** How a variant differs from its profile. Every size only shrinks a region in place. */
export interface ProfileOverrides {
  /** RAM bank sizes, bytes, by bank index. */
  readonly ramBytes?: Readonly<Record<string, number>>;
  /** CMA area sizes, bytes, by area name. */
  readonly cmaBytes?: Readonly<Record<string, number>>;
  /** `coherent_pool=`, bytes. */
  readonly coherentPoolBytes?: number;
  /** Slots of the boot-time swiotlb pool. */
  readonly swiotlbSlots?: number;
  /** By device name. */
  readonly devices?: Readonly<Record<string, DeviceOverrides>>;
}

/** Variants per profile. */
export const VARIANTS = 8;

/**
 * The profile `base` with `ov` applied, named after it. Nothing is validated here.
 * @throws Error for an override naming a bank, area or device the profile lacks
 */
export function applyOverrides(base: PlatformProfile, ov: ProfileOverrides): PlatformProfile {
  const ram = base.ram.map((b, i) => {
    const size = ov.ramBytes?.[String(i)];
    return size === undefined ? b : { ...b, sizeBytes: size };
  });
  for (const k of Object.keys(ov.ramBytes ?? {})) if (base.ram[Number(k)] === undefined) throw new Error(`platform overrides: no RAM bank ${k}`);
  for (const k of Object.keys(ov.cmaBytes ?? {})) if (!base.cma.some((c) => c.name === k)) throw new Error(`platform overrides: no CMA area ${k}`);
  for (const k of Object.keys(ov.devices ?? {})) if (!base.devices.some((d) => d.name === k)) throw new Error(`platform overrides: no device ${k}`);
  const cma = base.cma.map((c) => {
    const size = ov.cmaBytes?.[c.name];
    return size === undefined ? c : { ...c, sizeBytes: size };
  });
  const devices = base.devices.map((d): DeviceConfig => {
    const o = ov.devices?.[d.name];
    if (o === undefined) return d;
    const { coherentPoolBytes, restrictedPoolBytes, ...plain } = o;
    return {
      ...d,
      ...plain,
      coherentPool: coherentPoolBytes === undefined || d.coherentPool === null ? d.coherentPool : { ...d.coherentPool, sizeBytes: coherentPoolBytes },
      restrictedDmaPool: restrictedPoolBytes === undefined || d.restrictedDmaPool === null ? d.restrictedDmaPool : { ...d.restrictedDmaPool, sizeBytes: restrictedPoolBytes },
    };
  });
  return {
    ...base,
    name: `${base.name}~${digest(JSON.stringify(ov))}`,
    description: `${base.description} (variant)`,
    ram,
    cma,
    coherentPoolBytes: ov.coherentPoolBytes ?? base.coherentPoolBytes,
    swiotlb: base.swiotlb === null || ov.swiotlbSlots === undefined ? base.swiotlb : { ...base.swiotlb, slots: ov.swiotlbSlots },
    devices,
  };
}

/** A short stable name for a variant (FNV-1a of its overrides). */
function digest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

const cache = new Map<string, ProfileOverrides>();

/**
 * Variant `v` (1..{@link VARIANTS}) of `base`: knobs drawn from a PRNG
 * seeded with the profile's name and `v`, each kept only when the profile
 * validator accepts the result.
 */
export function profileVariant(base: PlatformProfile, v: number): ProfileOverrides {
  const key = `${base.name}#${v}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const r = new Prng(key);
  const chance = (n: number) => r.below(n) === 0;
  const pick = <T>(xs: readonly T[]): T => xs[r.below(xs.length)] as T;
  let ov: ProfileOverrides = {};
  const tryKnob = (next: ProfileOverrides) => {
    if (validateProfile(applyOverrides(base, next)).length === 0) ov = next;
  };
  const block = pageblockBytes(base);
  for (const c of base.cma) {
    if (!chance(2)) continue;
    const size = Math.max(block, Math.floor(c.sizeBytes / pick([2, 4, 8, 16]) / block) * block);
    tryKnob({ ...ov, cmaBytes: { ...ov.cmaBytes, [c.name]: size } });
  }
  if (chance(3)) tryKnob({ ...ov, coherentPoolBytes: pick([32, 64, 128, 256, 512]) * 1024 });
  if (base.swiotlb !== null && chance(2)) tryKnob({ ...ov, swiotlbSlots: pick([128, 256, 512, 1024]) });
  if (base.ram.length > 0 && chance(4)) {
    const last = base.ram.length - 1;
    const size = Math.floor((base.ram[last] as { sizeBytes: number }).sizeBytes / pick([2, 4]) / PAGE_SIZE) * PAGE_SIZE;
    tryKnob({ ...ov, ramBytes: { [String(last)]: size } });
  }
  const ramTop = base.ram.reduce((m, b) => Math.max(m, b.startPhys + b.sizeBytes), 0);
  const firstEnd = base.ram[0] === undefined ? 0 : base.ram[0].startPhys + base.ram[0].sizeBytes;
  for (const d of base.devices) {
    if (!chance(3)) continue;
    let o: DeviceOverrides;
    switch (r.below(6)) {
      case 0: {
        const narrower = [30, 32, 34, 36, 40].filter((b) => b < d.addressBits);
        if (narrower.length === 0) continue;
        o = { addressBits: pick(narrower) };
        break;
      }
      case 1:
        // A limit below the first 16 MiB of RAM leaves the device nothing to reach: no board has one.
        o = { busDmaLimit: pick([firstEnd - 1, 2 ** 32 - 1, Math.floor(ramTop / 2) - 1].filter((x) => x > (base.ram[0]?.startPhys ?? 0) + 16 * 1024 * 1024)) };
        break;
      case 2:
        o = { minAlignMask: pick([0x3f, 0x7ff, 0xfff]) };
        break;
      case 3:
        o = pick([{ maxSegmentSize: 4096 }, { maxSegmentSize: 65536 }, { segmentBoundaryMask: 0xffff }, { segmentBoundaryMask: 0xfffff }]);
        break;
      case 4:
        if (d.coherentPool === null) continue;
        o = { coherentPoolBytes: Math.max(PAGE_SIZE, Math.floor(d.coherentPool.sizeBytes / pick([2, 4, 8]) / PAGE_SIZE) * PAGE_SIZE) };
        break;
      default:
        if (d.restrictedDmaPool === null) continue;
        o = { restrictedPoolBytes: 256 * 1024 };
        break;
    }
    tryKnob({ ...ov, devices: { ...ov.devices, [d.name]: { ...ov.devices?.[d.name], ...o } } });
  }
  cache.set(key, ov);
  return ov;
}

/** The knobs a variant turns, for the listing (`cma reserved=2 MiB, swiotlb 256 slots, vpu0 addressBits=30`). */
export function describeOverrides(ov: ProfileOverrides): string {
  const size = (b: number) => (b >= 1024 * 1024 ? `${b / (1024 * 1024)} MiB` : `${b / 1024} KiB`);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(ov.ramBytes ?? {})) parts.push(`RAM bank ${k} ${size(v)}`);
  for (const [k, v] of Object.entries(ov.cmaBytes ?? {})) parts.push(`cma ${k}=${size(v)}`);
  if (ov.coherentPoolBytes !== undefined) parts.push(`coherent_pool=${size(ov.coherentPoolBytes)}`);
  if (ov.swiotlbSlots !== undefined) parts.push(`swiotlb ${ov.swiotlbSlots} slots`);
  for (const [dev, o] of Object.entries(ov.devices ?? {})) {
    for (const [k, v] of Object.entries(o)) parts.push(`${dev} ${k}=${/Mask|Limit/.test(k) ? `0x${(v as number).toString(16)}` : /Bytes/.test(k) ? size(v as number) : v}`);
  }
  return parts.length === 0 ? 'unchanged' : parts.join(', ');
}

const registered = new Map<string, PlatformProfile>();

/**
 * The variant of `base` a sequence's `platform` step names, built and
 * validated once per thread.
 * @throws Error with the validator's complaints when the overrides do not give a valid profile
 */
export function variantProfile(base: PlatformProfile, ov: ProfileOverrides): PlatformProfile {
  const p = applyOverrides(base, ov);
  const hit = registered.get(p.name);
  if (hit !== undefined) return hit;
  const problems = validateProfile(p);
  if (problems.length > 0) throw new Error(`platform overrides for ${base.name} give an invalid profile: ${problems.join('; ')}`);
  registered.set(p.name, p);
  return p;
}
