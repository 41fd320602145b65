/**
 * Not a kernel mirror: a user's own platform, loaded from a JSON file
 * (`dmacheck run --profile-file my-soc.json`) through the same validator as
 * the built-in profiles. The shape is checked with valibot (a missing or
 * mistyped field is refused with one line naming it and what is accepted),
 * then `validateProfile` checks the knobs against each other. Device fields
 * left out take the kernel's defaults (`DEVICE_DEFAULTS`).
 */
import * as v from 'valibot';
import { DEVICE_DEFAULTS } from './device.ts';
import { IOMMU_DEFAULTS } from './iommu.ts';
import { type PlatformProfile, validateProfile } from './profiles.ts';

const int = v.pipe(v.number(), v.integer(), v.minValue(0));
const region = v.strictObject({ basePhys: int, sizeBytes: int });
const range = v.strictObject({ cpuStartPhys: int, dmaStart: int, sizeBytes: int });

const DeviceSchema = v.strictObject({
  name: v.string(),
  coherent: v.boolean(),
  addressBits: int,
  busDmaLimit: v.optional(int, DEVICE_DEFAULTS.busDmaLimit),
  dmaRanges: v.optional(v.nullable(v.array(range)), DEVICE_DEFAULTS.dmaRanges),
  minAlignMask: v.optional(int, DEVICE_DEFAULTS.minAlignMask),
  maxSegmentSize: v.optional(int, DEVICE_DEFAULTS.maxSegmentSize),
  segmentBoundaryMask: v.optional(int, DEVICE_DEFAULTS.segmentBoundaryMask),
  trusted: v.optional(v.boolean(), DEVICE_DEFAULTS.trusted),
  restrictedDmaPool: v.optional(v.nullable(region), DEVICE_DEFAULTS.restrictedDmaPool),
  coherentPool: v.optional(v.nullable(region), DEVICE_DEFAULTS.coherentPool),
  numaNode: v.optional(v.nullable(int), DEVICE_DEFAULTS.numaNode),
  iommu: v.optional(
    v.nullable(v.strictObject({ granuleBytes: int, apertureBits: int, strict: v.boolean(), flushQueueSize: v.optional(int, IOMMU_DEFAULTS.flushQueueSize) })),
    DEVICE_DEFAULTS.iommu,
  ),
});

const ProfileSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_-]*$/, 'a name of [a-z][a-z0-9_-]*')),
  description: v.string(),
  arch: v.picklist(['x86-64', 'arm64', 'arm']),
  wordBits: v.picklist([32, 64]),
  mmu: v.boolean(),
  ram: v.array(v.strictObject({ startPhys: int, sizeBytes: int })),
  va: v.strictObject({
    pageOffset: int,
    physOffset: int,
    lowmemEndPhys: int,
    vmallocStart: int,
    vmallocEnd: int,
    kmapBase: int,
    kmapSlots: int,
    vmemmapBase: int,
    uncachedAliasOffset: v.nullable(int),
  }),
  zones: v.strictObject({ dmaEndPhys: v.nullable(int), dma32: v.boolean() }),
  maxOrder: int,
  cache: v.strictObject({ lineSizeBytes: int, partialLinePolicy: v.picklist(['clean-invalidate', 'discard']) }),
  memEncrypt: v.optional(v.boolean(), false),
  archDmaMinalignBytes: v.nullable(int),
  kmallocMinAlignBytes: int,
  dma: v.strictObject({
    archSync: v.picklist(['none', 'arm64', 'arm64-pre-2022', 'armv7']),
    directRemap: v.boolean(),
    archHasDmaAlloc: v.boolean(),
    archHasSetUncached: v.boolean(),
    globalPool: v.boolean(),
    archHasDmaWriteCombine: v.boolean(),
    dmacoherentAttr: v.picklist(['cacheable', 'uncached', 'write-combine']),
    noncoherentMmap: v.boolean(),
  }),
  swiotlb: v.nullable(v.strictObject({ slots: int, areas: int, force: v.boolean(), low: v.boolean(), dynamic: v.boolean() })),
  cma: v.array(
    v.strictObject({
      name: v.string(),
      basePhys: int,
      sizeBytes: int,
      kind: v.picklist(['default', 'numa', 'device']),
      node: v.nullable(int),
      device: v.nullable(v.string()),
    }),
  ),
  coherentPoolBytes: v.nullable(int),
  globalCoherentPool: v.nullable(region),
  devices: v.array(DeviceSchema),
  mmio: v.optional(v.array(v.object({ name: v.string(), basePhys: int, sizeBytes: int, description: v.optional(v.string(), '') })), []),
});

/** A profile file that cannot be used: one line naming the file, the field and what is accepted. */
export class ProfileFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileFileError';
  }
}

/**
 * Parse and validate a profile document.
 * @param where the file name, for messages
 * @throws ProfileFileError on bad JSON, a field outside the schema, or conflicting knobs (the first conflict)
 */
export function parseProfileFile(text: string, where: string): PlatformProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProfileFileError(`${where}: not JSON (${(err as Error).message}); a platform profile object is accepted (see docs/backends.md)`);
  }
  const r = v.safeParse(ProfileSchema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? '(document)';
    throw new ProfileFileError(`${where}: ${path}: ${issue.message}`);
  }
  // Addresses arrive as plain numbers; the schema checked they are integers, which is all a branded address is.
  const profile = r.output as unknown as PlatformProfile;
  const errors = validateProfile(profile);
  if (errors.length > 0) throw new ProfileFileError(`${where}: profile ${profile.name}: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`);
  return profile;
}
