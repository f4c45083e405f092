import { describe, expect, it } from 'vitest';
import { Throttled } from '../../src/core/index.ts';

describe('Throttled', () => {
  it('joins a run in flight, skips one fresh enough, and runs again when asked for a fresh answer', async () => {
    let runs = 0;
    let release!: () => void;
    const throttled = new Throttled(async () => {
      runs++;
      await new Promise<void>((resolve) => (release = resolve));
    });
    const first = throttled.run(1_000);
    const joined = throttled.run(0);
    expect(runs).toBe(1);
    release();
    await Promise.all([first, joined]);
    await throttled.run(60_000); // fresh enough: nothing runs
    expect(runs).toBe(1);
    const again = throttled.run(0);
    expect(runs).toBe(2);
    release();
    await again;
  });

  it('lets the next caller try again after a failure', async () => {
    let fail = true;
    const throttled = new Throttled(async () => {
      if (fail) throw new Error('PostgreSQL is down');
    });
    await expect(throttled.run(60_000)).rejects.toThrow('PostgreSQL is down');
    fail = false;
    await expect(throttled.run(60_000)).resolves.toBeUndefined();
  });
});
