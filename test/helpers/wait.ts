/**
 * Waits for a state instead of sleeping a guessed time: polls `condition` every `interval` ms until it
 * returns a truthy value (which it resolves to), or rejects after `timeout` ms naming what it waited for.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeout = 10_000, interval = 5, what = condition.toString().slice(0, 200) }: { timeout?: number; interval?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
