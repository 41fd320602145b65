/**
 * The reference as Linux was before v6.9: `swiotlb_bounce` refuses a
 * partial sync that starts in the first `min_align_mask` offset bytes of a
 * later slot (the kernel-history quirk `swiotlbBounceBeforeStartRefused`).
 * `npx dmacheck kernel-check --model kernel-check/models/swiotlb-before-v6.9.ts`
 * shows whether the booted kernel has the v6.9 fix ("swiotlb: fix
 * swiotlb_bounce() to do partial sync's correctly"): a fidelity
 * disagreement means it has.
 */
import type { BackendFactory } from '../../src/backend/backend.ts';
import { REFERENCE_CAPABILITIES, ReferenceBackend } from '../../src/backend/reference.ts';

const before69: BackendFactory = {
  name: 'reference-before-v6.9',
  capabilities: REFERENCE_CAPABILITIES,
  create: (env) => new ReferenceBackend(env, { quirks: { swiotlbBounceBeforeStartRefused: true } }),
};

export default before69;
