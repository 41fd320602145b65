import { describe, expect, it } from 'vitest';
import { IOVA_ANCHOR_PFN, IOVA_MAG_SIZE, IovaDomain, iovaRcacheRange } from './iova.ts';

/** Highest pfn below 4 GiB with 4 KiB granules (`DMA_BIT_MASK(32) >> 12`). */
const LIMIT32 = 0xfffff;
/** Highest pfn of a 48-bit device with 4 KiB granules (`DMA_BIT_MASK(48) >> 12`). */
const LIMIT48 = 2 ** 36 - 1;

function domain(startPfn = 1): IovaDomain {
  return new IovaDomain(4096, startPfn);
}

function fastDomain(startPfn = 1): IovaDomain {
  const d = domain(startPfn);
  expect(d.initRcaches()).toBe(0);
  return d;
}

const ranges = (d: IovaDomain) => d.allocatedRanges().map((r) => [r.pfnLo, r.pfnHi]);

describe('alloc_iova placement (drivers/iommu/iova.c __alloc_and_insert_iova_range)', () => {
  it('allocates top-down from the limit, each allocation below the previous one', () => {
    const d = domain();
    expect(d.allocIova(1, LIMIT32, false)).toEqual({ pfnLo: 0xfffff, pfnHi: 0xfffff });
    expect(d.allocIova(2, LIMIT32, false)).toEqual({ pfnLo: 0xffffd, pfnHi: 0xffffe });
    expect(d.allocIova(1, LIMIT32, false)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xffffc });
    expect(d.totalAllocatedPfns()).toBe(4);
    expect(ranges(d)).toEqual([
      [0xffffc, 0xffffc],
      [0xffffd, 0xffffe],
      [0xfffff, 0xfffff],
    ]);
  });

  it('aligns a size-aligned start to the size rounded up to a power of two, keeping the exact size', () => {
    const d = domain();
    expect(d.allocIova(3, LIMIT32, true)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xffffe });
    expect(d.findIova(0xfffff)).toBeNull(); // the alignment left the top pfn free
    expect(d.allocIova(3, LIMIT32, false)).toEqual({ pfnLo: 0xffff9, pfnHi: 0xffffb });
    expect(d.allocIova(5, LIMIT32, true)).toEqual({ pfnLo: 0xffff0, pfnHi: 0xffff4 });
    // Next fit: the walk starts below the last allocation, so the hole at 0xfffff is not found.
    expect(d.allocIova(1, LIMIT32, false)).toEqual({ pfnLo: 0xfffef, pfnHi: 0xfffef });
  });

  it('keeps the limit inclusive, with separate cached nodes below and above 4 GiB', () => {
    const d = domain();
    expect(d.allocIova(1, LIMIT48, false)?.pfnLo).toBe(LIMIT48);
    expect(d.allocIova(1, LIMIT32, false)?.pfnLo).toBe(LIMIT32);
    expect(d.allocIova(1, LIMIT48, false)?.pfnLo).toBe(LIMIT48 - 1);
    expect(d.allocIova(1, LIMIT32, false)?.pfnLo).toBe(LIMIT32 - 1);
    expect(d.allocIova(1, 0xffff, false)?.pfnLo).toBe(0xffff);
    expect(d.allocIova(0x10, 0xffff, true)).toEqual({ pfnLo: 0xffe0, pfnHi: 0xffef });
    expect(d.dma32BitPfn).toBe(0x100000);
  });

  it('never hands out IOVA 0: start_pfn bounds every allocation', () => {
    const d = domain(1);
    expect([d.allocIova(1, 3, false)?.pfnLo, d.allocIova(1, 3, false)?.pfnLo, d.allocIova(1, 3, false)?.pfnLo]).toEqual([3, 2, 1]);
    expect(d.allocIova(1, 3, false)).toBeNull();
    expect(d.findIova(0)).toBeNull();

    const f = fastDomain(1);
    expect(f.allocIovaFast(2, 3)).toBe(2);
    expect(f.allocIovaFast(2, 3)).toBeNull(); // [0, 1] would be the only aligned slot
    expect(() => new IovaDomain(4096, 0)).toThrow(RangeError);
  });

  it('retries from the limit when the walk from the cached node fails, and fails when the space is full', () => {
    const d = domain();
    for (let p = 7; p >= 1; p--) expect(d.allocIova(1, 7, false)?.pfnLo).toBe(p);
    expect(d.allocIova(1, 7, false)).toBeNull();
    expect(d.freeIova(4)).toBe(true);
    expect(d.allocIova(1, 7, false)?.pfnLo).toBe(4);
  });
});

describe('reserve_iova', () => {
  it('keeps allocations around a reserved window', () => {
    const d = domain();
    expect(d.reserveIova(8, 11)).toEqual({ pfnLo: 8, pfnHi: 11 });
    expect(d.allocIova(4, 15, true)).toEqual({ pfnLo: 12, pfnHi: 15 });
    expect(d.allocIova(4, 15, true)).toEqual({ pfnLo: 4, pfnHi: 7 });
    expect(d.allocIova(4, 15, true)).toBeNull();
    expect(d.reservedRanges()).toEqual([{ pfnLo: 8, pfnHi: 11 }]);
    expect(d.totalAllocatedPfns()).toBe(8);
  });

  it('allocates below an MSI window that sits at the limit', () => {
    const d = domain();
    d.reserveIova(0xfee00, 0xfeeff);
    expect(d.allocIova(0x100, 0xfeeff, true)).toEqual({ pfnLo: 0xfed00, pfnHi: 0xfedff });
    // Next fit: the walk starts below the last allocation; the space above the window waits for a failed walk.
    expect(d.allocIova(0x200, LIMIT32, true)).toEqual({ pfnLo: 0xfea00, pfnHi: 0xfebff });
  });

  it('merges overlapping reservations as the kernel does', () => {
    const d = domain();
    expect(d.reserveIova(20, 25)).toEqual({ pfnLo: 20, pfnHi: 25 });
    // Reaching above a node: the rest starts just above it, as a new node.
    expect(d.reserveIova(23, 30)).toEqual({ pfnLo: 26, pfnHi: 30 });
    // Starting below a node and ending inside it: the node is stretched down.
    expect(d.reserveIova(18, 22)).toEqual({ pfnLo: 18, pfnHi: 25 });
    // Covering several: the first is stretched down, the rest above the last is new.
    expect(d.reserveIova(10, 40)).toEqual({ pfnLo: 31, pfnHi: 40 });
    // Inside an existing node: that node, nothing changes.
    expect(d.reserveIova(26, 28)).toEqual({ pfnLo: 26, pfnHi: 30 });
    // A gap between two nodes is filled by stretching the upper one down.
    d.reserveIova(50, 52);
    d.reserveIova(56, 58);
    expect(d.reserveIova(51, 57)).toEqual({ pfnLo: 53, pfnHi: 58 });
    expect(d.reservedRanges()).toEqual([
      { pfnLo: 10, pfnHi: 25 },
      { pfnLo: 26, pfnHi: 30 },
      { pfnLo: 31, pfnHi: 40 },
      { pfnLo: 50, pfnHi: 52 },
      { pfnLo: 53, pfnHi: 58 },
    ]);
    expect(d.totalAllocatedPfns()).toBe(0);
    // Below start_pfn is allowed.
    expect(d.reserveIova(0, 0)).toEqual({ pfnLo: 0, pfnHi: 0 });
  });
});

describe('free_iova, __free_iova, find_iova', () => {
  it('re-allocates a freed hole above the cached node', () => {
    const d = domain();
    const a = d.allocIova(1, LIMIT48, false);
    const b = d.allocIova(1, LIMIT48, false);
    const c = d.allocIova(1, LIMIT48, false);
    expect([a?.pfnLo, b?.pfnLo, c?.pfnLo]).toEqual([LIMIT48, LIMIT48 - 1, LIMIT48 - 2]);
    expect(d.freeIova(LIMIT48 - 1)).toBe(true);
    expect(d.findIova(LIMIT48 - 1)).toBeNull();
    expect(d.allocIova(1, LIMIT48, false)?.pfnLo).toBe(LIMIT48 - 1);
  });

  it('finds and frees a range by any pfn inside it, or by the exact range', () => {
    const d = domain();
    const r = d.allocIova(4, LIMIT32, true);
    expect(r).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff });
    expect(d.findIova(0xffffe)).toEqual(r);
    expect(d.freeIova(0xffffe)).toBe(true);
    expect(d.allocatedRanges()).toEqual([]);
    const s = d.allocIova(4, LIMIT32, true);
    expect(s).toEqual(r);
    expect(d.freeIovaRange({ pfnLo: 0xffffc, pfnHi: 0xffffe })).toBe(false);
    expect(d.freeIovaRange(s as NonNullable<typeof s>)).toBe(true);
    expect(d.totalAllocatedPfns()).toBe(0);
  });
});

describe('max32_alloc_size', () => {
  it('makes 32-bit allocations of the failed size or more fail fast until a free below 4 GiB', () => {
    const d = domain();
    d.reserveIova(1, 14);
    expect(d.allocIova(1, 15, false)?.pfnLo).toBe(15);
    expect(d.allocIova(1, 15, false)).toBeNull();
    expect(d.max32AllocSizePfns).toBe(1);
    // Plenty of room below 4 GiB, but the walk is skipped.
    expect(d.allocIova(1, LIMIT32, false)).toBeNull();
    expect(d.allocIova(2, LIMIT32, false)).toBeNull();
    // A limit above 4 GiB is not affected, and a free above 4 GiB does not reset it.
    expect(d.allocIova(1, LIMIT48, false)?.pfnLo).toBe(LIMIT48);
    expect(d.freeIova(LIMIT48)).toBe(true);
    expect(d.allocIova(1, LIMIT32, false)).toBeNull();
    // A free below 4 GiB resets it.
    expect(d.freeIova(15)).toBe(true);
    expect(d.max32AllocSizePfns).toBe(d.dma32BitPfn);
    expect(d.allocIova(1, LIMIT32, false)?.pfnLo).toBe(LIMIT32);
    expect(d.allocIova(1, 15, false)?.pfnLo).toBe(15);
  });

  it('is set by a failure with a limit above 4 GiB too, and is keyed by size only', () => {
    const d = domain();
    d.reserveIova(1, 0xffff0);
    d.reserveIova(0xffff5, 0x100007); // a 4-pfn hole at 0xffff1, not 4-aligned
    expect(d.allocIova(4, 0x100007, true)).toBeNull();
    expect(d.max32AllocSizePfns).toBe(4);
    expect(d.allocIova(4, LIMIT32, false)).toBeNull(); // would fit at 0xffff1
    expect(d.allocIova(3, LIMIT32, false)).toEqual({ pfnLo: 0xffff2, pfnHi: 0xffff4 });
  });
});

describe('range caches (alloc_iova_fast, free_iova_fast)', () => {
  it('hands the last freed range out first (LIFO), keeping cached ranges in the tree', () => {
    const d = fastDomain();
    const p1 = d.allocIovaFast(1, LIMIT32);
    const p2 = d.allocIovaFast(1, LIMIT32);
    const p3 = d.allocIovaFast(1, LIMIT32);
    expect([p1, p2, p3]).toEqual([0xfffff, 0xffffe, 0xffffd]);
    expect(d.freeIovaFast(0xfffff, 1)).toBe(true);
    expect(d.freeIovaFast(0xffffe, 1)).toBe(true);
    expect(d.cachedRanges()).toEqual([
      { pfnLo: 0xffffe, pfnHi: 0xffffe, order: 0, where: 'loaded' },
      { pfnLo: 0xfffff, pfnHi: 0xfffff, order: 0, where: 'loaded' },
    ]);
    expect(d.allocatedRanges()).toHaveLength(3);
    expect(d.allocatedRanges().filter((r) => r.cached)).toHaveLength(2);
    expect(d.totalAllocatedPfns()).toBe(1);
    expect(d.allocIovaFast(1, LIMIT32)).toBe(0xffffe);
    expect(d.allocIovaFast(1, LIMIT32)).toBe(0xfffff);
    expect(d.allocIovaFast(1, LIMIT32)).toBe(0xffffc); // from the tree
  });

  it('skips a cached range above the limit and takes one from the tree', () => {
    const d = fastDomain();
    expect(d.allocIovaFast(1, LIMIT32)).toBe(0xfffff);
    d.freeIovaFast(0xfffff, 1);
    expect(d.allocIovaFast(1, 0x7ffff)).toBe(0x7ffff);
    expect(d.cachedRanges().map((r) => r.pfnLo)).toEqual([0xfffff]);
    expect(d.allocIovaFast(1, LIMIT32)).toBe(0xfffff);
  });

  it('rounds small sizes up to a power of two and caches by the order of the size freed', () => {
    const d = fastDomain();
    expect(d.allocIovaFast(3, LIMIT32)).toBe(0xffffc);
    expect(d.findIova(0xffffc)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff });
    expect(d.freeIovaFast(0xffffc, 3)).toBe(true);
    expect(d.cachedRanges()).toEqual([{ pfnLo: 0xffffc, pfnHi: 0xfffff, order: 2, where: 'loaded' }]);
    expect(d.allocIovaFast(4, LIMIT32)).toBe(0xffffc);
  });

  it('sends sizes of order 6 and up straight to the tree', () => {
    const d = fastDomain();
    expect(d.allocIovaFast(64, LIMIT32)).toBe(0xfffc0);
    expect(d.freeIovaFast(0xfffc0, 64)).toBe(true);
    expect(d.cachedRanges()).toEqual([]);
    expect(d.allocatedRanges()).toEqual([]);
    // 33..63 pfns are not rounded up, but are placed 64-aligned and are not cached either.
    expect(d.allocIovaFast(33, LIMIT32)).toBe(0xfffc0);
    expect(d.findIova(0xfffc0)).toEqual({ pfnLo: 0xfffc0, pfnHi: 0xfffe0 });
    expect(d.freeIovaFast(0xfffc0, 33)).toBe(true);
    expect(d.allocatedRanges()).toEqual([]);
    // 32 pfns (order 5) is the largest cached size.
    expect(d.allocIovaFast(32, LIMIT32)).toBe(0xfffe0);
    expect(d.freeIovaFast(0xfffe0, 32)).toBe(true);
    expect(d.cachedRanges()).toEqual([{ pfnLo: 0xfffe0, pfnHi: 0xfffff, order: 5, where: 'loaded' }]);
  });

  it('flushes the caches and retries once when the tree has no room', () => {
    const d = fastDomain();
    expect([d.allocIovaFast(4, 15), d.allocIovaFast(4, 15), d.allocIovaFast(4, 15)]).toEqual([12, 8, 4]);
    for (const p of [12, 8, 4]) expect(d.freeIovaFast(p, 4)).toBe(true);
    // Without the flush, the cached ranges block the space.
    expect(d.allocIovaFast(8, 15, false)).toBeNull();
    expect(d.cachedRanges()).toHaveLength(3);
    expect(d.allocIovaFast(8, 15)).toBe(8);
    expect(d.cachedRanges()).toEqual([]);
    expect(ranges(d)).toEqual([[8, 15]]);
  });

  it('reuses across magazines and the depot in the kernel order', () => {
    const d = fastDomain();
    const n = 300;
    const pfns: number[] = [];
    for (let i = 0; i < n; i++) pfns.push(d.allocIovaFast(1, LIMIT32) as number);
    expect(pfns[n - 1]).toBe(LIMIT32 - (n - 1));
    for (const p of pfns) expect(d.freeIovaFast(p, 1)).toBe(true);
    const where = d.cachedRanges().map((r) => r.where);
    expect([where.filter((w) => w === 'loaded').length, where.filter((w) => w === 'prev').length, where.filter((w) => w === 'depot').length]).toEqual([
      n - 2 * IOVA_MAG_SIZE,
      IOVA_MAG_SIZE,
      IOVA_MAG_SIZE,
    ]);
    // Frees numbered 1..300: the loaded magazine (255..300) newest first, then the
    // previous one (1..127), then the depot's (128..254).
    const freeNo = (k: number) => pfns[k - 1];
    const expected = [
      ...Array.from({ length: 46 }, (_, i) => freeNo(300 - i)),
      ...Array.from({ length: 127 }, (_, i) => freeNo(127 - i)),
      ...Array.from({ length: 127 }, (_, i) => freeNo(254 - i)),
    ];
    const got: (number | null)[] = [];
    for (let i = 0; i < n; i++) got.push(d.allocIovaFast(1, LIMIT32));
    expect(got).toEqual(expected);
    expect(d.cachedRanges()).toEqual([]);
    expect(d.allocIovaFast(1, LIMIT32)).toBe(LIMIT32 - n);
  });

  it('trims the depot to one magazine per online CPU when its work runs', () => {
    const d = fastDomain();
    const n = 3 * IOVA_MAG_SIZE + 1;
    const pfns: number[] = [];
    for (let i = 0; i < n; i++) pfns.push(d.allocIovaFast(1, LIMIT32) as number);
    for (const p of pfns) d.freeIovaFast(p, 1);
    expect(d.depotWorkPending).toBe(true);
    expect(d.cachedRanges().filter((r) => r.where === 'depot')).toHaveLength(2 * IOVA_MAG_SIZE);
    // The depot head is the magazine of frees 255..381: those go back to the tree.
    expect(d.runDepotWork(1)).toBe(1);
    expect(d.cachedRanges()).toHaveLength(n - IOVA_MAG_SIZE);
    expect(d.findIova(pfns[254] as number)).toBeNull();
    expect(d.findIova(pfns[380] as number)).toBeNull();
    expect(d.findIova(pfns[253] as number)).not.toBeNull();
    expect(d.runDepotWork(1)).toBe(0);
    expect(d.depotWorkPending).toBe(false);
    d.flushRcaches();
    expect(d.allocatedRanges()).toEqual([]);
  });
});

describe('iova_rcache_range (iommu_dma_opt_mapping_size)', () => {
  it('is PAGE_SIZE << 5 of the kernel, whatever the granule', () => {
    expect(iovaRcacheRange()).toBe(128 * 1024);
    expect(domain().iovaRcacheRangeBytes()).toBe(128 * 1024);
    const big = new IovaDomain(65536, 1, { pageSizeBytes: 65536 });
    expect(big.iovaRcacheRangeBytes()).toBe(2 * 1024 * 1024);
    expect(big.dma32BitPfn).toBe(0x10000);
    // A 4 KiB granule under 64 KiB pages: the kernel reports 2 MiB, though only 32 granules (128 KiB) are cached.
    expect(new IovaDomain(4096, 1, { pageSizeBytes: 65536 }).iovaRcacheRangeBytes()).toBe(2 * 1024 * 1024);
    // The kernel BUGs on a granule larger than PAGE_SIZE.
    expect(() => new IovaDomain(65536, 1)).toThrow(/init_iova_domain/);
    expect(() => new IovaDomain(3 * 4096, 1, { pageSizeBytes: 65536 })).toThrow(/init_iova_domain/);
  });

  it('caches up to 32 granules of a 64 KiB domain', () => {
    const d = new IovaDomain(65536, 1, { pageSizeBytes: 65536 });
    d.initRcaches();
    const top = 0xffff;
    expect(d.allocIovaFast(32, top)).toBe(0x10000 - 32);
    d.freeIovaFast(0x10000 - 32, 32);
    expect(d.cachedRanges()).toHaveLength(1);
    expect(d.iovaDmaAddr({ pfnLo: 0x10000 - 32, pfnHi: top })).toBe(0x100000000 - 32 * 65536);
    expect(d.iovaPfn(0xffff_1234)).toBe(0xffff);
    expect(d.iovaOffset(0xffff_1234)).toBe(0x1234);
    expect(d.iovaAlign(65537)).toBe(2 * 65536);
  });
});

describe('bad input changes nothing', () => {
  /** The same valid operations on two domains, one with bad calls interleaved. */
  function run(withBad: boolean): { results: unknown[]; state: unknown; d: IovaDomain } {
    const d = fastDomain();
    const results: unknown[] = [];
    const bad = (f: () => unknown, expected: unknown): void => {
      if (withBad) expect(f()).toEqual(expected);
    };
    d.reserveIova(0xfee00, 0xfeeff);
    results.push(d.allocIova(2, LIMIT32, true));
    bad(() => d.allocIova(0, LIMIT32, false), null);
    bad(() => d.allocIova(0, LIMIT32, true), null);
    bad(() => d.allocIova(-1, LIMIT32, false), null);
    bad(() => d.allocIova(1.5, LIMIT32, false), null);
    bad(() => d.allocIova(Number.NaN, LIMIT32, false), null);
    bad(() => d.allocIova(1, 0, false), null); // limit below start_pfn
    bad(() => d.allocIova(1, IOVA_ANCHOR_PFN, false), null);
    bad(() => d.allocIovaFast(0, LIMIT32), null);
    bad(() => d.allocIovaFast(1, 0), null);
    results.push(d.allocIovaFast(1, LIMIT32));
    results.push(d.allocIovaFast(4, LIMIT32));
    bad(() => d.freeIova(0x12345), false);
    bad(() => d.freeIova(-1), false);
    bad(() => d.freeIova(IOVA_ANCHOR_PFN), false);
    bad(() => d.freeIovaRange({ pfnLo: 0xffffe, pfnHi: 0xffffe }), false); // not the node's exact range
    bad(() => d.freeIovaFast(0x12345, 1), false); // not allocated
    bad(() => d.freeIovaFast(results[2] as number, 2), false); // wrong order
    bad(() => d.freeIovaFast((results[2] as number) + 1, 4), false); // not the start
    bad(() => d.freeIovaFast(results[1] as number, 0), false);
    results.push(d.freeIovaFast(results[1] as number, 1));
    bad(() => d.freeIovaFast(results[1] as number, 1), false); // double free into the cache
    bad(() => d.freeIova(results[1] as number), false); // free of a cached range
    bad(() => d.freeIovaRange({ pfnLo: results[1] as number, pfnHi: results[1] as number }), false);
    bad(() => d.reserveIova(5, 4), null);
    bad(() => d.reserveIova(0, 2 ** 52), null); // beyond 64 bits of address
    bad(() => d.reserveIova((results[1] as number) - 1, results[1] as number), null); // over a cached range
    results.push(d.allocIova(1, LIMIT32, false));
    results.push(d.allocIovaFast(1, LIMIT32));
    results.push(d.allocIovaFast(8, LIMIT32));
    const state = { ranges: d.allocatedRanges(), cached: d.cachedRanges(), max32: d.max32AllocSizePfns, total: d.totalAllocatedPfns() };
    return { results, state, d };
  }

  it('gives the same results and state as the same calls without the bad ones', () => {
    const clean = run(false);
    const dirty = run(true);
    expect(dirty.results).toEqual(clean.results);
    expect(dirty.state).toEqual(clean.state);
    expect(clean.d.dmesg.lines).toHaveLength(0);
    expect(dirty.d.dmesg.has('reserve_iova: nonsensical pfns')).toBe(true);
    expect(dirty.d.dmesg.has('free_iova_fast refused (already cached)')).toBe(true);
  });

  it('leaves max32_alloc_size alone for a limit below start_pfn', () => {
    const d = domain(0x100);
    expect(d.allocIova(1, 0xff, false)).toBeNull();
    expect(d.max32AllocSizePfns).toBe(d.dma32BitPfn);
    expect(d.allocIova(1, 0x100, false)).toEqual({ pfnLo: 0x100, pfnHi: 0x100 });
  });

  it('refuses the fast path before the range caches exist', () => {
    const d = domain();
    expect(d.hasRcaches).toBe(false);
    expect(d.allocIovaFast(1, LIMIT32)).toBeNull();
    const r = d.allocIova(1, LIMIT32, true);
    expect(d.freeIovaFast(r?.pfnLo as number, 1)).toBe(false);
    expect(d.allocatedRanges()).toHaveLength(1);
  });

  it('put_iova_domain drops every range and the caches', () => {
    const d = fastDomain();
    d.reserveIova(8, 11);
    d.allocIovaFast(1, LIMIT32);
    d.freeIovaFast(LIMIT32, 1);
    d.allocIova(2, LIMIT32, false);
    d.put();
    expect(d.allocatedRanges()).toEqual([]);
    expect(d.cachedRanges()).toEqual([]);
    expect(d.hasRcaches).toBe(false);
    expect(d.allocIova(1, LIMIT32, false)?.pfnLo).toBe(LIMIT32);
  });
});
