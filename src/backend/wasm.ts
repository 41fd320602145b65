/**
 * Not a kernel mirror: backends compiled to WebAssembly (the ABI of
 * `include/dmacheck.h`, version 1). A DMA layer written in C, Rust or
 * anything else that targets wasm32 exports the `dma_*` entry points with
 * kernel-like signatures and imports the platform's and substrate's
 * services from the module `env`; this file checks such a module when it is
 * loaded (required exports present, each with the signature of the ABI),
 * reads its declared capabilities, and on every machine instantiates it
 * afresh and presents it as a {@link DmaBackend} like any other, so the box
 * of `guard.ts` and the worker pool treat it the same: a trap is an oops at
 * the step, a loop is a hang.
 *
 * 64-bit values (sizes, addresses, pfns) cross as BigInt; the all-ones
 * address is `DMA_MAPPING_ERROR`.
 */
/// <reference path="./webassembly.d.ts" />
import { readFileSync } from 'node:fs';
import type { PageAttr } from '../platform/pgtable.ts';
import { kernelCmdline } from '../platform/profiles.ts';
import { type CpuAddr, type DmaAddr, type Pfn, PAGE_SIZE, pfn } from '../platform/types.ts';
import type { VmArea } from '../platform/user.ts';
import type { GenPool } from '../linux/lib/genalloc.ts';
import type { DmaAllocation } from '../linux/include/linux/dma-map-ops.ts';
import { DMA_MAPPING_ERROR, SIZE_MAX } from '../linux/include/linux/dma-mapping.ts';
import type { Gfp } from '../linux/include/linux/gfp.ts';
import { type Scatterlist, type SgTable, sgEntry, sgTable } from '../linux/include/linux/scatterlist.ts';
import { BACKEND_CALLS, type BackendCall, type BackendCapabilities, type BackendEnv, type BackendFactory, type DmaBackend } from './backend.ts';

/** The ABI version this host speaks. */
export const WASM_ABI_VERSION = 1;

/** A wasm value type as the binary encodes it. */
type ValType = 'i32' | 'i64' | 'f32' | 'f64';

/** A function signature, `(i32,i64)->i64`. */
export interface Signature {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

const sig = (p: string, r: string): Signature => ({ params: p === '' ? [] : (p.split(',') as ValType[]), results: r === '' ? [] : [r as ValType] });
const fmt = (s: Signature) => `(${s.params.join(',')})->${s.results.length === 0 ? 'void' : s.results.join(',')}`;

/** The exports every module has. */
const BASE_EXPORTS: Readonly<Record<string, Signature>> = {
  dmacheck_abi_version: sig('', 'i32'),
  dmacheck_capabilities: sig('', 'i32'),
  dmacheck_scratch: sig('i32', 'i32'),
};

/** The export(s) behind each seam call, with their ABI signatures. */
const CALL_EXPORTS: Readonly<Partial<Record<BackendCall, Readonly<Record<string, Signature>>>>> = {
  attachDevice: { dma_attach: sig('i32', 'i32') },
  setMask: { dma_set_mask: sig('i32,i32', 'i32') },
  setCoherentMask: { dma_set_coherent_mask: sig('i32,i32', 'i32') },
  setMaskAndCoherent: { dma_set_mask_and_coherent: sig('i32,i32', 'i32') },
  allocAttrs: { dma_alloc_attrs: sig('i32,i64,i32,i32,i32', 'i64') },
  freeAttrs: { dma_free_attrs: sig('i32,i64,i64,i64,i32', '') },
  mmapAttrs: { dma_mmap_attrs: sig('i32,i32,i64,i64,i64,i32', 'i32') },
  getSgtableAttrs: { dma_get_sgtable_attrs: sig('i32,i32,i32,i64,i64,i64,i32', 'i32') },
  mapPage: { dma_map_page_attrs: sig('i32,i64,i64,i64,i32,i32', 'i64') },
  unmapPage: { dma_unmap_page_attrs: sig('i32,i64,i64,i32,i32', '') },
  mapSingle: { dma_map_single_attrs: sig('i32,i64,i64,i32,i32', 'i64') },
  unmapSingle: { dma_unmap_single_attrs: sig('i32,i64,i64,i32,i32', '') },
  mapSg: { dma_map_sg_attrs: sig('i32,i32,i32,i32,i32', 'i32') },
  unmapSg: { dma_unmap_sg_attrs: sig('i32,i32,i32,i32,i32', '') },
  syncSingleForCpu: { dma_sync_single_for_cpu: sig('i32,i64,i64,i32', '') },
  syncSingleForDevice: { dma_sync_single_for_device: sig('i32,i64,i64,i32', '') },
  syncSgForCpu: { dma_sync_sg_for_cpu: sig('i32,i32,i32,i32', '') },
  syncSgForDevice: { dma_sync_sg_for_device: sig('i32,i32,i32,i32', '') },
  mappingError: { dma_mapping_error: sig('i32,i64', 'i32') },
  maxMappingSize: { dma_max_mapping_size: sig('i32', 'i64') },
  getCacheAlignment: { dma_get_cache_alignment: sig('i32', 'i32') },
  needSync: { dma_need_sync: sig('i32,i64', 'i32') },
  canMmap: { dma_can_mmap: sig('i32', 'i32') },
  allocPages: { dma_alloc_pages: sig('i32,i64,i32,i32,i32', 'i64') },
  freePages: { dma_free_pages: sig('i32,i64,i64,i64,i32', '') },
  mmapPages: { dma_mmap_pages: sig('i32,i32,i64,i64', 'i32') },
  allocNoncoherent: { dma_alloc_noncoherent: sig('i32,i64,i32,i32,i32', 'i64') },
  freeNoncoherent: { dma_free_noncoherent: sig('i32,i64,i64,i64,i32', '') },
  mapResource: { dma_map_resource: sig('i32,i64,i64,i32,i32', 'i64') },
  unmapResource: { dma_unmap_resource: sig('i32,i64,i64,i32,i32', '') },
  getRequiredMask: { dma_get_required_mask: sig('i32', 'i64') },
  addressingLimited: { dma_addressing_limited: sig('i32', 'i32') },
  optMappingSize: { dma_opt_mapping_size: sig('i32', 'i64') },
  needUnmap: { dma_need_unmap: sig('i32', 'i32') },
  getMergeBoundary: { dma_get_merge_boundary: sig('i32', 'i64') },
};

/** A module that cannot be a backend: one line naming what is wrong. */
export class WasmBackendError extends Error {}

/**
 * The exported functions of a wasm binary with their signatures, read from
 * its type, import, function and export sections (Node 20 has no type
 * reflection for wasm functions).
 * @throws WasmBackendError when the binary is malformed
 */
export function exportSignatures(bytes: Uint8Array): Map<string, Signature> {
  let at = 0;
  const fail = (why: string): never => {
    throw new WasmBackendError(`not a wasm module: ${why} at byte ${at}`);
  };
  const byte = () => (at < bytes.length ? (bytes[at++] as number) : fail('unexpected end'));
  const uleb = () => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const b = byte();
      r += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return r;
      shift += 7;
      if (shift > 35) fail('bad LEB128');
    }
  };
  const name = () => {
    const n = uleb();
    const s = new TextDecoder().decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const valtype = (): ValType => {
    const t = byte();
    const v = ({ 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' } as Record<number, ValType>)[t];
    return v ?? fail(`unsupported value type 0x${t.toString(16)}`);
  };
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) fail('bad magic');
  at = 8;
  const types: Signature[] = [];
  const funcTypes: number[] = [];
  const exports = new Map<string, Signature>();
  while (at < bytes.length) {
    const id = byte();
    const size = uleb();
    const end = at + size;
    if (id === 1) {
      const n = uleb();
      for (let i = 0; i < n; i++) {
        if (byte() !== 0x60) fail('bad function type');
        const params = Array.from({ length: uleb() }, valtype);
        const results = Array.from({ length: uleb() }, valtype);
        types.push({ params, results });
      }
    } else if (id === 2) {
      const n = uleb();
      for (let i = 0; i < n; i++) {
        name();
        name();
        const kind = byte();
        if (kind === 0) funcTypes.push(uleb());
        else if (kind === 1) {
          byte();
          const flags = uleb();
          uleb();
          if (flags & 1) uleb();
        } else if (kind === 2) {
          const flags = uleb();
          uleb();
          if (flags & 1) uleb();
        } else if (kind === 3) {
          byte();
          byte();
        } else fail(`bad import kind ${kind}`);
      }
    } else if (id === 3) {
      const n = uleb();
      for (let i = 0; i < n; i++) funcTypes.push(uleb());
    } else if (id === 7) {
      const n = uleb();
      for (let i = 0; i < n; i++) {
        const nm = name();
        const kind = byte();
        const index = uleb();
        if (kind === 0) {
          const t = types[funcTypes[index] ?? -1];
          if (t !== undefined) exports.set(nm, t);
        }
      }
    }
    at = end;
  }
  return exports;
}

/**
 * Check the exports a module needs for `calls`.
 * @returns one line naming the first missing export or wrong signature, or null
 */
export function exportProblem(sigs: ReadonlyMap<string, Signature>, calls: readonly BackendCall[] | 'base'): string | null {
  const need: [string, Signature][] = Object.entries(BASE_EXPORTS);
  // The harness always attaches devices and sets their masks (DmaBackend's capabilities).
  if (calls !== 'base') for (const c of new Set<BackendCall>(['attachDevice', 'setMaskAndCoherent', ...calls])) need.push(...Object.entries(CALL_EXPORTS[c] ?? {}));
  for (const [n, want] of need) {
    const got = sigs.get(n);
    if (got === undefined) return `the module does not export ${n}${fmt(want)}`;
    if (fmt(got) !== fmt(want)) return `export ${n} has signature ${fmt(got)}, the ABI says ${fmt(want)} (include/dmacheck.h)`;
  }
  return null;
}

const U64_MAX = 2n ** 64n - 1n;
/** A u64 result: wasm hands i64 results to JS as signed BigInts, so ~0 arrives as -1n. */
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const num = (v: bigint): number => (u64(v) === U64_MAX ? (DMA_MAPPING_ERROR as number) : Number(u64(v)));
const big = (v: number): bigint => (v === (DMA_MAPPING_ERROR as number) ? U64_MAX : BigInt(v));
const PROTS: readonly PageAttr[] = ['cacheable', 'write-combine', 'uncached'];

type Exports = Record<string, (...args: (number | bigint)[]) => number | bigint> & { memory: WebAssembly.Memory };

/** Read the NUL-terminated string at `ptr`. */
function cString(mem: WebAssembly.Memory, ptr: number): string {
  const b = new Uint8Array(mem.buffer);
  let end = ptr;
  while (end < b.length && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(ptr, end));
}

/** The imports of a machine: the platform's and substrate's services. */
function importsFor(env: BackendEnv | null, mem: () => WebAssembly.Memory, vmas: Map<number, VmArea>): WebAssembly.Imports {
  const need = (): BackendEnv => {
    if (env === null) throw new Error('a platform service was called while the module declared its capabilities');
    return env;
  };
  const bytes = (ptr: number, len: number) => new Uint8Array(mem().buffer, ptr, len);
  const pools: GenPool[] = [];
  const pool = (id: number): GenPool => {
    const g = pools[id];
    if (g === undefined) throw new Error(`no gen_pool ${id} [pools=${pools.length}]`);
    return g;
  };
  const view = () => new DataView(mem().buffer);
  const devCfg = (dev: number) => {
    const d = need().platform.devices[dev];
    if (d === undefined) throw new Error(`no device ${dev}`);
    return d.config;
  };
  const fns: Record<string, (...a: never[]) => unknown> = {
    cpu_read: (kva: bigint, dst: number, len: number) => bytes(dst, len).set(need().platform.cpu.read(Number(kva), len, 'wasm backend')),
    cpu_write: (kva: bigint, src: number, len: number) => need().platform.cpu.write(Number(kva), bytes(src, len).slice(), 'wasm backend'),
    cpu_memset: (kva: bigint, value: number, len: bigint) => need().platform.cpu.memset(Number(kva), value & 0xff, Number(len), 'wasm backend'),
    cpu_memcpy: (dst: bigint, src: bigint, len: bigint) => {
      const cpu = need().platform.cpu;
      cpu.write(Number(dst), cpu.read(Number(src), Number(len), 'wasm backend'), 'wasm backend');
    },
    cache_clean: (phys: bigint, len: bigint) => need().platform.cache.clean(Number(phys), Number(len)),
    cache_invalidate: (phys: bigint, len: bigint) => need().platform.cache.invalidate(Number(phys), Number(len)),
    cache_clean_invalidate: (phys: bigint, len: bigint) => need().platform.cache.cleanInvalidate(Number(phys), Number(len)),
    dma_wmb: () => need().platform.cpu.dmaWmb(),
    alloc_pages: (gfp: number, order: number) => BigInt(need().mm.pages.allocPages(gfp as Gfp, order) ?? -1),
    free_pages: (p: bigint, order: number) => void need().mm.pages.freePages(pfn(Number(p)), order),
    page_address: (p: bigint) => BigInt(need().mm.pages.pageAddress(pfn(Number(p))) ?? 0),
    virt_to_phys: (kva: bigint) => {
      try {
        return BigInt(need().platform.pt.translate(Number(kva), 'read', 'wasm backend').phys);
      } catch {
        return U64_MAX;
      }
    },
    virt_addr_valid: (kva: bigint) => (need().platform.pt.isLinearAddr(Number(kva)) ? 1 : 0),
    cma_alloc: (dev: number, count: bigint, align: number, noWarn: number) => {
      const e = need();
      const name = e.platform.devices[dev]?.name;
      const cma = e.mm.cma.areas.find((a) => a.config.kind === 'device' && a.config.device === name) ?? e.mm.cma.defaultArea;
      if (cma === null || cma === undefined) return -1n;
      return BigInt(e.mm.cma.alloc(cma, Number(count), align, noWarn !== 0) ?? -1);
    },
    cma_release: (dev: number, p: bigint, count: bigint) => {
      const e = need();
      const name = e.platform.devices[dev]?.name;
      const cma = e.mm.cma.areas.find((a) => a.config.kind === 'device' && a.config.device === name && a.contains(pfn(Number(p)))) ?? e.mm.cma.areas.find((a) => a.contains(pfn(Number(p))));
      return cma !== undefined && e.mm.cma.release(cma, Number(p), Number(count)) ? 1 : 0;
    },
    vmap: (pfns: number, count: number, prot: number) => {
      const v = view();
      const list = Array.from({ length: count }, (_, i) => pfn(Number(v.getBigUint64(pfns + 8 * i, true))));
      return BigInt(need().mm.vmalloc.vmap(list, PROTS[prot] ?? 'cacheable') ?? 0);
    },
    vunmap: (kva: bigint) => void need().mm.vmalloc.vunmap(Number(kva) as CpuAddr),
    kmap_local: (p: bigint) => BigInt(need().platform.pt.kmapLocal(pfn(Number(p))) ?? 0),
    kunmap_local: (kva: bigint) => need().platform.pt.kunmapLocal(Number(kva) as CpuAddr),
    set_memory_decrypted: (kva: bigint, n: number) => need().mm.setMemoryDecrypted(Number(kva), n),
    set_memory_encrypted: (kva: bigint, n: number) => need().mm.setMemoryEncrypted(Number(kva), n),
    remap_pfn_range: (vma: number, pgoff: number, p: bigint, n: number, prot: number) => {
      const v = vmas.get(vma);
      return v === undefined ? -22 : need().platform.user.remapPfnRange(v, pgoff, pfn(Number(p)), n, PROTS[prot] ?? 'cacheable');
    },
    vma_pages: (vma: number) => vmas.get(vma)?.nrPages ?? 0,
    vma_pgoff: (vma: number) => vmas.get(vma)?.pgoff ?? 0,
    gen_pool_create: (order: number, name: number, len: number) => {
      const label = new TextDecoder().decode(bytes(name, len)) || `wasm_pool${pools.length}`;
      pools.push(need().mm.genPoolCreate(order, label));
      return pools.length - 1;
    },
    gen_pool_set_algo: (id: number, algo: number) => pool(id).setAlgo(algo === 1 ? 'first-fit-order-align' : 'first-fit'),
    gen_pool_add_virt: (id: number, addr: bigint, phys: bigint, size: bigint) => {
      const r = pool(id).addVirt(Number(addr), Number(phys), Number(size));
      // Pools never shrink: pages handed to one are kept for good, as the reference's atomic pools keep theirs.
      if (r === 0) need().mm.pages.markPersistent(pfn(Math.floor(Number(phys) / PAGE_SIZE)));
      return r;
    },
    gen_pool_alloc: (id: number, size: bigint) => BigInt(pool(id).alloc(Number(size))),
    gen_pool_free: (id: number, addr: bigint, size: bigint) => {
      const why = pool(id).free(Number(addr), Number(size));
      if (why !== null) throw new Error(`kernel BUG: ${why}`);
    },
    gen_pool_virt_to_phys: (id: number, addr: bigint) => {
      const phys = pool(id).virtToPhys(Number(addr));
      return phys < 0 ? U64_MAX : BigInt(phys);
    },
    gen_pool_has_addr: (id: number, addr: bigint, size: bigint) => (pool(id).hasAddr(Number(addr), Number(size)) ? 1 : 0),
    gen_pool_size: (id: number) => BigInt(pool(id).sizeBytes),
    gen_pool_avail: (id: number) => BigInt(pool(id).availBytes),
    might_sleep: () => need().platform.context.mightSleep('wasm backend: might_sleep()'),
    printk: (level: number, msg: number, len: number) => {
      const text = new TextDecoder().decode(bytes(msg, len));
      const d = need().mm.dmesg;
      if (level === 0) d.err(text);
      else if (level === 1) d.warn(text);
      else d.info(text);
    },
    dev_info: (dev: number, out: number) => {
      const c = devCfg(dev);
      const v = view();
      const ranges = c.dmaRanges ?? [];
      v.setUint32(out, c.coherent ? 1 : 0, true);
      v.setUint32(out + 4, c.addressBits, true);
      v.setBigUint64(out + 8, BigInt(c.busDmaLimit), true);
      v.setUint32(out + 16, c.minAlignMask, true);
      v.setUint32(out + 20, Math.min(c.maxSegmentSize, 0xffffffff), true);
      v.setBigUint64(out + 24, BigInt(Math.min(c.segmentBoundaryMask, Number.MAX_SAFE_INTEGER)), true);
      v.setUint32(out + 32, Math.min(ranges.length, 4), true);
      v.setUint32(out + 36, 0, true);
      ranges.slice(0, 4).forEach((r, i) => {
        v.setBigUint64(out + 40 + 24 * i, BigInt(r.cpuStartPhys), true);
        v.setBigUint64(out + 48 + 24 * i, BigInt(r.dmaStart), true);
        v.setBigUint64(out + 56 + 24 * i, BigInt(r.sizeBytes), true);
      });
      v.setBigUint64(out + 136, BigInt(c.restrictedDmaPool?.basePhys ?? 0), true);
      v.setBigUint64(out + 144, BigInt(c.restrictedDmaPool?.sizeBytes ?? 0), true);
      v.setBigUint64(out + 152, BigInt(c.coherentPool?.basePhys ?? 0), true);
      v.setBigUint64(out + 160, BigInt(c.coherentPool?.sizeBytes ?? 0), true);
    },
    cmdline: (out: number, len: number) => {
      const text = new TextEncoder().encode(kernelCmdline(need().platform.profile));
      bytes(out, Math.min(len, text.length)).set(text.subarray(0, len));
      return text.length;
    },
    platform_info: (out: number) => {
      const p = need().platform.profile;
      const v = view();
      v.setUint32(out, p.arch === 'x86-64' ? 0 : p.arch === 'arm64' ? 1 : 2, true);
      v.setUint32(out + 4, p.cache.lineSizeBytes, true);
      v.setUint32(out + 8, p.archDmaMinalignBytes ?? 0, true);
      v.setUint32(out + 12, p.memEncrypt ? 1 : 0, true);
      v.setBigUint64(out + 16, BigInt(p.zones.dmaEndPhys ?? 0), true);
      v.setUint32(out + 24, p.zones.dma32 ? 1 : 0, true);
      v.setUint32(out + 28, p.devices.length, true);
      v.setBigUint64(out + 32, BigInt(p.ram.reduce((m, b) => Math.max(m, b.startPhys + b.sizeBytes), 0)), true);
      v.setBigUint64(out + 40, BigInt(p.ram.reduce((m, b) => Math.min(m, b.startPhys), Infinity)), true);
    },
  };
  return { env: fns as unknown as WebAssembly.ModuleImports };
}

/** The module's instance for one machine, seen through the seam. */
class WasmBackend implements DmaBackend {
  private readonly x: Exports;
  private readonly vmas = new Map<number, VmArea>();
  private readonly devIndex = new Map<string, number>();

  constructor(
    module: WebAssembly.Module,
    readonly name: string,
    readonly capabilities: BackendCapabilities,
    env: BackendEnv,
  ) {
    let memory: WebAssembly.Memory | null = null;
    const instance = new WebAssembly.Instance(module, importsFor(env, () => memory as WebAssembly.Memory, this.vmas));
    this.x = instance.exports as unknown as Exports;
    memory = this.x.memory;
    env.platform.devices.forEach((d, i) => this.devIndex.set(d.name, i));
  }

  private dev(name: string): number {
    const i = this.devIndex.get(name);
    if (i === undefined) throw new Error(`no device ${name}`);
    return i;
  }

  private scratch(bytes: number): number {
    return this.x.dmacheck_scratch?.(bytes) as number;
  }

  attachDevice(dev: string): number {
    return this.x.dma_attach?.(this.dev(dev)) as number;
  }
  setMask(dev: string, bits: number): number {
    return this.x.dma_set_mask?.(this.dev(dev), bits) as number;
  }
  setCoherentMask(dev: string, bits: number): number {
    return this.x.dma_set_coherent_mask?.(this.dev(dev), bits) as number;
  }
  setMaskAndCoherent(dev: string, bits: number): number {
    return this.x.dma_set_mask_and_coherent?.(this.dev(dev), bits) as number;
  }
  allocAttrs(dev: string, sizeBytes: number, gfp: Gfp, attrs: number): DmaAllocation {
    const out = this.scratch(8);
    new DataView(this.x.memory.buffer).setBigUint64(out, U64_MAX, true);
    const cpu = this.x.dma_alloc_attrs?.(this.dev(dev), BigInt(sizeBytes), out, gfp, attrs) as bigint;
    const handle = new DataView(this.x.memory.buffer).getBigUint64(out, true);
    return { cpuAddr: cpu === 0n ? null : (Number(u64(cpu)) as CpuAddr), dmaHandle: num(handle) as DmaAddr };
  }
  freeAttrs(dev: string, sizeBytes: number, cpuAddr: CpuAddr | null, dmaHandle: DmaAddr, attrs: number): void {
    this.x.dma_free_attrs?.(this.dev(dev), BigInt(sizeBytes), BigInt(cpuAddr ?? 0), big(dmaHandle), attrs);
  }
  mmapAttrs(dev: string, vma: VmArea, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): number {
    this.vmas.set(vma.id, vma);
    return this.x.dma_mmap_attrs?.(this.dev(dev), vma.id, BigInt(cpuAddr), big(dmaHandle), BigInt(sizeBytes), attrs) as number;
  }
  getSgtableAttrs(dev: string, cpuAddr: CpuAddr, dmaHandle: DmaAddr, sizeBytes: number, attrs: number): { ret: number; sgt: SgTable | null } {
    const max = Math.min(4096, Math.ceil(sizeBytes / PAGE_SIZE) + 1);
    const at = this.scratch(32 * max);
    const n = this.x.dma_get_sgtable_attrs?.(this.dev(dev), at, max, BigInt(cpuAddr), big(dmaHandle), BigInt(sizeBytes), attrs) as number;
    if (n < 0) return { ret: n, sgt: null };
    const v = new DataView(this.x.memory.buffer);
    const ents = Array.from({ length: Math.min(n, max) }, (_, i) => sgEntry(pfn(Number(v.getBigUint64(at + 32 * i, true))), v.getUint32(at + 32 * i + 8, true), v.getUint32(at + 32 * i + 12, true)));
    return { ret: 0, sgt: sgTable(ents) };
  }
  mapPage(dev: string, page: Pfn, offsetBytes: number, sizeBytes: number, dir: number, attrs: number): DmaAddr {
    return num(this.x.dma_map_page_attrs?.(this.dev(dev), BigInt(page), BigInt(offsetBytes), BigInt(sizeBytes), dir, attrs) as bigint) as DmaAddr;
  }
  unmapPage(dev: string, addr: DmaAddr, sizeBytes: number, dir: number, attrs: number): void {
    this.x.dma_unmap_page_attrs?.(this.dev(dev), big(addr), BigInt(sizeBytes), dir, attrs);
  }
  mapSingle(dev: string, cpuAddr: CpuAddr, sizeBytes: number, dir: number, attrs: number): DmaAddr {
    return num(this.x.dma_map_single_attrs?.(this.dev(dev), BigInt(cpuAddr), BigInt(sizeBytes), dir, attrs) as bigint) as DmaAddr;
  }
  unmapSingle(dev: string, addr: DmaAddr, sizeBytes: number, dir: number, attrs: number): void {
    this.x.dma_unmap_single_attrs?.(this.dev(dev), big(addr), BigInt(sizeBytes), dir, attrs);
  }
  /** Lay `sgl` out in the module's memory (struct dmacheck_sg). */
  private putSg(sgl: readonly Scatterlist[], nents: number): number {
    const at = this.scratch(32 * Math.max(1, nents));
    const v = new DataView(this.x.memory.buffer);
    for (let i = 0; i < nents; i++) {
      const sg = sgl[i] as Scatterlist;
      v.setBigUint64(at + 32 * i, BigInt(sg.page), true);
      v.setUint32(at + 32 * i + 8, sg.offset, true);
      v.setUint32(at + 32 * i + 12, sg.length, true);
      v.setBigUint64(at + 32 * i + 16, big(sg.dmaAddress), true);
      v.setUint32(at + 32 * i + 24, sg.dmaLength, true);
    }
    return at;
  }
  mapSg(dev: string, sgl: Scatterlist[], nents: number, dir: number, attrs: number): number {
    const at = this.putSg(sgl, nents);
    const n = this.x.dma_map_sg_attrs?.(this.dev(dev), at, nents, dir, attrs) as number;
    const v = new DataView(this.x.memory.buffer);
    for (let i = 0; i < nents; i++) {
      const sg = sgl[i] as Scatterlist;
      sg.dmaAddress = num(v.getBigUint64(at + 32 * i + 16, true)) as DmaAddr;
      sg.dmaLength = v.getUint32(at + 32 * i + 24, true);
    }
    return n;
  }
  unmapSg(dev: string, sgl: Scatterlist[], nents: number, dir: number, attrs: number): void {
    this.x.dma_unmap_sg_attrs?.(this.dev(dev), this.putSg(sgl, nents), nents, dir, attrs);
  }
  syncSingleForCpu(dev: string, addr: DmaAddr, sizeBytes: number, dir: number): void {
    this.x.dma_sync_single_for_cpu?.(this.dev(dev), big(addr), BigInt(sizeBytes), dir);
  }
  syncSingleForDevice(dev: string, addr: DmaAddr, sizeBytes: number, dir: number): void {
    this.x.dma_sync_single_for_device?.(this.dev(dev), big(addr), BigInt(sizeBytes), dir);
  }
  syncSgForCpu(dev: string, sgl: Scatterlist[], nents: number, dir: number): void {
    this.x.dma_sync_sg_for_cpu?.(this.dev(dev), this.putSg(sgl, nents), nents, dir);
  }
  syncSgForDevice(dev: string, sgl: Scatterlist[], nents: number, dir: number): void {
    this.x.dma_sync_sg_for_device?.(this.dev(dev), this.putSg(sgl, nents), nents, dir);
  }
  mappingError(dev: string, addr: DmaAddr): number {
    return this.x.dma_mapping_error?.(this.dev(dev), big(addr)) as number;
  }
  maxMappingSize(dev: string): number {
    const v = u64(this.x.dma_max_mapping_size?.(this.dev(dev)) as bigint);
    return v >= BigInt(SIZE_MAX) ? SIZE_MAX : Number(v);
  }
  getCacheAlignment(dev: string): number {
    return this.x.dma_get_cache_alignment?.(this.dev(dev)) as number;
  }
  needSync(dev: string, addr: DmaAddr): boolean {
    return (this.x.dma_need_sync?.(this.dev(dev), big(addr)) as number) !== 0;
  }
  canMmap(dev: string): boolean {
    return (this.x.dma_can_mmap?.(this.dev(dev)) as number) !== 0;
  }
  allocPages(dev: string, sizeBytes: number, dir: number, gfp: Gfp): { page: Pfn | null; dmaHandle: DmaAddr } {
    const out = this.scratch(8);
    new DataView(this.x.memory.buffer).setBigUint64(out, U64_MAX, true);
    const p = this.x.dma_alloc_pages?.(this.dev(dev), BigInt(sizeBytes), out, dir, gfp) as bigint;
    if (p < 0n) return { page: null, dmaHandle: DMA_MAPPING_ERROR as DmaAddr };
    return { page: pfn(Number(p)), dmaHandle: num(new DataView(this.x.memory.buffer).getBigUint64(out, true)) as DmaAddr };
  }
  freePages(dev: string, sizeBytes: number, page: Pfn, dmaHandle: DmaAddr, dir: number): void {
    this.x.dma_free_pages?.(this.dev(dev), BigInt(sizeBytes), BigInt(page), big(dmaHandle), dir);
  }
  mmapPages(dev: string, vma: VmArea, sizeBytes: number, page: Pfn): number {
    this.vmas.set(vma.id, vma);
    return this.x.dma_mmap_pages?.(this.dev(dev), vma.id, BigInt(sizeBytes), BigInt(page)) as number;
  }
  allocNoncoherent(dev: string, sizeBytes: number, dir: number, gfp: Gfp): DmaAllocation {
    const out = this.scratch(8);
    new DataView(this.x.memory.buffer).setBigUint64(out, U64_MAX, true);
    const cpu = this.x.dma_alloc_noncoherent?.(this.dev(dev), BigInt(sizeBytes), out, dir, gfp) as bigint;
    const handle = new DataView(this.x.memory.buffer).getBigUint64(out, true);
    return { cpuAddr: cpu === 0n ? null : (Number(u64(cpu)) as CpuAddr), dmaHandle: num(handle) as DmaAddr };
  }
  freeNoncoherent(dev: string, sizeBytes: number, cpuAddr: CpuAddr, dmaHandle: DmaAddr, dir: number): void {
    this.x.dma_free_noncoherent?.(this.dev(dev), BigInt(sizeBytes), BigInt(cpuAddr), big(dmaHandle), dir);
  }
  mapResource(dev: string, physAddr: number, sizeBytes: number, dir: number, attrs: number): DmaAddr {
    return num(this.x.dma_map_resource?.(this.dev(dev), BigInt(physAddr), BigInt(sizeBytes), dir, attrs) as bigint) as DmaAddr;
  }
  unmapResource(dev: string, addr: DmaAddr, sizeBytes: number, dir: number, attrs: number): void {
    this.x.dma_unmap_resource?.(this.dev(dev), big(addr), BigInt(sizeBytes), dir, attrs);
  }
  getRequiredMask(dev: string): number {
    const v = u64(this.x.dma_get_required_mask?.(this.dev(dev)) as bigint);
    return v >= BigInt(SIZE_MAX) ? SIZE_MAX : Number(v);
  }
  addressingLimited(dev: string): boolean {
    return (this.x.dma_addressing_limited?.(this.dev(dev)) as number) !== 0;
  }
  optMappingSize(dev: string): number {
    const v = u64(this.x.dma_opt_mapping_size?.(this.dev(dev)) as bigint);
    return v >= BigInt(SIZE_MAX) ? SIZE_MAX : Number(v);
  }
  needUnmap(dev: string): boolean {
    return (this.x.dma_need_unmap?.(this.dev(dev)) as number) !== 0;
  }
  getMergeBoundary(dev: string): number {
    const v = u64(this.x.dma_get_merge_boundary?.(this.dev(dev)) as bigint);
    return v >= BigInt(SIZE_MAX) ? SIZE_MAX : Number(v);
  }
}

/**
 * Load a wasm backend module: check it, read its capabilities.
 * @throws WasmBackendError with one line when the file is not a module, the ABI version differs, the capabilities are malformed, or an export is missing or has the wrong signature
 */
export function loadWasmBackend(path: string): BackendFactory {
  const bytes = new Uint8Array(readFileSync(path));
  const sigs = exportSignatures(bytes);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (err) {
    throw new WasmBackendError(`not a valid wasm module: ${(err as Error).message.split('\n')[0]}`);
  }
  const base = exportProblem(sigs, 'base');
  if (base !== null) throw new WasmBackendError(base);
  let memory: WebAssembly.Memory | null = null;
  let x: Exports;
  try {
    const instance = new WebAssembly.Instance(module, importsFor(null, () => memory as WebAssembly.Memory, new Map()));
    x = instance.exports as unknown as Exports;
    memory = x.memory;
  } catch (err) {
    throw new WasmBackendError(`the module cannot be instantiated with the ABI's imports: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!(memory instanceof WebAssembly.Memory)) throw new WasmBackendError('the module does not export its memory');
  let version: number;
  let capsText: string;
  try {
    version = x.dmacheck_abi_version?.() as number;
    capsText = cString(memory, x.dmacheck_capabilities?.() as number);
  } catch (err) {
    throw new WasmBackendError(`dmacheck_abi_version or dmacheck_capabilities failed: ${(err as Error).message.split('\n')[0]}`);
  }
  if (version !== WASM_ABI_VERSION) throw new WasmBackendError(`dmacheck_abi_version() is ${version}; this dmacheck speaks version ${WASM_ABI_VERSION}`);
  let caps: { name?: unknown; calls?: unknown; attrs?: unknown; profiles?: unknown; levels?: unknown; kernel?: unknown };
  try {
    caps = JSON.parse(capsText) as typeof caps;
  } catch {
    throw new WasmBackendError(`dmacheck_capabilities() is not JSON: ${JSON.stringify(capsText.slice(0, 60))}`);
  }
  const calls = Array.isArray(caps.calls) ? caps.calls : null;
  const bad = calls?.find((c) => !(BACKEND_CALLS as readonly unknown[]).includes(c));
  if (calls === null || bad !== undefined) throw new WasmBackendError(`dmacheck_capabilities(): calls must list seam calls (${BACKEND_CALLS.join(', ')}); got ${JSON.stringify(bad ?? caps.calls)}`);
  if (typeof caps.attrs !== 'number') throw new WasmBackendError('dmacheck_capabilities(): attrs must be a number');
  const profiles = caps.profiles === 'all' ? 'all' : Array.isArray(caps.profiles) && caps.profiles.every((p) => typeof p === 'string') ? (caps.profiles as string[]) : null;
  if (profiles === null) throw new WasmBackendError('dmacheck_capabilities(): profiles must be "all" or a list of profile names');
  const levels = caps.levels === undefined ? ['contract'] : caps.levels;
  if (!Array.isArray(levels) || !levels.every((l) => l === 'contract' || l === 'linux' || l === 'hardening')) throw new WasmBackendError('dmacheck_capabilities(): levels must list contract, linux, hardening');
  if (caps.kernel !== undefined && !(typeof caps.kernel === 'string' && /^\d+\.\d+/.test(caps.kernel))) throw new WasmBackendError(`dmacheck_capabilities(): kernel must be a release such as "6.1"; got ${JSON.stringify(caps.kernel)}`);
  const outside = (calls as BackendCall[]).find((c) => CALL_EXPORTS[c] === undefined);
  if (outside !== undefined) throw new WasmBackendError(`dmacheck_capabilities(): ${outside} is not in the wasm ABI v${WASM_ABI_VERSION} (include/dmacheck.h); accepted are ${Object.keys(CALL_EXPORTS).join(', ')}`);
  const problem = exportProblem(sigs, calls as BackendCall[]);
  if (problem !== null) throw new WasmBackendError(problem);
  const capabilities: BackendCapabilities = { calls: calls as BackendCall[], attrs: caps.attrs, profiles, levels: levels as ('contract' | 'linux' | 'hardening')[], ...(typeof caps.kernel === 'string' ? { kernel: caps.kernel } : {}) };
  const name = typeof caps.name === 'string' && caps.name !== '' ? caps.name : path.replace(/^.*\//, '').replace(/\.wasm$/, '');
  return { name, capabilities, create: (env) => new WasmBackend(module, name, capabilities, env) };
}
