/**
 * Not a kernel mirror: what a property is (DESIGN.md "Properties"). A
 * property is a named checker over the oracle's observations, tagged with the
 * rules it enforces, plus the step weights its fast-check test draws with so
 * that sequences reach the behaviour it judges. It says which profiles and
 * backends it needs; where it has nothing to judge it is not run.
 */
import type { RuleId } from '../../spec/rules.ts';
import type { BackendCall, BackendCapabilities } from '../backend/backend.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import type { GeneratorOptions, StepWeights } from './generator.ts';
import type { Observation, Violation } from './oracle.ts';

/** What a property can see of where it runs. */
export interface PropertyContext {
  readonly profile: PlatformProfile;
  readonly capabilities: BackendCapabilities;
}

/** One invariant. */
export interface Property {
  /** Kebab-case name (`no-stale-cpu-read`), the file name in `properties/`. */
  readonly name: string;
  /** One sentence: what holds. */
  readonly summary: string;
  /** Rules of `spec/rules.ts` the property enforces (a rule that does not exist is a type error). */
  readonly rules: readonly RuleId[];
  /** Step weights over the generator's defaults. */
  readonly weights: StepWeights;
  /** Other generator knobs the property's test sets (attribute sets to draw). */
  readonly generator?: Pick<GeneratorOptions, 'allocAttrs' | 'maxSteps' | 'bigBuffers' | 'largeAllocs'>;
  /** Why the property cannot run here, or null when it can. */
  needs(ctx: PropertyContext): string | null;
  /** Judge one observation: a violation of this property, or null. */
  check(obs: Observation): Violation | null;
}

/** Build a violation of `p` at the observation's step. */
export function violation(p: Property, obs: Observation, message: string): Violation {
  return { property: p.name, rules: p.rules, at: obs.at, message };
}

/** The first of `calls` the backend does not declare, as a reason not to run; null when all are declared. */
export function requireCalls(ctx: PropertyContext, calls: readonly BackendCall[]): string | null {
  const missing = calls.filter((c) => !ctx.capabilities.calls.includes(c));
  return missing.length === 0 ? null : `backend does not declare ${missing.join(', ')}`;
}

/** Why nothing can bounce on this profile (no default swiotlb, no restricted-pool device), or null when something can. */
export function requireSwiotlb(ctx: PropertyContext): string | null {
  const p = ctx.profile;
  return p.swiotlb !== null || p.devices.some((d) => d.restrictedDmaPoolSlots > 0) ? null : 'the profile has no swiotlb';
}
