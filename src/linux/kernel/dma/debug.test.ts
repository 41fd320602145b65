import { describe, expect, it } from 'vitest';
import {
  DMA_ATTR_DEBUGGING_IGNORE_CACHELINES,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
} from '../../include/linux/dma-mapping.ts';
import { DEBUG_CHECK_TEXT, type DebugCheck, type DebugReport, type DebugSgEntry, DmaDebug, type DmaDebugOptions, debugCheckOf } from './debug.ts';

const DEV = 'nic0';
const OTHER = 'nvme0';
const KiB = 1024;

interface Extra {
  readonly bounceUnalignedKmalloc?: boolean;
  readonly preV618EntryTypes?: boolean;
  readonly maxSegmentSizeBytes?: number;
  readonly segmentBoundaryMask?: number;
}

function debug(extra: Extra = {}, sink?: (r: DebugReport) => void): DmaDebug {
  const options: DmaDebugOptions = {
    cacheLineBytes: 64,
    deviceParms: () => ({ maxSegmentSizeBytes: extra.maxSegmentSizeBytes ?? 64 * KiB, segmentBoundaryMask: extra.segmentBoundaryMask ?? 0xffffffff }),
    ...(extra.bounceUnalignedKmalloc === undefined ? {} : { bounceUnalignedKmalloc: extra.bounceUnalignedKmalloc }),
    ...(extra.preV618EntryTypes === undefined ? {} : { preV618EntryTypes: extra.preV618EntryTypes }),
  };
  return new DmaDebug(options, sink);
}

const checks = (d: DmaDebug): DebugCheck[] => d.reports.map((r) => r.check);

/** The reports are exactly `expected` (checks in order), each classified back to its check by its text. */
function expectReports(d: DmaDebug, expected: DebugCheck[]): void {
  expect(checks(d)).toEqual(expected);
  for (const r of d.reports) {
    expect(r.message).toContain(DEBUG_CHECK_TEXT[r.check]);
    expect(debugCheckOf(r.message)).toBe(r.check);
  }
}

/** A checked streaming mapping, as a careful driver makes it. */
function mapChecked(d: DmaDebug, dma: number, sizeBytes: number, dir: number, phys = dma, attrs = 0, dev = DEV): void {
  d.mapPhys(dev, phys, sizeBytes, dir, dma, attrs);
  d.mappingError(dev, dma);
}

/** An sg list whose entries are mapped 1:1 (DMA address = physical address). */
function sgList(...segs: [phys: number, lengthBytes: number][]): DebugSgEntry[] {
  return segs.map(([phys, lengthBytes]) => ({ phys, lengthBytes, dmaAddress: phys, dmaLengthBytes: lengthBytes }));
}

describe('legal sequences (kernel/dma/debug.c)', () => {
  it('reports nothing for map/check/sync/unmap, sg map/sync/unmap, coherent and pages alloc/free, and leaves no entry', () => {
    const d = debug();
    d.mapSingle(DEV, 'linear', 0x8001_0000, 4 * KiB);
    d.checkMappedArea(DEV, 'linear', 0x8001_0000, 4 * KiB);
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.syncSingleForCpu(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.syncSingleForDevice(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);

    mapChecked(d, 0x2_0000, 512, DMA_TO_DEVICE);
    d.syncSingleForDevice(DEV, 0x2_0000, 512, DMA_TO_DEVICE);
    d.syncSingleForCpu(DEV, 0x2_0000, 512, DMA_TO_DEVICE);
    d.unmapPhys(DEV, 0x2_0000, 512, DMA_TO_DEVICE);

    const sg = sgList([0x3_0000, 4 * KiB], [0x5_0000, 8 * KiB]);
    d.mapSg(DEV, sg, 2, 2, DMA_BIDIRECTIONAL, 0);
    expect(d.entryCount(DEV)).toBe(2);
    d.syncSgForCpu(DEV, sg, 2, DMA_BIDIRECTIONAL);
    d.syncSgForDevice(DEV, sg, 2, DMA_BIDIRECTIONAL);
    d.unmapSg(DEV, sg, 2, DMA_BIDIRECTIONAL);

    d.allocCoherent(DEV, 8 * KiB, 0x8_0000, 0x8008_0000, 0x8_0000, 0);
    d.freeCoherent(DEV, 8 * KiB, 0x8008_0000, 0x8_0000);

    d.allocPages(DEV, 0xa_0000, 4 * KiB, DMA_FROM_DEVICE, 0xa_0000);
    d.syncSingleForCpu(DEV, 0xa_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.freePages(DEV, 0xa_0000, 4 * KiB, DMA_FROM_DEVICE, 0xa_0000);

    d.driverUnbound(DEV);
    expect(d.reports).toEqual([]);
    expect(d.errorCount).toBe(0);
    expect(d.entryCount()).toBe(0);
  });

  it('accepts any sync direction on a BIDIRECTIONAL mapping', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_BIDIRECTIONAL);
    for (const dir of [DMA_BIDIRECTIONAL, DMA_TO_DEVICE, DMA_FROM_DEVICE]) {
      d.syncSingleForCpu(DEV, 0x1_0000, 4 * KiB, dir);
      d.syncSingleForDevice(DEV, 0x1_0000, 4 * KiB, dir);
    }
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_BIDIRECTIONAL);
    expect(d.reports).toEqual([]);
  });

  it('adds no entry for a DMA_MAPPING_ERROR result, nor for a failed map_sg or coherent allocation', () => {
    const d = debug();
    d.mapPhys(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE, DMA_MAPPING_ERROR, 0);
    d.mapSg(DEV, sgList([0x2_0000, 4 * KiB]), 1, 0, DMA_FROM_DEVICE, 0);
    d.allocCoherent(DEV, 4 * KiB, 0x3_0000, null, 0x3_0000, 0);
    expect(d.entryCount()).toBe(0);
    expect(d.reports).toEqual([]);
  });

  it('calls the sink with each report as it is made', () => {
    const seen: DebugReport[] = [];
    const d = debug({}, (r) => seen.push(r));
    d.unmapPhys(DEV, 0x1234000, 4 * KiB, DMA_TO_DEVICE);
    expect(seen).toEqual(d.reports);
    expect(seen).toHaveLength(1);
  });
});

describe('check_unmap: D1–D8', () => {
  it('D1: freeing DMA_MAPPING_ERROR', () => {
    const d = debug();
    d.unmapPhys(DEV, DMA_MAPPING_ERROR, 4 * KiB, DMA_TO_DEVICE);
    expectReports(d, ['D1']);
    expect(d.reports[0]).toEqual({ check: 'D1', dev: DEV, message: 'device driver tries to free an invalid DMA memory address' });
  });

  it('D2: freeing an address never mapped, with the address and size as evidence', () => {
    const d = debug();
    d.unmapPhys(DEV, 0x1234000, 4096, DMA_TO_DEVICE);
    expectReports(d, ['D2']);
    expect(d.reports[0]?.message).toBe('device driver tries to free DMA memory it has not allocated [device address=0x0000000001234000] [size=4096 bytes]');
  });

  it("D2: another device's mapping at the same address is not found", () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_TO_DEVICE, 0x1_0000, 0, OTHER);
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    expectReports(d, ['D2']);
    expect(d.entryCount(OTHER)).toBe(1);
  });

  it('D3: unmapping with a different size', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.unmapPhys(DEV, 0x1_0000, 2 * KiB, DMA_FROM_DEVICE);
    expectReports(d, ['D3']);
    expect(d.reports[0]?.message).toBe('device driver frees DMA memory with different size [device address=0x0000000000010000] [map size=4096 bytes] [unmap size=2048 bytes]');
  });

  it('D4: releasing a coherent buffer with dma_unmap_phys', () => {
    const d = debug();
    d.allocCoherent(DEV, 4 * KiB, 0x2_0000, 0x8002_0000, 0x2_0000, 0);
    d.unmapPhys(DEV, 0x2_0000, 4 * KiB, DMA_BIDIRECTIONAL);
    expectReports(d, ['D4']);
    expect(d.reports[0]?.message).toBe('device driver frees DMA memory with wrong function [device address=0x0000000000020000] [size=4096 bytes] [mapped as coherent] [unmapped as phy]');
    expect(d.entryCount()).toBe(0);
  });

  it('D4: before v6.18 a page mapping released with dma_unmap_resource was the wrong function; from v6.18 both are "phy"', () => {
    const old = debug({ preV618EntryTypes: true });
    mapChecked(old, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    old.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE, 'resource');
    expectReports(old, ['D4']);
    expect(old.reports[0]?.message).toContain('[mapped as single] [unmapped as resource]');

    const now = debug();
    mapChecked(now, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    now.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE, 'resource');
    expect(now.reports).toEqual([]);
  });

  it('D5: freeing a coherent buffer at a different CPU address (and a pages buffer at a different page)', () => {
    const d = debug();
    d.allocCoherent(DEV, 4 * KiB, 0x3_0000, 0x8003_0000, 0x3_0000, 0);
    d.freeCoherent(DEV, 4 * KiB, 0x8003_1000, 0x3_0000);
    expectReports(d, ['D5']);
    // The kernel's format writes "0x" before %pa, which prints its own.
    expect(d.reports[0]?.message).toBe(
      'device driver frees DMA memory with different CPU address [device address=0x0000000000030000] [size=4096 bytes] [cpu alloc address=0x0x0000000080030000] [cpu free address=0x0x0000000080031000]',
    );

    const p = debug();
    p.allocCoherent(DEV, 4 * KiB, 0x3_0000, 0x8003_0000, 0x3_0000, 0);
    p.freeCoherent(DEV, 4 * KiB, 0x8003_1000, 0x3_0000, 0x3_1000);
    expect(p.reports[0]?.message).toContain('[cpu alloc address=0x0x0000000000030000] [cpu free address=0x0x0000000000031000]');
    p.allocPages(DEV, 0x4_0000, 4 * KiB, DMA_BIDIRECTIONAL, 0x4_0000);
    p.freePages(DEV, 0x5_0000, 4 * KiB, DMA_BIDIRECTIONAL, 0x4_0000);
    expectReports(p, ['D5', 'D5']);
    expect(p.entryCount()).toBe(0);
  });

  it('D6: unmapping an sg list with a different entry count', () => {
    const d = debug();
    const sg = sgList([0x1_0000, 4 * KiB], [0x3_0000, 4 * KiB]);
    d.mapSg(DEV, sg, 2, 2, DMA_TO_DEVICE, 0);
    d.unmapSg(DEV, sg, 3, DMA_TO_DEVICE);
    expectReports(d, ['D6', 'D6']);
    expect(d.reports[0]?.message).toBe('device driver frees DMA sg list with different entry count [map count=2] [unmap count=3]');
    expect(d.entryCount()).toBe(0);
  });

  it('D7: unmapping with a different direction', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    expectReports(d, ['D7']);
    expect(d.reports[0]?.message).toBe(
      'device driver frees DMA memory with different direction [device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [unmapped with DMA_TO_DEVICE]',
    );
  });

  it('D8: unmapping a mapping never passed to dma_mapping_error', () => {
    const d = debug();
    d.mapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE, 0x1_0000, 0);
    expect(d.entries()[0]?.mapErr).toBe('not-checked');
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    expectReports(d, ['D8']);
    // No space before the evidence, as in the kernel's format.
    expect(d.reports[0]?.message).toBe('device driver failed to check map error[device address=0x0000000000010000] [size=4096 bytes] [mapped as phy]');
  });

  it('D8 is not reported for sg, coherent or pages entries (map error check not applicable)', () => {
    const d = debug();
    const sg = sgList([0x1_0000, 4 * KiB]);
    d.mapSg(DEV, sg, 1, 1, DMA_TO_DEVICE, 0);
    d.allocCoherent(DEV, 4 * KiB, 0x3_0000, 0x8003_0000, 0x3_0000, 0);
    d.allocPages(DEV, 0x5_0000, 4 * KiB, DMA_TO_DEVICE, 0x5_0000);
    expect(d.entries().map((e) => e.mapErr)).toEqual(['not-applicable', 'not-applicable', 'not-applicable']);
    d.unmapSg(DEV, sg, 1, DMA_TO_DEVICE);
    d.freeCoherent(DEV, 4 * KiB, 0x8003_0000, 0x3_0000);
    d.freePages(DEV, 0x5_0000, 4 * KiB, DMA_TO_DEVICE, 0x5_0000);
    expect(d.reports).toEqual([]);
  });

  it('removes the entry on an erroneous unmap, reporting every error of the call', () => {
    const d = debug();
    d.mapPhys(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE, 0x1_0000, 0);
    d.unmapPhys(DEV, 0x1_0000, 8 * KiB, DMA_TO_DEVICE);
    expectReports(d, ['D3', 'D7', 'D8']);
    expect(d.entryCount()).toBe(0);
    expect(d.errorCount).toBe(3);
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    expectReports(d, ['D3', 'D7', 'D8', 'D2']);
  });

  it('stops unmapping an sg list after the recorded mapped count', () => {
    const d = debug();
    // Three CPU entries merged by the DMA layer into two DMA segments.
    const sg: DebugSgEntry[] = [
      { phys: 0x1_0000, lengthBytes: 4 * KiB, dmaAddress: 0x1_0000, dmaLengthBytes: 8 * KiB },
      { phys: 0x1_1000, lengthBytes: 4 * KiB, dmaAddress: 0x4_0000, dmaLengthBytes: 4 * KiB },
      { phys: 0x4_0000, lengthBytes: 4 * KiB, dmaAddress: 0, dmaLengthBytes: 0 },
    ];
    d.mapSg(DEV, sg, 3, 2, DMA_FROM_DEVICE, 0);
    expect(d.entries().map((e) => [e.dmaAddr, e.sizeBytes, e.sgCallEnts, e.sgMappedEnts])).toEqual([
      [0x1_0000, 8 * KiB, 3, 2],
      [0x4_0000, 4 * KiB, 3, 2],
    ]);
    d.syncSgForCpu(DEV, sg, 3, DMA_FROM_DEVICE);
    d.unmapSg(DEV, sg, 3, DMA_FROM_DEVICE);
    expect(d.reports).toEqual([]);
    expect(d.entryCount()).toBe(0);
  });

  it('checks every element of an unmapped sg list whose first entry is not found', () => {
    const d = debug();
    d.unmapSg(DEV, sgList([0x1_0000, 4 * KiB], [0x3_0000, 4 * KiB]), 2, DMA_FROM_DEVICE);
    expectReports(d, ['D2', 'D2']);
  });
});

describe('dma_mapping_error bookkeeping', () => {
  it('marks the first unchecked entry at the address, and the map hook itself checks an earlier one at the same address', () => {
    const d = debug();
    d.mapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE, 0x1_0000, 0);
    // The second map's own dma_mapping_error() test marks the first entry checked.
    d.mapPhys(DEV, 0x1_0000, 2 * KiB, DMA_TO_DEVICE, 0x1_0000, 0);
    expect(d.entries().map((e) => e.mapErr)).toEqual(['checked', 'not-checked']);
    d.mappingError(DEV, 0x1_0000);
    expect(d.entries().map((e) => e.mapErr)).toEqual(['checked', 'checked']);
    d.mappingError(OTHER, 0x1_0000);
    d.unmapPhys(DEV, 0x1_0000, 2 * KiB, DMA_TO_DEVICE);
    d.unmapPhys(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    expect(d.reports).toEqual([]);
  });
});

describe('best-fit lookup (__hash_bucket_find)', () => {
  it('picks the perfect fit when a single mapping and an sg entry share a DMA address', () => {
    const d = debug();
    mapChecked(d, 0x5_0000, 4 * KiB, DMA_FROM_DEVICE, 0x5_0000);
    const sg: DebugSgEntry[] = [{ phys: 0x9_0000, lengthBytes: 4 * KiB, dmaAddress: 0x5_0000, dmaLengthBytes: 4 * KiB }];
    d.mapSg(DEV, sg, 1, 1, DMA_FROM_DEVICE, 0);
    d.unmapPhys(DEV, 0x5_0000, 4 * KiB, DMA_FROM_DEVICE);
    expect(d.reports).toEqual([]);
    expect(d.entries().map((e) => e.type)).toEqual(['sg']);
    d.syncSgForCpu(DEV, sg, 1, DMA_FROM_DEVICE);
    d.unmapSg(DEV, sg, 1, DMA_FROM_DEVICE);
    expect(d.reports).toEqual([]);
    expect(d.entryCount()).toBe(0);
  });

  it('picks the mapping of the unmapped size when two mappings share an address', () => {
    const d = debug();
    mapChecked(d, 0x6_0000, 4 * KiB, DMA_TO_DEVICE);
    mapChecked(d, 0x6_0000, 8 * KiB, DMA_TO_DEVICE);
    d.unmapPhys(DEV, 0x6_0000, 8 * KiB, DMA_TO_DEVICE);
    expect(d.reports).toEqual([]);
    expect(d.entries().map((e) => e.sizeBytes)).toEqual([4 * KiB]);
  });

  it('takes the only candidate even when it fits badly, but finds nothing among several non-perfect candidates', () => {
    const one = debug();
    mapChecked(one, 0x6_0000, 4 * KiB, DMA_TO_DEVICE);
    one.unmapPhys(DEV, 0x6_0000, 2 * KiB, DMA_FROM_DEVICE);
    expectReports(one, ['D3', 'D7']);

    const two = debug();
    mapChecked(two, 0x6_0000, 4 * KiB, DMA_TO_DEVICE);
    mapChecked(two, 0x6_0000, 8 * KiB, DMA_TO_DEVICE);
    two.unmapPhys(DEV, 0x6_0000, 2 * KiB, DMA_TO_DEVICE);
    expectReports(two, ['D2']);
    expect(two.entryCount()).toBe(2);
  });

  it('from v6.18 a single sync never fits a "phy" entry perfectly: two mappings at one address hide each other from syncs', () => {
    const now = debug();
    mapChecked(now, 0x6_0000, 4 * KiB, DMA_FROM_DEVICE, 0x6_0000);
    mapChecked(now, 0x6_0000, 4 * KiB, DMA_FROM_DEVICE, 0x7_0000);
    now.syncSingleForCpu(DEV, 0x6_0000, 4 * KiB, DMA_FROM_DEVICE);
    expectReports(now, ['D9']);

    const old = debug({ preV618EntryTypes: true });
    mapChecked(old, 0x6_0000, 4 * KiB, DMA_FROM_DEVICE, 0x6_0000);
    mapChecked(old, 0x6_0000, 4 * KiB, DMA_FROM_DEVICE, 0x7_0000);
    old.syncSingleForCpu(DEV, 0x6_0000, 4 * KiB, DMA_FROM_DEVICE);
    expect(old.reports).toEqual([]);
  });
});

describe('check_sync: D9–D14', () => {
  it('finds a partial sync inside a large mapping, walking back through earlier hash buckets', () => {
    const d = debug();
    // 64 KiB from 0x100000 covers eight 8 KiB hash buckets.
    mapChecked(d, 0x10_0000, 64 * KiB, DMA_FROM_DEVICE);
    d.syncSingleForCpu(DEV, 0x10_e100, 0x200, DMA_FROM_DEVICE);
    d.syncSingleForDevice(DEV, 0x10_8000, 32 * KiB, DMA_FROM_DEVICE);
    expect(d.reports).toEqual([]);
    // Running past the end is not contained.
    d.syncSingleForCpu(DEV, 0x10_f000, 8 * KiB, DMA_FROM_DEVICE);
    expectReports(d, ['D9']);
  });

  it('D9: syncing memory never mapped', () => {
    const d = debug();
    d.syncSingleForCpu(DEV, 0x7_0000, 256, DMA_FROM_DEVICE);
    expectReports(d, ['D9']);
    expect(d.reports[0]?.message).toBe('device driver tries to sync DMA memory it has not allocated [device address=0x0000000000070000] [size=256 bytes]');
  });

  it('D10 cannot fire: the containing lookup already demands the whole range, so an over-long sync is D9', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.syncSingleForCpu(DEV, 0x1_0000, 8 * KiB, DMA_FROM_DEVICE);
    expectReports(d, ['D9']);
    expect(DEBUG_CHECK_TEXT.D10).toBe('device driver syncs DMA memory outside allocated range');
  });

  it('D11: syncing a FROM_DEVICE mapping for the CPU as TO_DEVICE', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.syncSingleForCpu(DEV, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    expectReports(d, ['D11']);
    expect(d.reports[0]?.message).toBe(
      'device driver syncs DMA memory with different direction [device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [synced with DMA_TO_DEVICE]',
    );
  });

  it('D12: syncing a TO_DEVICE mapping for the CPU with another direction (with D11)', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_TO_DEVICE);
    d.syncSingleForCpu(DEV, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    expectReports(d, ['D11', 'D12']);
    expect(d.reports[1]?.message).toBe(
      'device driver syncs device read-only DMA memory for cpu [device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] [synced with DMA_FROM_DEVICE]',
    );
  });

  it('D13: syncing a FROM_DEVICE mapping for the device with another direction (with D11)', () => {
    const d = debug();
    mapChecked(d, 0x1_0000, 4 * KiB, DMA_FROM_DEVICE);
    d.syncSingleForDevice(DEV, 0x1_0800, 1 * KiB, DMA_BIDIRECTIONAL);
    expectReports(d, ['D11', 'D13']);
    expect(d.reports[1]?.message).toBe(
      'device driver syncs device write-only DMA memory to device [device address=0x0000000000010800] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [synced with DMA_BIDIRECTIONAL]',
    );
  });

  it('D14: syncing an sg list with a different entry count, per mapped entry', () => {
    const d = debug();
    const sg = sgList([0x1_0000, 4 * KiB], [0x3_0000, 4 * KiB]);
    d.mapSg(DEV, sg, 2, 2, DMA_FROM_DEVICE, 0);
    d.syncSgForDevice(DEV, sg, 3, DMA_FROM_DEVICE);
    expectReports(d, ['D14', 'D14']);
    expect(d.reports[0]?.message).toBe('device driver syncs DMA sg list with different entry count [map count=2] [sync count=3]');
  });

  it('checks nothing when the first entry of a synced sg list is not found', () => {
    const d = debug();
    d.syncSgForCpu(DEV, sgList([0x1_0000, 4 * KiB]), 1, DMA_FROM_DEVICE);
    expect(d.reports).toEqual([]);
  });
});

describe('address checks: D15–D18', () => {
  it('D15: mapping memory from the stack', () => {
    const d = debug();
    d.checkMappedArea(DEV, 'stack', 0x7ffe_1000, 64);
    d.checkMappedArea(DEV, 'stack', 0x7ffe_2000, 64, true);
    expectReports(d, ['D15', 'D15']);
    expect(d.reports[0]?.message).toBe('device driver maps memory from stack [addr=000000007ffe1000]');
    expect(d.reports[1]?.message).toBe('device driver maps memory from stack [probable addr=000000007ffe2000]');
  });

  it('D16: mapping kernel text or rodata', () => {
    const d = debug();
    d.checkMappedArea(DEV, 'rodata', 0x0100_2000, 128);
    d.checkMappedArea(DEV, 'linear', 0x8000_0000, 128);
    d.checkMappedArea(DEV, 'vmalloc', 0x9000_0000, 128);
    expectReports(d, ['D16']);
    expect(d.reports[0]?.message).toBe('device driver maps memory from kernel text or rodata [addr=0000000001002000] [len=128]');
  });

  it('D17: dma_map_single of an address outside the linear map', () => {
    const d = debug();
    d.mapSingle(DEV, 'invalid', 0xdead_0000, 64);
    d.mapSingle(DEV, 'linear', 0x8000_0000, 64);
    expectReports(d, ['D17']);
    expect(d.reports[0]?.message).toBe('device driver maps memory from invalid area [addr=00000000dead0000] [len=64]');
  });

  it('D18: dma_map_single of a vmalloc address (also not a valid linear address: D17 first)', () => {
    const d = debug();
    d.mapSingle(DEV, 'vmalloc', 0xc000_0000, 4 * KiB);
    expectReports(d, ['D17', 'D18']);
    expect(d.reports[1]?.message).toBe('device driver maps memory from vmalloc area [addr=00000000c0000000] [len=4096]');
  });
});

describe('check_sg_segment: D19, D20', () => {
  it('D19: an sg segment longer than the device claims to support', () => {
    const d = debug({ maxSegmentSizeBytes: 64 * KiB });
    d.mapSg(DEV, sgList([0x10_0000, 128 * KiB]), 1, 1, DMA_TO_DEVICE, 0);
    expectReports(d, ['D19']);
    expect(d.reports[0]?.message).toBe('mapping sg segment longer than device claims to support [len=131072] [max=65536]');
    expect(d.entryCount()).toBe(1);
  });

  it('D20: a DMA segment across the boundary mask', () => {
    const d = debug({ segmentBoundaryMask: 0xffff });
    d.mapSg(DEV, sgList([0xf000, 8 * KiB], [0x2_0000, 64 * KiB]), 2, 2, DMA_TO_DEVICE, 0);
    expectReports(d, ['D20']);
    expect(d.reports[0]?.message).toBe('mapping sg segment across boundary [start=0x000000000000f000] [end=0x0000000000010fff] [boundary=0x000000000000ffff]');
  });

  it('checks only the mapped segments', () => {
    const d = debug({ maxSegmentSizeBytes: 4 * KiB });
    d.mapSg(DEV, sgList([0x1_0000, 4 * KiB], [0x3_0000, 64 * KiB]), 2, 1, DMA_TO_DEVICE, 0);
    expect(d.reports).toEqual([]);
  });
});

describe('cacheline tracking: D21, D22', () => {
  it('D21: two device-writable mappings starting in one cache line', () => {
    const d = debug();
    mapChecked(d, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000);
    mapChecked(d, 0x4_0020, 32, DMA_FROM_DEVICE, 0x4_0020);
    expectReports(d, ['D21']);
    expect(d.reports[0]).toEqual({ check: 'D21', dev: DEV, message: "cacheline tracking EEXIST, overlapping mappings aren't supported" });
  });

  it('D21 also between a coherent allocation, pages and sg entries of different devices', () => {
    const d = debug();
    d.allocCoherent(DEV, 64, 0x4_0000, 0x8004_0000, 0x4_0000, 0);
    d.allocPages(OTHER, 0x4_0010, 16, DMA_BIDIRECTIONAL, 0x4_0010);
    d.mapSg(OTHER, [{ phys: 0x4_0020, lengthBytes: 16, dmaAddress: 0x9_0000, dmaLengthBytes: 16 }], 1, 1, DMA_FROM_DEVICE, 0);
    expectReports(d, ['D21', 'D21']);
    expect(d.reports.map((r) => r.dev)).toEqual([OTHER, OTHER]);
  });

  it('D21 exemptions: DMA_ATTR_SKIP_CPU_SYNC on the new mapping, TO_DEVICE mappings, clean pairs, bounced kmalloc', () => {
    const skip = debug();
    mapChecked(skip, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000);
    mapChecked(skip, 0x4_0020, 32, DMA_FROM_DEVICE, 0x4_0020, DMA_ATTR_SKIP_CPU_SYNC);
    expect(skip.reports).toEqual([]);

    const toDevice = debug();
    mapChecked(toDevice, 0x4_0000, 32, DMA_TO_DEVICE, 0x4_0000);
    mapChecked(toDevice, 0x4_0020, 32, DMA_FROM_DEVICE, 0x4_0020);
    mapChecked(toDevice, 0x4_0030, 16, DMA_TO_DEVICE, 0x4_0030);
    expect(toDevice.reports).toEqual([]);

    const clean = debug();
    mapChecked(clean, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000, DMA_ATTR_DEBUGGING_IGNORE_CACHELINES);
    mapChecked(clean, 0x4_0020, 32, DMA_FROM_DEVICE, 0x4_0020, DMA_ATTR_REQUIRE_COHERENT);
    expect(clean.reports).toEqual([]);
    // Only the new mapping clean: reported.
    mapChecked(clean, 0x5_0000, 32, DMA_FROM_DEVICE, 0x5_0000);
    mapChecked(clean, 0x5_0020, 32, DMA_FROM_DEVICE, 0x5_0020, DMA_ATTR_DEBUGGING_IGNORE_CACHELINES);
    expectReports(clean, ['D21']);

    const bounced = debug({ bounceUnalignedKmalloc: true });
    mapChecked(bounced, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000);
    mapChecked(bounced, 0x4_0020, 32, DMA_FROM_DEVICE, 0x4_0020);
    expect(bounced.reports).toEqual([]);
  });

  it('keys a mapping by its first cache line only, and frees the line on unmap', () => {
    const d = debug();
    mapChecked(d, 0x4_0000, 4 * KiB, DMA_FROM_DEVICE, 0x4_0000);
    // Inside the first mapping but in another line: not an overlap to dma-debug.
    mapChecked(d, 0x4_0800, 64, DMA_FROM_DEVICE, 0x4_0800);
    expect(d.reports).toEqual([]);
    d.unmapPhys(DEV, 0x4_0000, 4 * KiB, DMA_FROM_DEVICE);
    mapChecked(d, 0x4_0010, 16, DMA_FROM_DEVICE, 0x4_0010);
    expect(d.reports).toEqual([]);
  });

  it('keeps the line active until every overlapping mapping is gone', () => {
    const d = debug();
    mapChecked(d, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000);
    mapChecked(d, 0x4_0020, 32, DMA_FROM_DEVICE, 0x4_0020, DMA_ATTR_SKIP_CPU_SYNC);
    d.unmapPhys(DEV, 0x4_0000, 32, DMA_FROM_DEVICE);
    mapChecked(d, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000);
    expectReports(d, ['D21']);
    d.unmapPhys(DEV, 0x4_0000, 32, DMA_FROM_DEVICE);
    d.unmapPhys(DEV, 0x4_0020, 32, DMA_FROM_DEVICE);
    mapChecked(d, 0x4_0000, 32, DMA_FROM_DEVICE, 0x4_0000);
    expectReports(d, ['D21']);
  });

  it('D22: more than 7 overlaps of one line, warned once', () => {
    const d = debug();
    for (let i = 0; i < 10; i++) mapChecked(d, 0x10_0000 + i * 0x1000, 4, DMA_FROM_DEVICE, 0x4_0000 + i * 4, DMA_ATTR_SKIP_CPU_SYNC);
    expectReports(d, ['D22']);
    expect(d.reports[0]).toEqual({ check: 'D22', dev: DEV, message: 'exceeded 7 overlapping mappings of cacheline 0x0000000000001000' });
    expect(d.errorCount).toBe(0);
  });

  it('D22 is not warned for a clean mapping', () => {
    const d = debug();
    for (let i = 0; i < 9; i++) mapChecked(d, 0x10_0000 + i * 0x1000, 4, DMA_FROM_DEVICE, 0x4_0000 + i * 4, DMA_ATTR_DEBUGGING_IGNORE_CACHELINES);
    expect(d.reports).toEqual([]);
  });
});

describe('driver unbind: D23', () => {
  it('reports the count and, as evidence, the last entry of the hash walk; the entries stay', () => {
    const d = debug();
    mapChecked(d, 0x4000, 4 * KiB, DMA_FROM_DEVICE, 0x10_0000);
    mapChecked(d, 0x2000, 2 * KiB, DMA_TO_DEVICE, 0x20_0000);
    mapChecked(d, 0x8000, 4 * KiB, DMA_TO_DEVICE, 0x30_0000, 0, OTHER);
    d.driverUnbound(DEV);
    expectReports(d, ['D23']);
    expect(d.reports[0]?.message).toBe(
      'device driver has pending DMA allocations while released from device [count=2]\n' +
        'One of leaked entries details: [device address=0x0000000000004000] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] [mapped as phy]',
    );
    expect(d.entryCount(DEV)).toBe(2);
    expect(d.entryCount()).toBe(3);
  });

  it('names the sg type with the spelling of the version followed', () => {
    const now = debug();
    now.mapSg(DEV, sgList([0x1_0000, 4 * KiB]), 1, 1, DMA_TO_DEVICE, 0);
    now.driverUnbound(DEV);
    expect(now.reports[0]?.message).toContain('[mapped as scatter-gather]');
    const old = debug({ preV618EntryTypes: true });
    old.mapSg(DEV, sgList([0x1_0000, 4 * KiB]), 1, 1, DMA_TO_DEVICE, 0);
    old.driverUnbound(DEV);
    expect(old.reports[0]?.message).toContain('[mapped as scather-gather]');
  });

  it('reports nothing for a device without entries', () => {
    const d = debug();
    mapChecked(d, 0x4000, 4 * KiB, DMA_FROM_DEVICE, 0x10_0000, 0, OTHER);
    d.driverUnbound(DEV);
    expect(d.reports).toEqual([]);
  });
});

describe('DEBUG_CHECK_TEXT', () => {
  it('gives every check a gist that no other gist contains', () => {
    const all = Object.entries(DEBUG_CHECK_TEXT) as [DebugCheck, string][];
    expect(all).toHaveLength(23);
    for (const [c, text] of all) {
      expect(debugCheckOf(text)).toBe(c);
      for (const [o, other] of all) if (o !== c) expect(other.includes(text)).toBe(false);
    }
    expect(debugCheckOf('something else')).toBeNull();
  });

  it('rejects a cache line that is not a power of two', () => {
    expect(() => new DmaDebug({ cacheLineBytes: 48, deviceParms: () => ({ maxSegmentSizeBytes: 65536, segmentBoundaryMask: 0xffffffff }) })).toThrow(RangeError);
  });
});
