/**
 * Page-state conversion of a confidential-computing guest
 * (arch/x86/mm/pat/set_memory.c `set_memory_decrypted`,
 * `set_memory_encrypted`; the SEV-SNP and TDX backends behind them):
 * `numpages` pages of the linear map, from `addr`, become shared with the
 * host (decrypted, reachable by devices) or private again.
 *
 * Trusted substrate, like `src/linux/mm`: a backend converts pages through
 * here and the platform's page-state table records the result, which is
 * what devices see. A conversion asks the hypervisor and may sleep. It can
 * fail (fault option `setMemoryFailRate`): the caller then cannot trust
 * the pages' state and must leak them rather than free them — the kernel's
 * rule in `dma_set_encrypted` and `atomic_pool_expand`. The model leaves a
 * page whose re-encryption failed shared, so freeing it anyway is seen.
 * On a platform without memory encryption both calls do nothing and
 * succeed, as `cc_platform_has(CC_ATTR_MEM_ENCRYPT)` makes them.
 */
import { PlatformError, checkRange } from '../../../../../platform/check.ts';
import type { Platform } from '../../../../../platform/platform.ts';
import { PAGE_SIZE, hex } from '../../../../../platform/types.ts';
import { EINVAL, ENOMEM } from '../../../../include/linux/errno.ts';

function convert(platform: Platform, addr: number, numpages: number, shared: boolean): number {
  const what = shared ? 'set_memory_decrypted' : 'set_memory_encrypted';
  checkRange(what, addr, numpages * PAGE_SIZE);
  const enc = platform.encryption;
  // Without memory encryption the kernel never gets here (cc_platform_has is false): nothing happens, nothing sleeps.
  if (enc === null || numpages === 0) return 0;
  platform.context.mightSleep(`${what}(${hex(addr)}, ${numpages})`);
  if (addr % PAGE_SIZE !== 0) return -EINVAL;
  const pt = platform.pt;
  if (!pt.isLinearAddr(addr) || !pt.isLinearAddr(addr + numpages * PAGE_SIZE - 1)) throw new PlatformError(`${what}: [${hex(addr)}, +${numpages} pages) is not in the linear map`);
  if (platform.faults.failSetMemory()) return -ENOMEM;
  enc.set(pt.translate(addr, 'read', what).phys / PAGE_SIZE, numpages, shared);
  return 0;
}

/** `set_memory_decrypted`: share `numpages` linear-map pages from `addr` with the host. May sleep. @returns 0 or a negative errno (state unchanged) */
export function setMemoryDecrypted(platform: Platform, addr: number, numpages: number): number {
  return convert(platform, addr, numpages, true);
}

/** `set_memory_encrypted`: make `numpages` linear-map pages from `addr` private again. May sleep. @returns 0 or a negative errno (the pages stay shared) */
export function setMemoryEncrypted(platform: Platform, addr: number, numpages: number): number {
  return convert(platform, addr, numpages, false);
}
