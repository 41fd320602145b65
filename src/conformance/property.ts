/**
 * Not a kernel mirror: what a property is (DESIGN.md "Properties", "Check
 * levels"). A property is a named invariant made of checks, each one
 * condition with its own level and rules, plus the step weights its
 * fast-check test draws with so that sequences reach the behaviour it
 * judges. A check runs only where the backend claims its level
 * (`capabilities.levels`): `contract` is what the DMA API documents for
 * every implementation, `linux` what Linux's implementation chooses,
 * `hardening` the reference's refusals beyond the kernel. The condition
 * lives in the check, over the facts the oracle recorded; a newcomer
 * opening a property file sees what it tests.
 */
import type { RuleId } from '../../spec/rules.ts';
import type { BackendCall, BackendCapabilities } from '../backend/backend.ts';
import type { PlatformProfile } from '../platform/profiles.ts';
import type { GeneratorOptions, StepWeights } from './generator.ts';
import type { CheckLevel, Observation, Violation } from './oracle.ts';

/** What a property can see of where it runs. */
export interface PropertyContext {
  readonly profile: PlatformProfile;
  readonly capabilities: BackendCapabilities;
}

/** One condition a property tests. */
export interface Check {
  /** Kebab-case, unique within its property (`not-zeroed`). */
  readonly id: string;
  readonly level: CheckLevel;
  /** The rules this condition enforces. */
  readonly rules: readonly RuleId[];
  /** What must hold, one sentence. */
  readonly summary: string;
  /** What the check allows an implementation, where the documentation leaves room. */
  readonly latitude?: string;
  /** The kernel function or `Documentation/` path the condition comes from, for checks no rule of spec/rules.ts states. */
  readonly see?: string;
  /** Why the check cannot run here (beyond its property's needs), or null. */
  readonly needs?: (ctx: PropertyContext) => string | null;
  /**
   * Judge one observation.
   * @returns the evidence of a breach (one line, bracketed `key=value`, both sides), or null
   */
  judge(obs: Observation, ctx: PropertyContext): string | null;
}

/** One invariant. */
export interface Property {
  /** Kebab-case name (`no-stale-cpu-read`), the file name in `properties/`. */
  readonly name: string;
  /** One sentence: what holds. */
  readonly summary: string;
  /** The conditions, each with its level and rules. */
  readonly checks: readonly Check[];
  /** Step weights over the generator's defaults. */
  readonly weights: StepWeights;
  /** Other generator knobs the property's test sets (attribute sets to draw). */
  readonly generator?: Pick<GeneratorOptions, 'allocAttrs' | 'maxSteps' | 'bigBuffers' | 'largeAllocs' | 'swarm'>;
  /**
   * Sequences per profile when `dmacheck run` is not given `--runs`
   * (default {@link DEFAULT_RUNS}): properties whose bugs need longer
   * interleavings get more, chosen from `npm run bench` so that every
   * fixture is found in every seed.
   */
  readonly runs?: number;
  /** The paths (`coverage.ts` names) its checks need: a cell where one was possible but never reached is flagged. */
  readonly paths?: readonly string[];
  /** Why the property cannot run here, or null when it can. */
  needs(ctx: PropertyContext): string | null;
}

/** Sequences per property and profile of `dmacheck run` without `--runs`, unless the property says otherwise. */
export const DEFAULT_RUNS = 100;

/** The levels a backend claims: its declared `levels`, or `contract` alone. */
export function claimedLevels(caps: BackendCapabilities): readonly CheckLevel[] {
  return caps.levels ?? ['contract'];
}

/** Every rule a property enforces: the union of its checks' rules, in order. */
export function propertyRules(p: Property): RuleId[] {
  return [...new Set(p.checks.flatMap((c) => c.rules))];
}

/** The checks of `p` that run here: their level is claimed and their needs are met. */
export function activeChecks(p: Property, ctx: PropertyContext): Check[] {
  const levels = claimedLevels(ctx.capabilities);
  return p.checks.filter((c) => levels.includes(c.level) && (c.needs?.(ctx) ?? null) === null);
}

/** Why `p` cannot run here: its own needs, or no check of a level the backend claims. */
export function whyNot(p: Property, ctx: PropertyContext): string | null {
  const own = p.needs(ctx);
  if (own !== null) return own;
  if (activeChecks(p, ctx).length === 0) return `no check at a level the backend claims (${claimedLevels(ctx.capabilities).join(', ')})`;
  return null;
}

/** A judge of one property in one context: each observation against every active check. */
export function judgeOf(p: Property, ctx: PropertyContext): (obs: Observation) => Violation[] {
  const checks = activeChecks(p, ctx);
  return (obs) => {
    const out: Violation[] = [];
    for (const c of checks) {
      const evidence = c.judge(obs, ctx);
      if (evidence !== null) {
        out.push({
          property: p.name,
          check: c.id,
          level: c.level,
          rules: c.rules,
          ...(c.see === undefined ? {} : { see: c.see }),
          ...(c.latitude === undefined ? {} : { latitude: c.latitude }),
          at: obs.at,
          message: evidence,
        });
      }
    }
    return out;
  };
}

/** The first of `calls` the backend does not declare, as a reason not to run; null when all are declared. */
export function requireCalls(ctx: PropertyContext, calls: readonly BackendCall[]): string | null {
  const missing = calls.filter((c) => !ctx.capabilities.calls.includes(c));
  return missing.length === 0 ? null : `backend does not declare ${missing.join(', ')}`;
}

/** Why nothing can bounce on this profile (no default swiotlb, no restricted-pool device), or null when something can. */
export function requireSwiotlb(ctx: PropertyContext): string | null {
  const p = ctx.profile;
  return p.swiotlb !== null || p.devices.some((d) => d.restrictedDmaPool !== null) ? null : 'the profile has no swiotlb';
}
