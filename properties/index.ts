/**
 * Every property, in the order `dmacheck run` reports them
 * (DESIGN.md "Properties").
 */
import type { Property } from '../src/conformance/property.ts';
import addressingQueriesAgree from './addressing-queries-agree.ts';
import allocationContract from './allocation-contract.ts';
import atomicContextNeverSleeps from './atomic-context-never-sleeps.ts';
import badInputIsRefused from './bad-input-is-refused.ts';
import bouncePreservesData from './bounce-preserves-data.ts';
import cmaFallsBackCleanly from './cma-falls-back-cleanly.ts';
import coherentPoolSound from './coherent-pool-sound.ts';
import coherentBufferAgrees from './coherent-buffer-agrees.ts';
import cookieNeverDereferenced from './cookie-never-dereferenced.ts';
import debugFlagsMisuse from './debug-flags-misuse.ts';
import dmaAddressReachable from './dma-address-reachable.ts';
import iommuIsolates from './iommu-isolates.ts';
import mmapShowsBuffer from './mmap-shows-buffer.ts';
import noLeak from './no-leak.ts';
import noOops from './no-oops.ts';
import noStaleCpuRead from './no-stale-cpu-read.ts';
import noStaleDeviceRead from './no-stale-device-read.ts';
import sgtableDescribesBuffer from './sgtable-describes-buffer.ts';
import swiotlbSlotsSound from './swiotlb-slots-sound.ts';
import privateMemoryStaysPrivate from './private-memory-stays-private.ts';
import resourceMappingSound from './resource-mapping-sound.ts';

/** All properties. */
export const PROPERTIES: readonly Property[] = [
  noStaleCpuRead,
  noStaleDeviceRead,
  coherentBufferAgrees,
  cookieNeverDereferenced,
  dmaAddressReachable,
  allocationContract,
  mmapShowsBuffer,
  sgtableDescribesBuffer,
  bouncePreservesData,
  swiotlbSlotsSound,
  cmaFallsBackCleanly,
  atomicContextNeverSleeps,
  coherentPoolSound,
  privateMemoryStaysPrivate,
  addressingQueriesAgree,
  resourceMappingSound,
  iommuIsolates,
  noLeak,
  badInputIsRefused,
  debugFlagsMisuse,
  noOops,
];

/** The property named `name`, or undefined. */
export function findProperty(name: string): Property | undefined {
  return PROPERTIES.find((p) => p.name === name);
}
