/**
 * Runs every step in order, each even when one before it failed (a close that must release
 * everything it can), then throws what failed: the one error, or an AggregateError of several.
 */
export async function runAll(steps: ReadonlyArray<() => Promise<void>>, what: string): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${what}: several steps failed`);
}
