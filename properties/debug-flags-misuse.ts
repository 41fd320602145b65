/**
 * debug-flags-misuse: dma-debug (kernel/dma/debug.c, modelled in
 * src/linux/kernel/dma/debug.ts and watching every call at the seam)
 * reports each misuse it is built to catch, with the check and message the
 * kernel prints, and reports nothing while the driver is legal. The search
 * draws misuse steps (misuse mode: double unmaps, unmaps and syncs with
 * another size or direction, maps never checked, overlapping mappings of a
 * cache line, double frees, unbinding with live mappings) among legal ones.
 * Misuses dma-debug cannot see (the CPU touching device-owned memory, the
 * device writing after unmap) expect no report and are not failures.
 * @see kernel/dma/debug.c check_unmap, check_sync, add_dma_entry, debug_dma_mapping_error, dma_debug_device_change (Documentation/core-api/dma-api.rst Part III)
 */
import { type Property, requireCalls } from '../src/conformance/property.ts';
import { MISUSE_WEIGHT } from '../src/conformance/generator.ts';
import { kernelFalseReport } from '../src/conformance/debugged.ts';

const property: Property = {
  name: 'debug-flags-misuse',
  summary: 'dma-debug reports every misuse it is built to catch, and nothing on a legal driver',
  checks: [
    {
      id: 'misuse-not-reported',
      level: 'linux',
      rules: ['R40', 'R33', 'R22', 'R39'],
      summary: 'a misuse dma-debug is built to catch is reported during the step, with its check',
      latitude: 'misuses dma-debug cannot see (CPU or device accesses) expect no report; overlapping cache lines are not tracked where kmalloc may share them (x86, arm64 with swiotlb)',
      see: 'kernel/dma/debug.c check_unmap, check_sync, add_dma_entry, dma_debug_device_change',
      judge(obs) {
        if (obs.kind !== 'misuse' || obs.expectedDebug === null || obs.reported.includes(obs.expectedDebug)) return null;
        return `dma-debug did not report ${obs.misuse} of ${obs.ref} [expected=${obs.expectedDebug}] [reported=${obs.reported.length === 0 ? 'nothing' : obs.reported.join(',')}] [dev=${obs.dev ?? 'none'}]`;
      },
    },
    {
      id: 'legal-step-reported',
      level: 'linux',
      rules: [],
      summary: 'no dma-debug report while every step is legal (teardown and driver unbind included)',
      latitude: 'dma_alloc_noncontiguous on dma-direct hands dma-debug one segment of the whole allocation, which check_sg_segment reports (D19) when it is longer than the device\'s max segment size: a report the kernel makes on a legal call',
      see: 'kernel/dma/debug.c err_printk, debug_dma_map_sg; kernel/dma/mapping.c dma_alloc_noncontiguous',
      judge(obs) {
        if (obs.kind !== 'debug-report' || obs.duringMisuse) return null;
        if (kernelFalseReport(obs.check, obs.at.step)) return null;
        return `dma-debug reported a legal step [check=${obs.check}] [dev=${obs.dev}] [message=${JSON.stringify(obs.message)}]`;
      },
    },
  ],
  weights: {
    misuse: MISUSE_WEIGHT,
    kmalloc: 6, allocPages: 3, mapSingle: 8, mapPage: 5, mapSg: 3, unmapSingle: 3, unmapSg: 2, syncForCpu: 4, syncForDevice: 4,
    alloc: 3, free: 1, cpuWrite: 3, cpuRead: 3, deviceWrite: 3, deviceRead: 2,
  },
  runs: 100,
  needs: (ctx) => requireCalls(ctx, ['mapSingle', 'unmapSingle']),
};

export default property;
