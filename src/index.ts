/**
 * Not a kernel mirror: the public surface of dmacheck, in one explicit
 * export list (DESIGN.md "Style"). Backends written outside this repository
 * import from here.
 */
export type { Brand, CpuAddr, DmaAddr, PhysAddr, Pfn } from './platform/types.ts';
export { PAGE_SHIFT, PAGE_SIZE, cpuAddr, dmaAddr, getOrder, hex, maskLimit, pageAlign, pfn, pfnToPhys, physAddr, physToPfn } from './platform/types.ts';
export { Prng } from './platform/prng.ts';
export { BusError, PhysicalMemory, type RamBank } from './platform/memory.ts';
export { CpuCache, type PartialLinePolicy } from './platform/cache.ts';
export { KernelPageTables, PageFault, type PageAttr, type VaLayout } from './platform/pgtable.ts';
export { Cpu, WriteCombineBuffer } from './platform/cpu.ts';
export { rangeDmaToPhys, rangePhysToDma, type DmaRange } from './platform/bus.ts';
export { DEVICE_DEFAULTS, DeviceFault, DeviceHw, type DeviceConfig } from './platform/device.ts';
export { UserFault, UserSpace, type VmArea } from './platform/user.ts';
export { ExecutionContext, ViolationLog, type ContextKind, type PlatformViolation } from './platform/context.ts';
export { DEFAULT_FAULTS, type FaultOptions } from './platform/faults.ts';
export {
  ARM64_SOC,
  ARMV7_HIGHMEM,
  ARMV7_NOMMU,
  PROFILES,
  ProfileError,
  X86_64,
  assertValidProfile,
  getProfile,
  validateProfile,
  type ArchDmaConfig,
  type ArchSyncName,
  type PlatformProfile,
} from './platform/profiles.ts';
export { Platform, createPlatform, type PlatformOptions } from './platform/platform.ts';

export { PageAllocator, type PageAllocStats, type ZoneType } from './linux/mm/page_alloc.ts';
export { Kmalloc, KMALLOC_MAX_CACHE_SIZE } from './linux/mm/slab.ts';
export { VmallocSpace, VM_DMA_COHERENT, type VmStruct } from './linux/mm/vmalloc.ts';
export { Substrate, createSubstrate, type SubstrateSnapshot } from './linux/mm/substrate.ts';

export * from './linux/include/linux/gfp.ts';
export * from './linux/include/linux/errno.ts';
export * from './linux/include/linux/dma-mapping.ts';
export { sgEntry, sgPhys, sgTable, type Scatterlist, type SgTable } from './linux/include/linux/scatterlist.ts';
export { pageToPfn, pfnToPage } from './linux/include/linux/mm.ts';
export type { Device, DmaKernel, DmaParms } from './linux/include/linux/device.ts';
export type { DmaAllocation, DmaMapOps } from './linux/include/linux/dma-map-ops.ts';
export { dmaCapable, dmaToPhys, physToDma } from './linux/include/linux/dma-direct.ts';
export { ARCH_SYNC_POLICIES, type ArchSyncPolicy, type CacheOp } from './linux/arch/dma-sync-policy.ts';
export { LiveDmaTable, type DmaDebugHooks, type LiveEntry } from './linux/kernel/dma/mapping.ts';
export type { IoTlbMemState, IoTlbPoolState } from './linux/kernel/dma/swiotlb.ts';

export { BACKEND_CALLS, supports, type BackendCall, type BackendCapabilities, type BackendEnv, type BackendFactory, type CheckLevel, type DmaBackend } from './backend/backend.ts';
export { REFERENCE_CAPABILITIES, ReferenceBackend, referenceBackend, type ReferenceOptions } from './backend/reference.ts';
export { BackendLoadError, loadBackend } from './backend/loader.ts';
export { WASM_ABI_VERSION, WasmBackendError, loadWasmBackend } from './backend/wasm.ts';
export { setUp, type SetUp, type SetUpOptions } from './backend/setup.ts';

export { type Step, type StepOp, type SgSeg, type DirName, type GfpName, type AllocAttrName, type BadCall, STEP_OPS, formatStep, renumber, patternBytes } from './conformance/steps.ts';
export { ModelState, GRANULE_BYTES, OWNER, type Illegal, type ModelObject, type ModelMapping } from './conformance/model.ts';
export { StepsArbitrary, DEFAULT_WEIGHTS, generateSteps, shrinkSteps, repair, type GeneratorOptions, type StepWeights } from './conformance/generator.ts';
export { ORIGIN, Shadow, firstMismatch, describeMismatch, fromDeviceMapMayDiscard, type Observation, type ReadObservation, type Violation } from './conformance/oracle.ts';
export { Session, type SessionOptions, type SessionResult } from './conformance/session.ts';
export { checkProperty, runSequence, platformSeedOf, type CheckOptions, type CheckResult, type SequenceOptions } from './conformance/runner.ts';
export { DEFAULT_RUNS, activeChecks, claimedLevels, judgeOf, propertyRules, requireCalls, whyNot, type Check, type Property, type PropertyContext } from './conformance/property.ts';
export { TRACE_VERSION, TraceError, makeTrace, parseTrace, serializeTrace, type Trace } from './conformance/trace.ts';
export { RULES, isRuleId, type Rule, type RuleId } from '../spec/rules.ts';
export { PROPERTIES, findProperty } from '../properties/index.ts';
