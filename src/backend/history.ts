/**
 * Not a kernel mirror: the kernel history the reference can replay. The
 * reference models current mainline (v6.18); a few behaviours changed in a
 * known release, and each old form is a named knob of
 * {@link ReferenceOptions} (a quirk or the map-time copy rule), never the
 * default. {@link referenceAsOf} builds the reference as a given release
 * behaved, so `dmacheck kernel-check` compares a booted distribution kernel
 * (Debian 12's 6.1, say) with the model of that kernel, not of mainline.
 */
import type { BackendFactory } from './backend.ts';
import { REFERENCE_CAPABILITIES, ReferenceBackend, type ReferenceOptions } from './reference.ts';

/** One behaviour that changed in a release. */
export interface HistoryEntry {
  /** The knob's name as the kernel-check report prints it. */
  readonly knob: string;
  /** The first release with today's behaviour, `major.minor`. */
  readonly fixedIn: string;
  /** The commit that changed it, by title. */
  readonly commit: string;
  /** The reference options that give the old behaviour. */
  readonly old: ReferenceOptions;
}

/** Every replayable change, oldest first. */
export const KERNEL_HISTORY: readonly HistoryEntry[] = [
  {
    knob: 'nonConsistentFallback',
    fixedIn: '5.10',
    commit: 'dma-mapping: add a new dma_alloc_noncoherent API (and remove DMA_ATTR_NON_CONSISTENT)',
    old: { quirks: { nonConsistentFallback: true } },
  },
  {
    knob: 'cacheSyncNoOwnership',
    fixedIn: '5.10',
    commit: 'dma-mapping: remove dma_cache_sync',
    old: { quirks: { cacheSyncNoOwnership: true } },
  },
  {
    knob: 'swiotlbMapTimeCopy=to-device-only',
    fixedIn: '5.17',
    commit: 'swiotlb: fix info leak with DMA_FROM_DEVICE (reworked in v5.18)',
    old: { swiotlbMapTimeCopy: 'to-device-only' },
  },
  {
    knob: 'swiotlbBounceBeforeStartRefused',
    fixedIn: '6.9',
    commit: "swiotlb: fix swiotlb_bounce() to do partial sync's correctly",
    old: { quirks: { swiotlbBounceBeforeStartRefused: true } },
  },
];

/** `major.minor` of a kernel release string (`6.1.0-57-cloud-amd64`, `6.18.2`). @returns null when it has none */
export function kernelVersion(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m === null ? null : [Number(m[1]), Number(m[2])];
}

/** The history entries a release predates. @throws Error for a release string without `major.minor` */
export function historyOf(release: string): HistoryEntry[] {
  const v = kernelVersion(release);
  if (v === null) throw new Error(`kernel release '${release}' has no major.minor version`);
  return KERNEL_HISTORY.filter((h) => {
    const f = kernelVersion(h.fixedIn) as [number, number];
    return v[0] < f[0] || (v[0] === f[0] && v[1] < f[1]);
  });
}

/** The reference as `release` behaved: every knob of {@link historyOf} switched on. */
export function referenceAsOf(release: string): BackendFactory {
  const old = historyOf(release);
  const options: ReferenceOptions = {
    ...Object.assign({}, ...old.map((h) => h.old)),
    quirks: Object.assign({}, ...old.map((h) => h.old.quirks ?? {})),
  };
  return {
    name: old.length === 0 ? 'reference' : `reference as of ${kernelVersion(release)?.join('.')} (${old.map((h) => h.knob).join(', ')})`,
    capabilities: REFERENCE_CAPABILITIES,
    create: (env) => new ReferenceBackend(env, options),
  };
}
