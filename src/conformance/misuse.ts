/**
 * Driver misuse, for misuse mode (`dmacheck run --misuse`, `dmacheck fuzz`):
 * the deliberately illegal steps a fuzzer of ownership transfers draws, each
 * labelled with the rules it breaks and with the dma-debug check that is
 * designed to report it (kernel/dma/debug.c; null where dma-debug cannot see
 * the misuse, such as a CPU access to device-owned memory).
 *
 * A misuse step names a live mapping or buffer. What it does is split in
 * three so that the symbolic model and the session agree: the legal calls
 * that come first (`legalPrefix`, run and judged like any step), the
 * illegal action itself (the session's part), and what the driver believes
 * afterwards (`modelEffect`: the steps the model applies, e.g. a mapping the
 * driver unmapped with the wrong size is gone for the driver, whatever the
 * DMA layer did with it).
 */
import type { RuleId } from '../../spec/rules.ts';
import type { ModelState } from './model.ts';
import type { Step } from './steps.ts';

/** The misuses misuse mode draws. */
export const MISUSES = [
  'cpuReadDeviceOwned',
  'cpuWriteDeviceOwned',
  'syncWrongDirection',
  'syncOutsideMapping',
  'doubleUnmap',
  'unmapOtherSize',
  'unmapOtherDirection',
  'unmapWrongFunction',
  'mapNotChecked',
  'mapStackCopy',
  'mapRodata',
  'mapTwice',
  'deviceWriteAfterUnmap',
  'doubleFree',
  'cpuWriteAfterFree',
  'deviceReadWithoutWmb',
  'unbindWithMappings',
] as const;
/** One kind of misuse. */
export type Misuse = (typeof MISUSES)[number];

/** A dma-debug check id (kernel/dma/debug.c; see `src/linux/kernel/dma/debug.ts`). */
export type DebugCheckId = `D${number}`;

/** What a misuse is: the rules it breaks, what it targets, and whether dma-debug is built to catch it. */
export interface MisuseInfo {
  readonly rules: readonly RuleId[];
  /** One line, as the matrix prints it. */
  readonly summary: string;
  /** What the step's `ref` names: a streaming single/page mapping (with a direction constraint), a kmalloc object, a coherent buffer. */
  readonly target: 'mapping' | 'mappingNotToDevice' | 'mappingOneWay' | 'mappingSg' | 'kmalloc' | 'coherent';
  /** The dma-debug check designed to report it, or null where dma-debug cannot see it. */
  readonly debug: DebugCheckId | null;
  /**
   * It may change machine-wide state: allocator and swiotlb accounting,
   * what the DMA layer still holds (a leak, an oops later, what a later
   * invalid call finds). Only these taint whole-machine observations.
   */
  readonly machine: boolean;
}

/** Every misuse, with its rules and the dma-debug check meant for it. */
export const MISUSE_INFO: Readonly<Record<Misuse, MisuseInfo>> = {
  cpuReadDeviceOwned: { rules: ['R35'], summary: 'the CPU reads memory the device owns without dma_sync_single_for_cpu', target: 'mappingNotToDevice', debug: null , machine: false },
  cpuWriteDeviceOwned: { rules: ['R35', 'R30'], summary: 'the CPU writes a buffer the device owns', target: 'mapping', debug: null , machine: false },
  syncWrongDirection: { rules: ['R40', 'R28'], summary: 'dma_sync_single_for_cpu with another direction than the map', target: 'mappingOneWay', debug: 'D11' , machine: false },
  syncOutsideMapping: { rules: ['R41'], summary: 'a sync that runs a page past the end of the mapping', target: 'mapping', debug: 'D9' , machine: false },
  doubleUnmap: { rules: ['R40'], summary: 'a mapping unmapped twice', target: 'mapping', debug: 'D2' , machine: true },
  unmapOtherSize: { rules: ['R40'], summary: 'unmap with another size than the map', target: 'mapping', debug: 'D3' , machine: true },
  unmapOtherDirection: { rules: ['R40'], summary: 'unmap with another direction than the map', target: 'mappingOneWay', debug: 'D7' , machine: true },
  unmapWrongFunction: { rules: ['R40'], summary: 'an sg mapping undone with dma_unmap_page of its first segment', target: 'mappingSg', debug: 'D4' , machine: true },
  mapStackCopy: { rules: ['R3'], summary: 'dma_map_single of an on-stack copy of the buffer', target: 'kmalloc', debug: 'D15' , machine: false },
  mapRodata: { rules: ['R3'], summary: 'dma_map_single of kernel rodata (a const table)', target: 'kmalloc', debug: 'D16' , machine: false },
  mapNotChecked: { rules: ['R33'], summary: 'a dma_map_single result never passed to dma_mapping_error', target: 'kmalloc', debug: 'D8' , machine: false },
  mapTwice: { rules: ['R8', 'R53'], summary: 'a second FROM_DEVICE/BIDIRECTIONAL mapping of the same cache line', target: 'mappingNotToDevice', debug: 'D21' , machine: false },
  deviceWriteAfterUnmap: { rules: ['R38'], summary: 'the device writes through a DMA address after its unmap', target: 'mappingNotToDevice', debug: null , machine: true },
  doubleFree: { rules: ['R22'], summary: 'a coherent buffer freed twice', target: 'coherent', debug: 'D2' , machine: true },
  cpuWriteAfterFree: { rules: ['R22'], summary: 'the CPU writes a coherent buffer after dma_free_attrs', target: 'coherent', debug: null , machine: true },
  deviceReadWithoutWmb: { rules: ['R18'], summary: 'the CPU writes a coherent buffer and the device reads it without dma_wmb()', target: 'coherent', debug: null , machine: false },
  unbindWithMappings: { rules: ['R39'], summary: 'the driver unbinds with mappings still live', target: 'mapping', debug: 'D23' , machine: false },
};

/** The misuse step (`{ op: 'misuse', misuse, ref }`). */
export type MisuseStep = Extract<Step, { op: 'misuse' }>;

/** The legal calls a misuse makes first: an unmap or free whose repeat (or aftermath) is the misuse. */
export function legalPrefix(step: MisuseStep, s: ModelState): Step[] {
  switch (step.misuse) {
    case 'doubleUnmap':
    case 'deviceWriteAfterUnmap':
      return [{ op: 'unmapSingle', ref: step.ref }];
    case 'doubleFree':
    case 'cpuWriteAfterFree':
      return s.objects.has(step.ref) ? [{ op: 'free', ref: step.ref }] : [];
    default:
      return [];
  }
}

/** What the driver believes after the misuse: the steps the symbolic model applies for it (the legal prefix included). */
export function modelEffect(step: MisuseStep, s: ModelState): Step[] {
  switch (step.misuse) {
    case 'unmapOtherSize':
    case 'unmapOtherDirection':
      return [{ op: 'unmapSingle', ref: step.ref }];
    case 'unmapWrongFunction':
      return [{ op: 'unmapSg', ref: step.ref }];
    default:
      return legalPrefix(step, s);
  }
}

/** Can `misuse` be drawn on `ref` in model state `s`? @returns null when it can, else why not (a legality reason) */
export function misuseTargetProblem(misuse: Misuse, ref: string, s: ModelState): 'no-such-object' | 'wrong-object-kind' | 'R26' | 'R20' | null {
  const info = MISUSE_INFO[misuse];
  if (info.target === 'kmalloc' || info.target === 'coherent') {
    const o = s.objects.get(ref);
    if (o === undefined) return 'no-such-object';
    if (o.kind !== info.target) return 'wrong-object-kind';
    if (info.target === 'kmalloc') return o.mappedBy === null ? null : 'wrong-object-kind';
    if ((misuse === 'cpuWriteAfterFree' || misuse === 'deviceReadWithoutWmb') && !o.kernelMapping) return 'wrong-object-kind';
    if (misuse === 'deviceReadWithoutWmb') return null;
    if (o.vmas.size > 0) return 'R26';
    return s.context === 'atomic' ? 'R20' : null;
  }
  const m = s.mappings.get(ref);
  if (m === undefined) return 'no-such-object';
  if (info.target === 'mappingSg') return m.kind === 'sg' ? null : 'wrong-object-kind';
  // The CPU touching memory the device owns: a streaming mapping, or dma_alloc_pages/noncoherent memory handed over with sync_for_device (seed 003's point).
  const cpuAccess = misuse === 'cpuReadDeviceOwned' || misuse === 'cpuWriteDeviceOwned';
  if (m.kind !== 'single' && m.kind !== 'page' && !(cpuAccess && m.kind === 'nc')) return 'wrong-object-kind';
  if (info.target === 'mappingNotToDevice' && m.dir === 'DMA_TO_DEVICE') return 'wrong-object-kind';
  if (info.target === 'mappingOneWay' && m.dir === 'DMA_BIDIRECTIONAL') return 'wrong-object-kind';
  return null;
}
