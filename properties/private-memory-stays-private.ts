/**
 * private-memory-stays-private: on a confidential-computing guest (SEV-SNP,
 * TDX) guest memory is private and devices must only ever reach pages the
 * guest shared with the host: bounce buffers of the shared swiotlb, and
 * coherent buffers decrypted for the device. A DMA address that leads to a
 * private page, or a device access that lands on one, breaks the guest's
 * confidentiality; so does a shared page going back to the page allocator
 * (its next user's data would be visible to the host), which is why a
 * buffer whose re-encryption failed must be leaked, never freed.
 * @see kernel/dma/direct.c dma_set_decrypted, dma_set_encrypted; kernel/dma/swiotlb.c swiotlb_update_mem_attributes (Documentation/arch/x86/amd-memory-encryption.rst, Documentation/security/snp-tdx-threat-model.rst)
 */
import { hex } from '../src/platform/types.ts';
import type { Property } from '../src/conformance/property.ts';

const property: Property = {
  name: 'private-memory-stays-private',
  summary: 'no device ever reaches a private page of an encrypted guest, and no shared page returns to the allocator',
  checks: [
    {
      id: 'device-reaches-private',
      level: 'contract',
      rules: [],
      see: 'kernel/dma/direct.c force_dma_unencrypted users; Documentation/security/snp-tdx-threat-model.rst',
      summary: 'every DMA address handed to a device, and every device access, reaches shared memory only',
      judge(obs) {
        if (obs.kind === 'dma-address' && obs.privatePhys !== null) return `a DMA address of ${obs.dev} leads to private guest memory [ref=${obs.ref}] [dma=${hex(obs.dma)}] [size=${obs.sizeBytes}] [private_phys=${hex(obs.privatePhys)}]`;
        if (obs.kind === 'device-fault' && obs.faultKind === 'private-memory') return `device ${obs.dev} reached private guest memory through ${obs.ref} [dma=${hex(obs.dma)}] [reason=${obs.reason}]`;
        return null;
      },
    },
    {
      id: 'shared-page-freed',
      level: 'contract',
      rules: [],
      see: 'kernel/dma/direct.c dma_set_encrypted ("leaking DMA memory that can\'t be re-encrypted")',
      summary: 'a page shared with the host is made private again before it goes back to the page allocator',
      judge(obs) {
        if (obs.kind !== 'platform-violation' || obs.violation.kind !== 'shared-page-freed') return null;
        return `a shared page was freed: ${obs.violation.message}`;
      },
    },
  ],
  weights: {
    mmap: 0, munmap: 0, getSgtable: 0, userRead: 0, cpuWriteNeighbour: 0,
    alloc: 8, free: 5, kmalloc: 5, allocPages: 4, mapSingle: 7, mapPage: 6, mapSg: 4, unmapSingle: 4, unmapSg: 3,
    deviceWrite: 6, deviceRead: 6, syncForCpu: 3, syncForDevice: 3, setContext: 3, runWork: 1,
  },
  paths: ['bounced'],
  needs: (ctx) => (ctx.profile.memEncrypt ? null : 'the profile does not encrypt memory'),
};

export default property;
