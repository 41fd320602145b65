import { describe, expect, it } from 'vitest';
import { createPlatform } from '../../platform/platform.ts';
import { ARM64_SOC, ARMV7_HIGHMEM, ARMV7_NOMMU, X86_64 } from '../../platform/profiles.ts';
import { PAGE_SIZE, cpuAddr, pfn, pfnToPhys } from '../../platform/types.ts';
import { GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_KERNEL, __GFP_HIGHMEM, __GFP_NOWARN, __GFP_ZERO, gfpToString } from '../include/linux/gfp.ts';
import { createSubstrate } from './substrate.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('page allocator', () => {
  it('builds the zones of each profile', () => {
    const zones = (p: typeof X86_64) => createSubstrate(createPlatform(p, { seed: '1' })).pages.zones.map((z) => [z.type, z.startPfn * PAGE_SIZE, z.endPfn * PAGE_SIZE]);
    expect(zones(X86_64)).toEqual([
      ['DMA', 0x10_0000, 16 * MiB],
      ['DMA32', 16 * MiB, 4 * GiB],
      ['NORMAL', 4 * GiB, 8 * GiB],
    ]);
    expect(zones(ARM64_SOC).map((z) => z[0])).toEqual(['DMA', 'NORMAL']);
    expect(zones(ARMV7_HIGHMEM)).toEqual([
      ['NORMAL', 0x8000_0000, 0xb000_0000],
      ['HIGHMEM', 0xb000_0000, 0xc000_0000],
    ]);
    expect(zones(ARMV7_NOMMU).map((z) => z[0])).toEqual(['NORMAL']);
  });

  it('hands out naturally aligned blocks from the zone the gfp allows, and frees back to the same accounting', () => {
    const mm = createSubstrate(createPlatform(X86_64, { seed: '1' }));
    const before = mm.snapshot();
    const a = mm.pages.allocPages(GFP_KERNEL, 3) as number;
    expect(a % 8).toBe(0);
    expect(mm.pages.zoneOf(pfn(a))?.type).toBe('NORMAL');
    const d = mm.pages.allocPages(GFP_DMA, 0) as number;
    expect(pfnToPhys(pfn(d))).toBeLessThan(16 * MiB);
    const d32 = mm.pages.allocPages(GFP_DMA32, 2) as number;
    expect(mm.pages.zoneOf(pfn(d32))?.type).toBe('DMA32');
    expect(mm.pages.allocatedOrder(pfn(d32))).toBe(2);
    expect(mm.pages.freeCount('NORMAL')).toBe(4 * GiB / PAGE_SIZE - 8);
    mm.pages.freePages(pfn(a), 3);
    mm.pages.freePages(pfn(d), 0);
    mm.pages.freePages(pfn(d32), 2);
    expect(mm.snapshot()).toEqual(before);
  });

  it('falls back down the zonelist, and maps missing zones as the kernel does', () => {
    const arm = createSubstrate(createPlatform(ARM64_SOC, { seed: '1' }));
    // No ZONE_DMA32: GFP_DMA32 is served by the zones below 4 GiB.
    expect(arm.pages.zonelist(GFP_DMA32).map((z) => z.type)).toEqual(['DMA']);
    expect(arm.pages.zonelist(GFP_KERNEL).map((z) => z.type)).toEqual(['NORMAL', 'DMA']);
    const v7 = createSubstrate(createPlatform(ARMV7_HIGHMEM, { seed: '1' }));
    expect(v7.pages.zonelist(GFP_DMA).map((z) => z.type)).toEqual(['NORMAL']);
    expect(v7.pages.zonelist(GFP_KERNEL | __GFP_HIGHMEM).map((z) => z.type)).toEqual(['HIGHMEM', 'NORMAL']);
    // Exhaust ZONE_DMA on x86: GFP_DMA then fails, GFP_KERNEL still works.
    const x = createSubstrate(createPlatform(X86_64, { seed: '1' }));
    while (x.pages.allocPages(GFP_DMA, 10) !== null);
    while (x.pages.allocPages(GFP_DMA, 0) !== null);
    expect(x.pages.freeCount('DMA')).toBe(0);
    expect(x.pages.allocPages(GFP_KERNEL, 0)).not.toBeNull();
    expect(x.pages.allocPages(GFP_KERNEL, 11)).toBeNull();
  });

  it('zeroes with __GFP_ZERO through the CPU (lowmem via the linear map, highmem via kmap)', () => {
    const p = createPlatform(ARMV7_HIGHMEM, { seed: '1' });
    const mm = createSubstrate(p);
    const low = mm.pages.allocPages(GFP_KERNEL | __GFP_ZERO, 1) as number;
    expect(p.cpu.read(mm.pages.pageAddress(pfn(low)) as number, 2 * PAGE_SIZE)).toEqual(new Uint8Array(2 * PAGE_SIZE));
    expect(p.cache.isDirty(pfnToPhys(pfn(low)))).toBe(true); // zeros sit in the cache, not yet in RAM
    const high = mm.pages.allocPages(GFP_KERNEL | __GFP_HIGHMEM | __GFP_ZERO, 0) as number;
    expect(mm.pages.isHighmem(pfn(high))).toBe(true);
    expect(mm.pages.pageAddress(pfn(high))).toBeNull();
    p.cache.clean(pfnToPhys(pfn(high)), PAGE_SIZE);
    expect(p.mem.read(pfnToPhys(pfn(high)), PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE));
    expect(p.pt.kmapsInUse).toBe(0);
  });

  it('refuses bad frees with a violation and no change; splits blocks into order-0 pages', () => {
    const p = createPlatform(X86_64, { seed: '1' });
    const mm = createSubstrate(p);
    const a = mm.pages.allocPages(GFP_KERNEL, 2) as number;
    const snap = mm.snapshot();
    expect(mm.pages.freePages(pfn(a), 1)).toBe(false);
    expect(mm.pages.freePages(pfn(a + 1), 0)).toBe(false);
    expect(mm.snapshot()).toEqual(snap);
    expect(p.violations.all.map((v) => v.kind)).toEqual(['bad-page-free', 'bad-page-free']);
    expect(p.violations.all[0]?.message).toContain('[order=1] [allocated_order=2]');
    expect(mm.pages.splitPage(pfn(a), 1)).toBe(false);
    expect(mm.pages.splitPage(pfn(a), 2)).toBe(true);
    for (let i = 0; i < 4; i++) expect(mm.pages.freePages(pfn(a + i), 0)).toBe(true);
    expect(mm.pages.isAllocated(pfn(a))).toBe(false);
    expect(mm.pages.allocPages(GFP_KERNEL, 99)).toBeNull();
  });

  it('calls might_sleep for blocking gfp only; injects failures and fragmentation from the seed', () => {
    const p = createPlatform(X86_64, { seed: '1' });
    const mm = createSubstrate(p);
    p.context.current = 'atomic';
    mm.pages.allocPages(GFP_ATOMIC, 0);
    expect(p.violations.count).toBe(0);
    mm.pages.allocPages(GFP_KERNEL, 0);
    expect(p.violations.all[0]?.message).toContain('alloc_pages(GFP_KERNEL, order=0)');
    const failing = createSubstrate(createPlatform(X86_64, { seed: '1', faults: { pageAllocFailRate: 1 } }));
    expect(failing.pages.allocPages(GFP_KERNEL, 0)).toBeNull();
    expect(failing.dmesg.lines.map((l) => l.text)).toEqual(['page allocation failure: order:0, mode:GFP_KERNEL']);
    expect(failing.pages.allocPages(GFP_KERNEL | __GFP_NOWARN, 1)).toBeNull();
    expect(failing.dmesg.lines).toHaveLength(1);
    const plain = createSubstrate(createPlatform(ARMV7_NOMMU, { seed: '1' })).pages.stats().zones.NORMAL;
    const frag = createSubstrate(createPlatform(ARMV7_NOMMU, { seed: '1', faults: { fragmentation: 1 } })).pages.stats().zones.NORMAL;
    expect(frag?.freeBlocks[10]).toBe(0);
    // 64 MiB is 16 max-order blocks; the 1 MiB global coherent pool is reserved out of one of them.
    expect(plain?.freeBlocks[10]).toBe(15);
    expect(plain?.freePages).toBe(16 * 1024 - 256);
    expect(frag?.freePages).toBe((plain?.freePages ?? 0) - 15);
    expect(gfpToString(GFP_KERNEL | __GFP_ZERO | 0x8000000)).toBe('GFP_KERNEL|__GFP_ZERO|0x8000000');
    expect(gfpToString(0)).toBe('0');
  });
});

describe('memblock-style top-down allocation (mm/memblock.c)', () => {
  it('takes the highest aligned block under the limit, leaves the rest free, and frees back to where it was', () => {
    const platform = createPlatform(X86_64, { seed: 'topdown' });
    const mm = createSubstrate(platform);
    const before = mm.snapshot();
    const limit = 2 ** 32 - 1;
    const p = mm.pages.allocTopDown(4, limit) as number;
    expect(p).not.toBeNull();
    expect(p % 16).toBe(0);
    expect(pfnToPhys(pfn(p)) + 16 * PAGE_SIZE - 1).toBeLessThanOrEqual(limit);
    // Nothing free above it and under the limit can hold another such block.
    const q = mm.pages.allocTopDown(4, limit) as number;
    expect(q).toBeLessThan(p);
    expect(mm.pages.freePages(pfn(q), 4)).toBe(true);
    expect(mm.pages.freePages(pfn(p), 4)).toBe(true);
    expect(mm.snapshot()).toEqual(before);
    expect(mm.pages.allocTopDown(4, 15 * PAGE_SIZE)).toBeNull(); // no 16-page block fits under 60 KiB
  });
});

describe('kmalloc', () => {
  it('packs objects at their class stride, so small objects share cache lines when the minimum alignment allows', () => {
    const p = createPlatform({ ...ARM64_SOC, kmallocMinAlignBytes: 8 }, { seed: '1' });
    const mm = createSubstrate(p);
    expect(mm.slab.sizeClasses.slice(0, 5)).toEqual([8, 16, 32, 64, 96]);
    const a = mm.slab.kmalloc(40) as number;
    const b = mm.slab.kmalloc(40) as number;
    expect(b - a).toBe(64);
    expect(mm.slab.ksize(cpuAddr(a))).toBe(64);
    expect(mm.slab.kmallocSizeRoundup(100)).toBe(128);
    const wide = createSubstrate(createPlatform({ ...ARM64_SOC, kmallocMinAlignBytes: 128 }, { seed: '1' }));
    expect(wide.slab.sizeClasses[0]).toBe(128);
    expect(wide.slab.kmallocSizeRoundup(8)).toBe(128);
  });

  it('returns slab pages when the last object is freed; kzalloc zeroes; large objects come from pages', () => {
    const p = createPlatform(X86_64, { seed: '1' });
    const mm = createSubstrate(p);
    const before = mm.snapshot();
    const objs = Array.from({ length: 70 }, () => mm.slab.kmalloc(64, GFP_KERNEL | __GFP_ZERO) as number);
    expect(mm.slab.stats()).toEqual({ objects: 70, slabs: 2 });
    expect(p.cpu.read(objs[69] as number, 64)).toEqual(new Uint8Array(64));
    const big = mm.slab.kmalloc(20000) as number;
    expect(big % PAGE_SIZE).toBe(0);
    expect(mm.slab.ksize(cpuAddr(big))).toBe(32768);
    expect(mm.slab.kmallocSizeRoundup(20000)).toBe(32768);
    const dmaObj = mm.slab.kmalloc(32, GFP_DMA) as number;
    expect(p.pt.translate(dmaObj, 'read', 't').phys).toBeLessThan(16 * MiB);
    for (const o of [...objs, big, dmaObj]) mm.slab.kfree(cpuAddr(o));
    expect(mm.snapshot()).toEqual(before);
    mm.slab.kfree(cpuAddr(big));
    expect(p.violations.all[0]?.kind).toBe('bad-kfree');
    expect(mm.snapshot()).toEqual(before);
    expect(mm.slab.kmalloc(0)).toBeNull();
    expect(mm.slab.ksize(cpuAddr(1))).toBe(0);
    expect(mm.slab.isObject(objs[0] as number)).toBe(false);
  });

  it('fails cleanly when the page allocator does', () => {
    const mm = createSubstrate(createPlatform(X86_64, { seed: '1', faults: { pageAllocFailRate: 1 } }));
    expect(mm.slab.kmalloc(64)).toBeNull();
    expect(mm.slab.kmalloc(1 << 20)).toBeNull();
  });
});

describe('vmalloc', () => {
  it('maps page arrays with guard pages, finds areas, and unmaps them', () => {
    const p = createPlatform(ARM64_SOC, { seed: '1' });
    const mm = createSubstrate(p);
    const a = mm.vmalloc.vmap([pfn(0x80000), pfn(0x80005)], 'uncached') as number;
    const b = mm.vmalloc.vmap([pfn(0x80001)], 'cacheable') as number;
    expect(b - a).toBe(3 * PAGE_SIZE);
    expect(p.pt.translate(a + PAGE_SIZE + 8, 'read', 't')).toEqual({ phys: 0x8000_5008, attr: 'uncached' });
    expect(() => p.cpu.read(a + 2 * PAGE_SIZE, 1)).toThrow(/paging request/);
    expect(mm.vmalloc.findVmArea(a + 100)?.pages).toEqual([0x80000, 0x80005]);
    mm.vmalloc.vunmap(cpuAddr(a));
    const c = mm.vmalloc.vmap([pfn(0x80002)], 'write-combine') as number;
    expect(c).toBe(a); // first fit reuses the hole
    expect(mm.vmalloc.vunmap(cpuAddr(a + 4))).toBeUndefined();
    expect(p.violations.all[0]?.kind).toBe('bad-vunmap');
    mm.vmalloc.vunmap(cpuAddr(b));
    mm.vmalloc.vunmap(cpuAddr(c));
    expect(mm.vmalloc.liveAreas).toBe(0);
    expect(mm.vmalloc.vmap([], 'cacheable')).toBeNull();
  });

  it('may sleep, and does not exist without an MMU', () => {
    const p = createPlatform(ARM64_SOC, { seed: '1' });
    const mm = createSubstrate(p);
    p.context.current = 'atomic';
    mm.vmalloc.vmap([pfn(0x80000)], 'cacheable');
    expect(p.violations.all[0]?.message).toContain('[what=vmap]');
    const n = createSubstrate(createPlatform(ARMV7_NOMMU, { seed: '1' }));
    expect(n.vmalloc.vmap([pfn(0x60000)], 'cacheable')).toBeNull();
    const full = createSubstrate(createPlatform({ ...ARM64_SOC, va: { ...ARM64_SOC.va, vmallocEnd: ARM64_SOC.va.vmallocStart + 3 * PAGE_SIZE } }, { seed: '1' }));
    expect(full.vmalloc.vmap([pfn(0x80000), pfn(0x80001)], 'cacheable')).not.toBeNull();
    expect(full.vmalloc.vmap([pfn(0x80002)], 'cacheable')).toBeNull();
  });
});
