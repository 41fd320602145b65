/**
 * no-oops: a legal driver never makes the DMA layer fault. Any exception a
 * backend raises on a legal call (a page fault on an address that is not a
 * mapped kernel virtual address, garbage handed to the platform, a failed
 * assertion) is a kernel oops; the sequence stops there. Faults on a
 * NO_KERNEL_MAPPING cookie are cookie-never-dereferenced's, so they are not
 * counted twice.
 * @see Documentation/core-api/dma-api-howto.rst "What memory is DMA'able?"
 */
import { hex } from '../src/platform/types.ts';
import type { Property } from '../src/conformance/property.ts';

const property: Property = {
  name: 'no-oops',
  summary: 'a legal driver never makes the DMA layer fault',
  checks: [
    {
      id: 'oops',
      level: 'contract',
      rules: ['R2'],
      summary: 'no legal call raises an exception or a fault in the DMA layer',
      judge(obs) {
        if (obs.kind !== 'oops' || obs.cookieOf !== null) return null;
        const addr = obs.faultAddress === null ? '' : ` [fault_addr=${hex(obs.faultAddress)}]`;
        return `the DMA layer oopsed on a legal call${addr} [${obs.message}]`;
      },
    },
  ],
  weights: {},
  needs: () => null,
};

export default property;
