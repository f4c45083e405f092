/**
 * Work that callers may share: one run at a time (a caller arriving meanwhile joins it), and a
 * caller content with a result up to `maxAgeMs` old gets none started. For measurements that
 * cost a round trip (a lag gauge), asked for by scrapes, health checks and status polls alike.
 */
export class Throttled {
  private finishedAt = 0;
  private running: Promise<void> | undefined;

  constructor(private readonly work: () => Promise<void>) {}

  run(maxAgeMs = 0): Promise<void> {
    if (this.running) return this.running;
    if (maxAgeMs > 0 && Date.now() - this.finishedAt < maxAgeMs) return Promise.resolve();
    const started = Date.now();
    this.running = this.work()
      .then(() => {
        this.finishedAt = started;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
