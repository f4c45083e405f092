/** Polls a stage's status every 50 ms until it says caught up; fails with the last status after `timeoutMs`. */
export async function waitCaughtUp(
  stage: string,
  status: () => Promise<{ caughtUp: boolean }>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let last = await status(); !last.caughtUp; last = await status()) {
    if (Date.now() > deadline)
      throw new Error(`${stage} did not catch up within ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
