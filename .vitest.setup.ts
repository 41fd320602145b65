// Build dist/ once before the tests that spawn the dmacheck command (see scripts/build.mjs).
export async function setup(): Promise<void> {
  const { build, stale } = await import('./scripts/build.mjs');
  if (stale()) await build();
}
