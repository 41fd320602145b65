/**
 * Not a kernel mirror: traces (DESIGN.md "Traces"). A trace is a versioned
 * JSON document: the property it was found for, the profile, the backend,
 * fast-check's seed and shrink path, the platform seed, and the steps; it
 * also carries a `listing` in kernel call syntax for the reader, which is
 * ignored on load (the steps are authoritative). A trace replays on any
 * backend. The schema is checked with valibot, so a malformed file is
 * refused with one line naming the field and what is accepted.
 */
import * as v from 'valibot';
import { MISUSES } from './misuse.ts';
import { ALLOC_ATTRS, BAD_CALLS, DIRECTIONS, GFP_FLAGS, GFP_NAMES, MAP_ATTRS, MASK_CALLS, NC_APIS, type Step, formatStep } from './steps.ts';

/** Current trace format version. */
export const TRACE_VERSION = 1;

/** A stored trace. */
export interface Trace {
  readonly format: 'dmacheck-trace';
  readonly version: typeof TRACE_VERSION;
  /** Property the trace was found for (null: recorded without one). */
  readonly property: string | null;
  readonly profile: string;
  /** Backend module it was recorded on (`reference`, or a path). */
  readonly backend: string;
  readonly fastCheck: { readonly seed: number; readonly path: string };
  readonly platformSeed: string;
  readonly steps: readonly Step[];
  /** One line per step in kernel call syntax; for the reader only. */
  readonly listing?: readonly string[];
}

const id = v.pipe(v.string(), v.regex(/^[a-z]+\d+$/, 'a symbolic id such as b1 or m2'));
const nat = v.pipe(v.number(), v.integer(), v.minValue(0));
const pos = v.pipe(v.number(), v.integer(), v.minValue(1));
const dir = v.picklist(DIRECTIONS);
const gfp = v.picklist(GFP_NAMES);
const range = { ref: id, offset: nat, size: pos };
const flags = v.optional(v.array(v.picklist(GFP_FLAGS)));
const bytes = v.pipe(v.number(), v.integer(), v.minValue(0));
const DeviceOverridesSchema = v.strictObject({
  addressBits: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64))),
  busDmaLimit: v.optional(bytes),
  minAlignMask: v.optional(bytes),
  maxSegmentSize: v.optional(bytes),
  segmentBoundaryMask: v.optional(bytes),
  coherentPoolBytes: v.optional(bytes),
  restrictedPoolBytes: v.optional(bytes),
});
const OverridesSchema = v.strictObject({
  ramBytes: v.optional(v.record(v.string(), bytes)),
  cmaBytes: v.optional(v.record(v.string(), bytes)),
  coherentPoolBytes: v.optional(bytes),
  swiotlbSlots: v.optional(bytes),
  devices: v.optional(v.record(v.string(), DeviceOverridesSchema)),
});
const mapAttrs = v.optional(v.array(v.picklist(MAP_ATTRS)));

const StepSchema = v.variant('op', [
  v.strictObject({ op: v.literal('alloc'), id, dev: v.string(), size: pos, gfp, attrs: v.array(v.picklist(ALLOC_ATTRS)), flags }),
  v.strictObject({ op: v.literal('free'), ref: id }),
  v.strictObject({ op: v.literal('mmap'), id, ref: id, api: v.optional(v.picklist(['pages', 'noncontiguous'])) }),
  v.strictObject({ op: v.literal('munmap'), ref: id }),
  v.strictObject({ op: v.literal('getSgtable'), ref: id }),
  v.strictObject({ op: v.literal('kmalloc'), id, size: pos, gfp, flags }),
  v.strictObject({ op: v.literal('kfree'), ref: id }),
  v.strictObject({ op: v.literal('allocPages'), id, order: v.pipe(nat, v.maxValue(10)), gfp, highmem: v.boolean(), flags }),
  v.strictObject({ op: v.literal('freePages'), ref: id }),
  v.strictObject({ op: v.literal('mapSingle'), id, ref: id, dev: v.string(), dir, attrs: mapAttrs }),
  v.strictObject({ op: v.literal('mapPage'), id, ref: id, dev: v.string(), offset: nat, size: pos, dir, attrs: mapAttrs }),
  v.strictObject({ op: v.literal('mapSg'), id, dev: v.string(), segs: v.pipe(v.array(v.strictObject(range)), v.minLength(1)), dir, attrs: mapAttrs }),
  v.strictObject({ op: v.literal('unmapSingle'), ref: id, attrs: mapAttrs }),
  v.strictObject({ op: v.literal('unmapSg'), ref: id, attrs: mapAttrs }),
  v.strictObject({ op: v.literal('platform'), overrides: OverridesSchema }),
  v.strictObject({ op: v.literal('setMask'), dev: v.string(), which: v.picklist(MASK_CALLS), bits: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64)) }),
  v.strictObject({ op: v.literal('syncForCpu'), ...range }),
  v.strictObject({ op: v.literal('syncForDevice'), ...range }),
  v.strictObject({ op: v.literal('cpuWrite'), ...range, pattern: nat }),
  v.strictObject({ op: v.literal('cpuRead'), ...range }),
  v.strictObject({ op: v.literal('cpuWriteNeighbour'), ref: id, pattern: nat }),
  v.strictObject({ op: v.literal('deviceWrite'), ...range, pattern: nat }),
  v.strictObject({ op: v.literal('deviceRead'), ...range }),
  v.strictObject({ op: v.literal('userRead'), ...range }),
  v.strictObject({ op: v.literal('dmaWmb') }),
  v.strictObject({ op: v.literal('setContext'), context: v.picklist(['process', 'atomic']) }),
  v.strictObject({ op: v.literal('speculativeFill'), ref: id, offset: nat }),
  v.strictObject({ op: v.literal('evict'), ref: id, offset: nat }),
  v.strictObject({ op: v.literal('wcDrain') }),
  v.strictObject({ op: v.literal('cmaPin'), area: v.pipe(v.string(), v.minLength(1)), page: nat }),
  v.strictObject({ op: v.literal('runWork') }),
  v.strictObject({ op: v.literal('badCall'), call: v.picklist(BAD_CALLS), ref: v.optional(id) }),
  v.strictObject({ op: v.literal('misuse'), misuse: v.picklist(MISUSES), ref: id }),
  v.strictObject({ op: v.literal('allocNc'), id, dev: v.string(), api: v.picklist(NC_APIS), size: pos, dir, gfp, flags }),
  v.strictObject({ op: v.literal('freeNc'), ref: id, api: v.picklist(NC_APIS) }),
  v.strictObject({ op: v.literal('mapResource'), id, dev: v.string(), resource: v.pipe(v.string(), v.minLength(1)), offset: nat, size: pos, dir }),
  v.strictObject({ op: v.literal('unmapResource'), ref: id }),
  v.strictObject({ op: v.literal('queryAddressing'), dev: v.string() }),
]);

const TraceSchema = v.strictObject({
  format: v.literal('dmacheck-trace'),
  version: v.literal(TRACE_VERSION),
  property: v.nullable(v.string()),
  profile: v.string(),
  backend: v.string(),
  fastCheck: v.strictObject({ seed: v.pipe(v.number(), v.integer()), path: v.string() }),
  platformSeed: v.string(),
  steps: v.array(StepSchema),
  listing: v.optional(v.array(v.string())),
});

/** A trace file that cannot be used; the message is one line naming the bad value and what is accepted. */
export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

/**
 * Parse and check a trace document.
 * @param where file name for messages
 * @throws TraceError on malformed JSON or a field outside the schema
 */
export function parseTrace(text: string, where: string): Trace {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TraceError(`${where}: not JSON (${(err as Error).message}); a dmacheck trace (format "dmacheck-trace", version ${TRACE_VERSION}) is accepted`);
  }
  const r = v.safeParse(TraceSchema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? '(document)';
    throw new TraceError(`${where}: ${path}: ${issue.message}`);
  }
  return r.output as Trace;
}

/** Build a trace document. */
export function makeTrace(t: Omit<Trace, 'format' | 'version' | 'listing'>): Trace {
  return { format: 'dmacheck-trace', version: TRACE_VERSION, ...t, listing: t.steps.map(formatStep) };
}

/** Serialise a trace: stable key order, two-space indent, one step per line. */
export function serializeTrace(t: Trace): string {
  const head = { ...t, steps: '@steps', listing: '@listing' };
  const lines = (xs: readonly unknown[]) => (xs.length === 0 ? '[]' : `[\n${xs.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]`);
  return (
    JSON.stringify(head, null, 2)
      .replace('"@steps"', lines(t.steps))
      .replace('"@listing"', lines(t.listing ?? t.steps.map(formatStep))) + '\n'
  );
}
