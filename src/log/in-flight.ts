/**
 * The appends a log has accepted and not finished: close() waits for them (each finishes or
 * fails) before it tears the connection down, so an accepted append is never cut off halfway.
 */
export class InFlight {
  private readonly work = new Set<Promise<unknown>>();

  /** Tracks `work` until it settles, and returns it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.work.add(work);
    const forget = () => this.work.delete(work);
    void work.then(forget, forget);
    return work;
  }

  /** Resolves once everything tracked so far has settled, however it settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.work]);
  }
}
