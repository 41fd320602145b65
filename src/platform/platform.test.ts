import { describe, expect, it } from 'vitest';
import { CpuCache } from './cache.ts';
import { ExecutionContext, ViolationLog } from './context.ts';
import { DeviceFault, type DeviceConfig } from './device.ts';
import { DEFAULT_FAULTS, FaultInjector, validateFaults } from './faults.ts';
import { BusError, PhysicalMemory } from './memory.ts';
import { PageFault } from './pgtable.ts';
import { createPlatform } from './platform.ts';
import { Prng } from './prng.ts';
import { ARM64_SOC, ARMV7_HIGHMEM, ARMV7_NOMMU, PROFILES, ProfileError, X86_64, getProfile, validateProfile } from './profiles.ts';
import { pfn, physAddr, getOrder, isPowerOfTwo, minNotZero, maskLimit, pageAlign } from './types.ts';
import { UserFault } from './user.ts';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('types', () => {
  it('computes orders, masks and alignment as the kernel does', () => {
    expect(getOrder(1)).toBe(0);
    expect(getOrder(4096)).toBe(0);
    expect(getOrder(4097)).toBe(1);
    expect(getOrder(65536)).toBe(4);
    expect(maskLimit(24)).toBe(0xffffff);
    expect(maskLimit(64)).toBe(Number.MAX_SAFE_INTEGER);
    expect(minNotZero(0, 5)).toBe(5);
    expect(minNotZero(7, 0)).toBe(7);
    expect(minNotZero(7, 5)).toBe(5);
    expect(pageAlign(1)).toBe(4096);
    expect(isPowerOfTwo(2 ** 40)).toBe(true);
    expect(isPowerOfTwo(96)).toBe(false);
  });
});

describe('Prng', () => {
  it('gives the same stream for the same seed and another for another seed', () => {
    const a = new Prng('s');
    const b = new Prng('s');
    const c = new Prng('t');
    const sa = [a.u32(), a.u32(), a.below(10)];
    expect([b.u32(), b.u32(), b.below(10)]).toEqual(sa);
    expect(c.u32()).not.toBe(sa[0]);
    expect(a.fork('x').u32()).toBe(new Prng('s/x').u32());
    expect(a.chance(0)).toBe(false);
    expect(a.chance(1)).toBe(true);
  });
});

describe('PhysicalMemory', () => {
  const banks = [{ startPhys: physAddr(0x10000), sizeBytes: 0x4000 }];
  it('reads never-written bytes as seeded garbage with no zero byte, independent of touch order', () => {
    const m1 = new PhysicalMemory(banks, new Prng('g'));
    const m2 = new PhysicalMemory(banks, new Prng('g'));
    const a = m1.read(0x11000, 4096);
    m2.read(0x10000, 16); // touch another page first
    expect(m2.read(0x11000, 4096)).toEqual(a);
    expect(a.includes(0)).toBe(false);
    expect(new PhysicalMemory(banks, new Prng('h')).read(0x11000, 64)).not.toEqual(a.subarray(0, 64));
  });
  it('writes across pages and refuses non-RAM with a BusError', () => {
    const m = new PhysicalMemory(banks, new Prng('g'));
    m.write(0x10ffe, bytes(1, 2, 3, 4));
    expect(m.read(0x10ffe, 4)).toEqual(bytes(1, 2, 3, 4));
    expect(() => m.read(0x13ffe, 4)).toThrow(BusError);
    expect(() => m.write(0xfff0, bytes(1))).toThrow(/non-RAM physical address \[phys=0xfff0\]/);
    expect(m.isRamPfn(pfn(0x10))).toBe(true);
    expect(m.touchedPages).toBe(2);
  });
});

describe('CpuCache', () => {
  const make = (policy: 'clean-invalidate' | 'discard' = 'clean-invalidate') => {
    const mem = new PhysicalMemory([{ startPhys: physAddr(0), sizeBytes: 0x2000 }], new Prng('c'));
    return { mem, cache: new CpuCache(mem, 64, policy) };
  };
  it('keeps stores in dirty lines until clean writes them back', () => {
    const { mem, cache } = make();
    const before = mem.read(0x100, 4);
    cache.write(0x100, bytes(9, 9, 9, 9));
    expect(mem.read(0x100, 4)).toEqual(before);
    expect(cache.isDirty(0x100)).toBe(true);
    cache.clean(0x100, 4);
    expect(mem.read(0x100, 4)).toEqual(bytes(9, 9, 9, 9));
    expect(cache.isDirty(0x100)).toBe(false);
    expect(cache.isCached(0x100)).toBe(true);
  });
  it('loses dirty data on invalidate of whole lines and shows stale data after a speculative fill', () => {
    const { mem, cache } = make();
    cache.write(0x200, bytes(1, 1));
    cache.invalidate(0x200, 64);
    expect(cache.stats.discardedDirtyLines).toBe(1);
    expect(cache.isCached(0x200)).toBe(false);
    cache.speculativeFill(0x300);
    mem.write(0x300, bytes(5, 5)); // a non-coherent device writes RAM
    const out = new Uint8Array(2);
    cache.readInto(0x300, out, 0, 2);
    expect(out).not.toEqual(bytes(5, 5));
    cache.invalidate(0x300, 2);
    cache.readInto(0x300, out, 0, 2);
    expect(out).toEqual(bytes(5, 5));
  });
  it('cleans partial edge lines before invalidating (arm64), or loses the neighbour with discard', () => {
    for (const policy of ['clean-invalidate', 'discard'] as const) {
      const { mem, cache } = make(policy);
      cache.write(0x400, bytes(7)); // neighbour's dirty byte in the same line
      cache.invalidate(0x420, 0x40); // buffer starts mid-line
      expect(mem.read(0x400, 1)[0] === 7).toBe(policy === 'clean-invalidate');
    }
  });
  it('evicts with write-back, clean-invalidates ranges, and snoops for coherent devices', () => {
    const { mem, cache } = make();
    cache.write(0x500, bytes(3));
    const out = new Uint8Array(1);
    cache.snoopReadInto(0x500, out, 0, 1);
    expect(out[0]).toBe(3);
    cache.snoopWrite(0x501, bytes(4));
    cache.readInto(0x501, out, 0, 1);
    expect(out[0]).toBe(4);
    cache.speculativeFill(0x600);
    cache.snoopWrite(0x600, bytes(8));
    expect(cache.isCached(0x600)).toBe(false);
    cache.evict(0x500);
    expect(mem.read(0x500, 1)[0]).toBe(3);
    cache.evict(0x500);
    cache.write(0x700, bytes(6));
    cache.cleanInvalidate(0x700, 1);
    expect(mem.read(0x700, 1)[0]).toBe(6);
    expect(cache.isCached(0x700)).toBe(false);
    cache.clean(0, 0);
    cache.invalidate(0, 0);
    cache.cleanInvalidate(0, 0);
    expect(cache.presentLines()).toEqual([]);
  });
});

describe('page tables and the CPU', () => {
  it('translates the linear map, faults elsewhere with address and access', () => {
    const p = createPlatform(X86_64, { seed: '1' });
    const va = p.pt.linearAddress(0x20_0000) as number;
    p.cpu.write(va, bytes(1, 2, 3));
    expect(p.cpu.read(va, 3)).toEqual(bytes(1, 2, 3));
    expect(p.pt.isLinearAddr(va)).toBe(true);
    const bad = 2 ** 45 + 0x40;
    let fault: unknown;
    try {
      p.cpu.read(bad, 4, 'backend:test');
    } catch (e) {
      fault = e;
    }
    expect(fault).toBeInstanceOf(PageFault);
    expect((fault as PageFault).message).toContain('[vaddr=0x200000000040] [access=read] [by=backend:test]');
    expect(() => p.cpu.write(bad, bytes(1))).toThrow(/access=write/);
    expect(p.pt.linearAddress(0x20)).toBeNull();
  });
  it('maps vmalloc pages with attributes; uncached bypasses the cache, write-combine waits for dma_wmb', () => {
    const p = createPlatform(ARM64_SOC, { seed: '1' });
    const va = p.profile.va.vmallocStart;
    p.pt.map(va, pfn(0x80000), 'uncached');
    p.pt.map(va + 4096, pfn(0x80001), 'write-combine');
    p.cpu.write(va, bytes(1, 2));
    expect(p.mem.read(0x8000_0000, 2)).toEqual(bytes(1, 2));
    expect(p.cache.isCached(0x8000_0000)).toBe(false);
    p.cpu.write(va + 4096, bytes(3, 4));
    expect(p.cpu.wc.pending).toBe(1);
    expect(p.cpu.read(va + 4096, 2)).toEqual(bytes(3, 4)); // the CPU sees its own buffered stores
    expect(p.mem.read(0x8000_1000, 2)).not.toEqual(bytes(3, 4));
    p.cpu.dmaWmb();
    expect(p.mem.read(0x8000_1000, 2)).toEqual(bytes(3, 4));
    p.pt.map(va + 4096, pfn(0x80002), 'cacheable');
    p.pt.unmap(va + 4096);
    p.pt.unmap(va + 4096);
    expect(() => p.cpu.read(va + 4096, 1)).toThrow(PageFault);
  });
  it('drains the write-combine buffer when full and on a drain event', () => {
    const p = createPlatform(ARM64_SOC, { seed: '1' });
    const va = p.profile.va.vmallocStart;
    p.pt.map(va, pfn(0x80000), 'write-combine');
    for (let i = 0; i < 20; i++) p.cpu.write(va + i, bytes(i + 1));
    expect(p.cpu.wc.pending).toBe(16);
    expect(p.mem.read(0x8000_0000, 1)[0]).toBe(1);
    p.wcDrain();
    expect(p.cpu.wc.pending).toBe(0);
    p.cpu.memset(va, 0, 8);
    p.cpu.dmaWmb();
    expect(p.mem.read(0x8000_0000, 8)).toEqual(new Uint8Array(8));
  });
  it('gives highmem pages no linear address, only a temporary kmap, and limits speculation to cacheable views', () => {
    const p = createPlatform(ARMV7_HIGHMEM, { seed: '1' });
    const high = 0xb000_0000;
    expect(p.pt.linearAddress(high)).toBeNull();
    expect(p.speculativeFill(high)).toBe(false);
    const va = p.pt.kmapLocal(pfn(high / 4096));
    expect(va).not.toBeNull();
    expect(p.pt.kmapsInUse).toBe(1);
    expect(p.speculativeFill(high)).toBe(true);
    p.cpu.write(va as number, bytes(42));
    p.pt.kunmapLocal(va as never);
    p.pt.kunmapLocal(va as never);
    expect(p.pt.kmapsInUse).toBe(0);
    expect(() => p.cpu.read(va as number, 1)).toThrow(PageFault);
    p.evict(high);
    expect(p.mem.read(high, 1)[0]).toBe(42);
    for (let i = 0; i < p.profile.va.kmapSlots; i++) p.pt.kmapLocal(pfn(high / 4096 + i));
    expect(p.pt.kmapLocal(pfn(high / 4096))).toBeNull();
  });
  it('shows noMMU RAM again uncached at the alias offset', () => {
    const p = createPlatform(ARMV7_NOMMU, { seed: '1' });
    const phys = 0x6000_1000;
    expect(p.pt.linearAddress(phys)).toBe(phys);
    const alias = p.pt.uncachedAlias(phys) as number;
    expect(alias).toBe(phys + 0x1000_0000);
    p.cpu.write(phys, bytes(1)); // cached, dirty
    expect(p.cpu.read(alias, 1)[0]).not.toBe(1); // the uncached view reads RAM
    p.cpu.write(alias, bytes(2));
    expect(p.mem.read(phys, 1)[0]).toBe(2);
    expect(p.pt.translate(alias, 'read', 't').attr).toBe('uncached');
    expect(p.pt.isVmallocAddr(phys)).toBe(false);
    expect(createPlatform(X86_64, { seed: '1' }).pt.uncachedAlias(phys)).toBeNull();
  });
});

describe('devices', () => {
  it('a coherent device snoops dirty lines; a non-coherent device sees RAM only', () => {
    const x = createPlatform(X86_64, { seed: '1' });
    const va = x.pt.linearAddress(0x20_0000) as number;
    x.cpu.write(va, bytes(5, 6));
    expect(x.device('nvme0').read(0x20_0000, 2)).toEqual(bytes(5, 6));
    x.device('nvme0').write(0x20_0000, bytes(7));
    expect(x.cpu.read(va, 2)).toEqual(bytes(7, 6));
    const a = createPlatform(ARM64_SOC, { seed: '1' });
    const lin = a.pt.linearAddress(0x9000_0000) as number;
    a.cpu.write(lin, bytes(5, 6));
    expect(a.device('gpu0').read(0x9000_0000, 2)).not.toEqual(bytes(5, 6));
  });
  it('applies dma-ranges both ways and faults outside every window or beyond the bus limit', () => {
    const a = createPlatform(ARM64_SOC, { seed: '1' });
    const vpu = a.device('vpu0');
    vpu.write(0x10_0000, bytes(9));
    expect(a.mem.read(0x8010_0000, 1)[0]).toBe(9);
    expect(vpu.read(0x10_0000, 1)[0]).toBe(9);
    expect(() => vpu.read(0x8000_0000, 4)).toThrow(/outside every dma-ranges window/);
    expect(() => a.device('gpu0').read(0x1000, 4)).toThrow(/not RAM/);
    expect(() => a.device('nope')).toThrow(/accepted are vpu0, gpu0, pcie0/);
    const limited = createPlatform(
      { ...X86_64, devices: [{ ...(X86_64.devices[0] as DeviceConfig), name: 'bridge0', busDmaLimit: 0xffff_ffff }] },
      { seed: '1' },
    );
    expect(() => limited.device('bridge0').read(0x1_0000_0000, 4)).toThrow(DeviceFault);
  });
  it('drops address bits the engine does not drive (a 32-bit device given a high address writes low memory)', () => {
    const x = createPlatform(X86_64, { seed: '1' });
    x.device('nic0').write(0x1_0020_0000, bytes(0x77));
    expect(x.mem.read(0x20_0000, 1)[0]).toBe(0x77);
  });
});

describe('user mappings', () => {
  it('reads through the pages and attribute remap_pfn_range installed, and faults elsewhere', () => {
    const p = createPlatform(X86_64, { seed: '1' });
    const vma = p.user.createVma(2, 0);
    expect(p.user.remapPfnRange(vma, 0, pfn(0x200), 3, 'cacheable')).toBe(-22);
    expect(p.user.remapPfnRange(vma, 0, pfn(0x200), 1, 'uncached')).toBe(0);
    p.mem.write(0x20_0010, bytes(4));
    expect(p.user.read(vma, 0x10, 1)[0]).toBe(4);
    expect(p.user.populated(vma)).toBe(1);
    expect(() => p.user.read(vma, 4096, 1)).toThrow(UserFault);
    expect(() => p.user.read(vma, 8192, 1)).toThrow(/SIGBUS/);
    p.user.remapPfnRange(vma, 0, pfn(0x200), 1, 'cacheable');
    p.cpu.write(p.pt.linearAddress(0x20_0010) as number, bytes(8));
    expect(p.user.read(vma, 0x10, 1)[0]).toBe(8);
  });
});

describe('execution context and faults', () => {
  it('records sleeping in atomic context only', () => {
    const log = new ViolationLog();
    const ctx = new ExecutionContext(log);
    ctx.mightSleep('vmap');
    expect(log.count).toBe(0);
    ctx.current = 'atomic';
    ctx.mightSleep('vmap');
    expect(log.all[0]?.message).toBe('BUG: sleeping function called from invalid context [what=vmap] [context=atomic]');
  });
  it('validates fault knobs and fails allocations at the configured rate and order', () => {
    expect(validateFaults({ ...DEFAULT_FAULTS, pageAllocFailRate: 2, pageAllocFailMinOrder: -1, fragmentation: 0 })).toEqual([
      'faults.pageAllocFailRate=2: accepted is a probability in [0, 1]',
      'faults.pageAllocFailMinOrder=-1: accepted is a whole number ≥ 0',
    ]);
    const f = new FaultInjector({ ...DEFAULT_FAULTS, pageAllocFailRate: 1, pageAllocFailMinOrder: 2, fragmentation: 0 }, new Prng('f'));
    expect(f.failPageAlloc(1)).toBe(false);
    expect(f.failPageAlloc(2)).toBe(true);
    expect(() => createPlatform(X86_64, { seed: '1', faults: { fragmentation: -1 } })).toThrow(ProfileError);
  });
});

describe('profiles', () => {
  it('every built-in profile is valid', () => {
    for (const p of Object.values(PROFILES)) expect(validateProfile(p), p.name).toEqual([]);
    expect(getProfile('x86-64')).toBe(X86_64);
    expect(() => getProfile('sparc')).toThrow("unknown profile 'sparc': accepted are x86-64, arm64-soc, arm64-smmu, armv7-highmem, armv7-iommu, armv7-nommu, cc-guest");
  });
  it('refuses IOMMUs it does not model, naming the knob', () => {
    const iommu = { granuleBytes: 8192, apertureBits: 48, strict: false, flushQueueSize: 16 };
    const errs = validateProfile({ ...X86_64, devices: [{ ...(X86_64.devices[0] as DeviceConfig), iommu, trusted: false }] });
    expect(errs.join('\n')).toMatch(/iommu\.granuleBytes=8192: accepted are 4096 and 65536/);
    expect(errs.join('\n')).toMatch(/iommu is modelled on arch=arm64 \(dma-iommu\) and arch=arm/);
    expect(validateProfile({ ...X86_64, devices: [{ ...(X86_64.devices[0] as DeviceConfig), trusted: false }] }).join('\n')).toMatch(/trusted=false is modelled behind an IOMMU only/);
  });
  it('names the conflicting knobs', () => {
    const errs = validateProfile({
      ...X86_64,
      devices: [{ ...(X86_64.devices[0] as DeviceConfig), coherent: false, minAlignMask: 0x1000 }],
      dma: { ...X86_64.dma, directRemap: true },
    });
    expect(errs).toContain('devices[0] (nvme0): coherent=false conflicts with dma.archSync=none (this arch has no cache maintenance hooks)');
    expect(errs).toContain('devices[0] (nvme0): minAlignMask=0x1000 must be 2^n - 1');
    expect(errs).toContain('dma.archSync=none (all devices coherent) conflicts with a non-coherent allocator option');
    const nommu = validateProfile({ ...ARMV7_NOMMU, dma: { ...ARMV7_NOMMU.dma, directRemap: true, archHasDmaAlloc: true } });
    expect(nommu).toContain('mmu=false conflicts with dma.directRemap=true (vmap needs an MMU)');
    expect(nommu).toContain('dma.archHasDmaAlloc and dma.globalPool are exclusive (one non-coherent allocator)');
    const bad = validateProfile({
      ...ARMV7_HIGHMEM,
      wordBits: 64,
      zones: { dmaEndPhys: 0x10, dma32: false },
      cache: { lineSizeBytes: 96, partialLinePolicy: 'discard' },
      archDmaMinalignBytes: 32,
      kmallocMinAlignBytes: 4,
      ram: [{ startPhys: physAddr(0x8000_0000), sizeBytes: 100 }],
      devices: [],
    });
    expect(bad.join('\n')).toMatch(/ram\[0\]: .* must be whole pages/);
    expect(bad).toContain('devices: at least one device is needed');
    expect(bad).toContain('cache.lineSizeBytes=96: accepted is a power of two in 16..256');
    expect(bad).toContain('kmallocMinAlignBytes=4: accepted is a power of two ≥ 8');
    expect(bad.join('\n')).toMatch(/zones.dmaEndPhys=0x10/);
    const e = (() => {
      try {
        createPlatform({ ...X86_64, devices: [X86_64.devices[0] as DeviceConfig, X86_64.devices[0] as DeviceConfig] }, { seed: '1' });
      } catch (err) {
        return err as ProfileError;
      }
      return null;
    })();
    expect(e?.errors).toEqual(['devices[1] (nvme0): duplicate name']);
  });
});

describe('LineTable (the cache index)', () => {
  it('agrees with a Map over random inserts, lookups and deletes, across growth and wrap-around', async () => {
    const { LineTable } = await import('./line-table.ts');
    const { Prng } = await import('./prng.ts');
    const r = new Prng('line-table');
    const t = new LineTable(4);
    const m = new Map<number, number>();
    for (let i = 0; i < 20000; i++) {
      const line = r.below(3) === 0 ? 2 ** 40 + r.below(64) : r.below(512);
      const op = r.below(3);
      if (op === 0) {
        t.set(line, i);
        m.set(line, i);
      } else if (op === 1) expect(t.delete(line)).toBe(m.delete(line));
      expect(t.get(line)).toBe(m.get(line) ?? -1);
      expect(t.size).toBe(m.size);
    }
    expect(t.lines().sort((a, b) => a - b)).toEqual([...m.keys()].sort((a, b) => a - b));
    t.clear();
    expect([t.size, t.get(3)]).toEqual([0, -1]);
  });
});

describe('cache digest', () => {
  it('is equal for equal contents whatever the order, and tells dirty from clean and present from absent', () => {
    const mk = () => createPlatform(getProfile('arm64-soc'), { seed: 'digest' });
    const a = mk();
    const b = mk();
    const base = 0x9000_0000;
    a.cache.write(base, new Uint8Array(8).fill(1));
    a.cache.readInto(base + 4096, new Uint8Array(64), 0, 64);
    b.cache.readInto(base + 4096, new Uint8Array(64), 0, 64);
    b.cache.write(base, new Uint8Array(8).fill(1));
    expect(a.cache.digest()).toBe(b.cache.digest());
    b.cache.clean(base, 64);
    expect(b.cache.digest()).not.toBe(a.cache.digest());
    a.cache.clean(base, 64);
    expect(a.cache.digest()).toBe(b.cache.digest());
    a.cache.invalidate(base + 4096, 64);
    expect(a.cache.digest()).not.toBe(b.cache.digest());
    b.cache.invalidate(base + 4096, 64);
    expect(a.cache.digest()).toBe(b.cache.digest());
  });
});
