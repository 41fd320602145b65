/**
 * Regressions of dma-debug (src/linux/kernel/dma/debug.ts), each the kind
 * of bug kernel/dma/debug.c has had or could have: a check that stops
 * firing, a check that fires on a legal driver, a lookup that misses the
 * entry a sync belongs to. Built through the model's public hooks only (as
 * subclasses), they are what `debug-flags-misuse` must fail on: a property
 * about dma-debug that no broken dma-debug fails proves nothing.
 */
import type { DebugFactory } from '../src/conformance/debugged.ts';
import type { DmaDataDirection } from '../src/linux/include/linux/dma-mapping.ts';
import { DMA_DEBUG_HASH_FN_SHIFT, DmaDebug } from '../src/linux/kernel/dma/debug.ts';

/** check_unmap compares nothing but the address: an unmap with another size is not reported (D3 stops firing). */
class UnmapSizeUnchecked extends DmaDebug {
  override unmapPhys(dev: string, dmaAddr: number, sizeBytes: number, dir: DmaDataDirection, type?: 'single' | 'resource'): void {
    const same = this.entries(dev).filter((e) => e.dmaAddr === dmaAddr);
    super.unmapPhys(dev, dmaAddr, same.length === 1 ? (same[0]?.sizeBytes ?? sizeBytes) : sizeBytes, dir, type);
  }
}

/** debug_dma_mapping_error no longer marks the entry checked: every unmap of a checked mapping reports D8. */
class MappingErrorIgnored extends DmaDebug {
  override mappingError(): void {}
}

/**
 * The containing lookup of syncs stops at the sync's own hash bucket: a
 * partial sync starting 8 KiB or more into a mapping that starts in an
 * earlier bucket finds nothing and reports D9 (the pre-walk-back
 * bucket_find_contain bug class).
 */
class SyncLookupNoWalkBack extends DmaDebug {
  private lost(dev: string, dmaAddr: number, sizeBytes: number): boolean {
    const bucket = (a: number) => Math.floor(a / 2 ** DMA_DEBUG_HASH_FN_SHIFT);
    const holders = this.entries(dev).filter((e) => dmaAddr >= e.dmaAddr && dmaAddr + sizeBytes <= e.dmaAddr + e.sizeBytes);
    return holders.length > 0 && holders.every((e) => bucket(e.dmaAddr) !== bucket(dmaAddr));
  }
  override syncSingleForCpu(dev: string, dmaAddr: number, sizeBytes: number, dir: DmaDataDirection): void {
    super.syncSingleForCpu(dev, this.lost(dev, dmaAddr, sizeBytes) ? dmaAddr + 2 ** 44 : dmaAddr, sizeBytes, dir);
  }
  override syncSingleForDevice(dev: string, dmaAddr: number, sizeBytes: number, dir: DmaDataDirection): void {
    super.syncSingleForDevice(dev, this.lost(dev, dmaAddr, sizeBytes) ? dmaAddr + 2 ** 44 : dmaAddr, sizeBytes, dir);
  }
}

/** A dma-debug regression, the check of `debug-flags-misuse` it breaks, and the profile where it shows. */
export interface DebugMutant {
  readonly name: string;
  readonly check: 'misuse-not-reported' | 'legal-step-reported';
  readonly profile: string;
  readonly debug: DebugFactory;
}

/** Every dma-debug regression kept as a test. */
export const DEBUG_MUTANTS: readonly DebugMutant[] = [
  { name: 'unmap-size-unchecked', check: 'misuse-not-reported', profile: 'x86-64', debug: (o, s) => new UnmapSizeUnchecked(o, s) },
  { name: 'mapping-error-ignored', check: 'legal-step-reported', profile: 'arm64-soc', debug: (o, s) => new MappingErrorIgnored(o, s) },
  { name: 'sync-lookup-no-walk-back', check: 'legal-step-reported', profile: 'x86-64', debug: (o, s) => new SyncLookupNoWalkBack(o, s) },
];
