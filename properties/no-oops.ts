/**
 * no-oops: a legal driver never makes the DMA layer fault. Any exception a
 * backend raises on a legal call (a page fault on an address that is not a
 * mapped kernel virtual address, a failed assertion) is a kernel oops; the
 * sequence stops there. Faults on a NO_KERNEL_MAPPING cookie are
 * cookie-never-dereferenced's, so they are not counted twice.
 * @see Documentation/core-api/dma-api-howto.rst "What memory is DMA'able?"
 */
import { hex } from '../src/platform/types.ts';
import { type Property, violation } from '../src/conformance/property.ts';

const property: Property = {
  name: 'no-oops',
  summary: 'a legal driver never makes the DMA layer fault',
  rules: ['R2'],
  weights: {},
  needs: () => null,
  check(obs) {
    if (obs.kind !== 'oops' || obs.cookieOf !== null) return null;
    const addr = obs.faultAddress === null ? '' : ` [fault_addr=${hex(obs.faultAddress)}]`;
    return violation(property, obs, `the DMA layer oopsed on a legal call${addr} [${obs.message}]`);
  },
};

export default property;
