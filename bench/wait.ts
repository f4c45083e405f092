/** Resolves once `performance.now()` has reached `at`, at once if it has already. */
export async function sleepUntil(at: number): Promise<void> {
  const wait = at - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/**
 * Calls `condition` every `pollMs` until it holds; throws `timeoutMessage()` (called then, so it
 * can tell what was last seen) once `timeoutMs` have passed without.
 */
export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  pollMs: number,
  timeoutMessage: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(timeoutMessage());
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Rejects after `ms` with `message`, unless `promise` settles first. */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
