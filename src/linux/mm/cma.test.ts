import { describe, expect, it } from 'vitest';
import { createPlatform } from '../../platform/platform.ts';
import { ARM64_SOC, ARMV7_HIGHMEM, X86_64, type PlatformProfile } from '../../platform/profiles.ts';
import { PAGE_SIZE, pfn } from '../../platform/types.ts';
import { GFP_KERNEL } from '../include/linux/gfp.ts';
import { GenPool } from '../lib/genalloc.ts';
import { createSubstrate } from './substrate.ts';

const MiB = 1024 * 1024;
/** x86-64 with one small default CMA area whose base is 2 MiB aligned but not 4 MiB aligned. */
const X86_CMA: PlatformProfile = { ...X86_64, name: 'x86-cma', cma: [{ name: 'reserved', basePhys: 0x4020_0000, sizeBytes: 4 * MiB, kind: 'default', node: null, device: null }] };

function mm(p: PlatformProfile, faults = {}) {
  return createSubstrate(createPlatform(p, { seed: '3', faults: { cmaMovable: 0, ...faults } }));
}

describe('CMA areas (mm/cma.c)', () => {
  it('are reserved out of the buddy allocator and placed in their zone; highmem areas are highmem', () => {
    const m = mm(ARMV7_HIGHMEM);
    const a = m.cma.defaultArea;
    expect(a?.zone).toBe('HIGHMEM');
    expect(m.pages.isHighmem(pfn(a?.basePfn ?? 0))).toBe(true);
    expect(m.pages.isFree(pfn(a?.basePfn ?? 0))).toBe(false);
    const arm = mm(ARM64_SOC);
    expect(arm.cma.areas.map((c) => [c.name, c.zone])).toEqual([['reserved', 'DMA'], ['isp0-cma', 'DMA'], ['numa1', 'NORMAL']]);
  });

  it('aligns to the absolute page frame, skips ranges holding a pinned page (-EBUSY), migrates movable pages, and releases', () => {
    const m = mm(X86_CMA);
    const a = m.cma.defaultArea!;
    const first = m.cma.alloc(a, 4, 10, false); // 4 MiB alignment: base+2 MiB is the only aligned start
    expect(first).toBe(0x4040_0000 / PAGE_SIZE);
    expect(m.cma.release(a, first!, 4)).toBe(true);
    expect(m.cma.pin('reserved', 1)).toBe(true);
    a.occupant[5] = 1; // a movable page
    const got = m.cma.alloc(a, 4, 2, false);
    expect(got).toBe(a.basePfn + 4); // [0,4) holds the pin; [4,8) is taken, its movable page migrated away
    expect(a.occupant[5]).toBe(0);
    expect(m.dmesg.lines).toHaveLength(0);
    expect(m.snapshot().cma).toEqual({ reserved: { allocatedPages: 4, runs: [`0x${(a.basePfn + 4).toString(16)}+4`] } });
    m.cma.release(a, got!, 4);
    expect(m.cma.alloc(a, a.count, 0, false)).toBeNull(); // the pin blocks the only full-size range
    expect(m.dmesg.lines.at(-1)?.text).toContain('alloc failed, req-size: 1024 pages, ret: -16');
    expect(m.cma.alloc(a, a.count + 1, 0, true)).toBeNull();
    expect(m.snapshot().cma.reserved?.allocatedPages).toBe(0);
  });

  it('refuses a release that is not one live allocation and leaves pages outside the area to the caller', () => {
    const m = mm(X86_CMA);
    const a = m.cma.defaultArea!;
    const p = m.cma.alloc(a, 8, 3, false)!;
    expect(m.cma.release(a, pfn(p + 8 * 1024), 8)).toBe(false); // not in the area
    expect(m.cma.release(a, p, 4)).toBe(true); // in the area, wrong count: refused
    expect(m.platform.violations.all.map((v) => v.kind)).toEqual(['bad-page-free']);
    expect(m.snapshot().cma.reserved?.allocatedPages).toBe(8);
  });

  it('may sleep: cma_alloc in atomic context is recorded', () => {
    const m = mm(X86_CMA);
    m.platform.context.current = 'atomic';
    m.cma.alloc(m.cma.defaultArea!, 1, 0, false);
    expect(m.platform.violations.all[0]?.message).toContain('cma_alloc(reserved, 1 pages)');
  });

  it('keeps persistent allocations out of the accounting, and boot-time pins come from the fault options', () => {
    const m = mm(X86_CMA);
    const before = JSON.stringify(m.snapshot());
    m.cma.alloc(m.cma.defaultArea!, 16, 4, false, true);
    const blk = m.pages.allocPages(GFP_KERNEL, 3)!;
    m.pages.markPersistent(blk);
    expect(JSON.stringify(m.snapshot())).toBe(before);
    const pinned = mm(X86_CMA, { cmaPinned: 1 });
    expect(pinned.cma.alloc(pinned.cma.defaultArea!, 1, 0, true)).toBeNull();
  });
});

describe('genalloc (lib/genalloc.c)', () => {
  it('first-fit order-align places 2^n granules at a multiple of 2^n, frees, refuses bad frees, and says whether it could serve', () => {
    const g = new GenPool(12, 't');
    g.setAlgo('first-fit-order-align');
    expect(g.addVirt(0x10000, 0x80000, 16 * PAGE_SIZE)).toBe(0);
    expect(g.addVirt(0x12000, 0, PAGE_SIZE)).toBe(-22); // overlaps
    const a = g.alloc(PAGE_SIZE);
    const b = g.alloc(3 * PAGE_SIZE); // 3 granules, aligned to 4
    expect([a, b]).toEqual([0x10000, 0x14000]);
    expect(g.virtToPhys(b)).toBe(0x84000);
    expect(g.availBytes).toBe(12 * PAGE_SIZE);
    expect(g.free(b + PAGE_SIZE, PAGE_SIZE)).toBeNull();
    expect(g.free(b + PAGE_SIZE, PAGE_SIZE)).toContain('not allocated');
    expect(g.free(0x90000, PAGE_SIZE)).toContain('outside every chunk');
    // First fit, order-aligned: the first free 8-page run at a multiple of 8 pages is at 0x88000.
    expect(g.placementPhys(8 * PAGE_SIZE)).toBe(0x88000);
    expect(g.placementPhys(64 * PAGE_SIZE)).toBeNull();
    expect(g.alloc(32 * PAGE_SIZE)).toBe(0);
    expect(g.physInUse(0x80000, PAGE_SIZE)).toBe(true);
  });
});

describe('system workqueue', () => {
  it('queues work once, runs it later in process context and restores the context', () => {
    const m = mm(X86_64);
    const seen: string[] = [];
    const w = { name: 'w', func: () => seen.push(m.platform.context.current) };
    expect(m.workqueue.schedule(w)).toBe(true);
    expect(m.workqueue.schedule(w)).toBe(false);
    m.platform.context.current = 'atomic';
    expect(m.workqueue.run()).toBe(1);
    expect(seen).toEqual(['process']);
    expect(m.platform.context.current).toBe('atomic');
    expect(m.workqueue.pendingNames).toEqual([]);
  });
});
