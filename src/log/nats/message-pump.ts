import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { setImmediate as nextTurn } from 'node:timers/promises';

const READY_NOW = Symbol('ready-now');
export const STOPPED = Symbol('stopped');
export const IDLE = Symbol('idle');

/**
 * Pulls messages off a consumer's iterator one at a time, so a read can wait for a message while
 * watching an abort signal, and take only what has already arrived when it forms a batch. The
 * one outstanding `next()` is kept across calls: dropping it would lose the message it resolves
 * with.
 */
export class MessagePump {
  private readonly iterator: AsyncIterator<JsMsg>;
  private pending: Promise<IteratorResult<JsMsg>> | undefined;
  private held: JsMsg | undefined;
  private finished = false;

  constructor(private readonly messages: ConsumerMessages) {
    this.iterator = messages[Symbol.asyncIterator]();
  }

  private pull(): Promise<IteratorResult<JsMsg>> {
    this.pending ??= this.iterator.next();
    return this.pending;
  }

  private settle(result: IteratorResult<JsMsg>): JsMsg | typeof STOPPED {
    this.pending = undefined;
    if (result.done) {
      this.finished = true;
      return STOPPED;
    }
    return result.value;
  }

  private takeHeld(): JsMsg | undefined {
    const msg = this.held;
    this.held = undefined;
    return msg;
  }

  /** Puts a message back, to be the first of the next batch. */
  hold(msg: JsMsg): void {
    this.held = msg;
  }

  /** The next message; STOPPED when the consumer ended or `stop` resolved; IDLE after `idleMs`. */
  async next(stop: Promise<void>, idleMs?: number): Promise<JsMsg | typeof STOPPED | typeof IDLE> {
    const held = this.takeHeld();
    if (held) return held;
    if (this.finished) return STOPPED;
    const racers: Promise<IteratorResult<JsMsg> | typeof STOPPED | typeof IDLE>[] = [
      this.pull(),
      stop.then(() => STOPPED),
    ];
    const timer = idleMs === undefined ? undefined : new AbortController();
    if (timer && idleMs !== undefined) racers.push(sleepUnlessAborted(idleMs, timer.signal).then(() => IDLE));
    try {
      const result = await Promise.race(racers);
      return result === STOPPED || result === IDLE ? result : this.settle(result);
    } finally {
      timer?.abort();
    }
  }

  /** A message that has already arrived, without waiting for the network; undefined if none has. */
  async ready(): Promise<JsMsg | typeof STOPPED | undefined> {
    const held = this.takeHeld();
    if (held) return held;
    if (this.finished) return STOPPED;
    // Messages already received resolve `next()` within microtasks; the macrotask turn is later.
    const result = await Promise.race([this.pull(), nextTurn().then((): typeof READY_NOW => READY_NOW)]);
    return result === READY_NOW ? undefined : this.settle(result);
  }

  /**
   * Ends the consumer's subscription and its iterator. A `next()` still waiting resolves once the
   * library runs its queued stop; a suspended iterator is returned so the library sees the break.
   */
  async close(): Promise<void> {
    this.messages.stop();
    if (this.pending) await this.pending;
    this.pending = undefined;
    this.finished = true;
    await this.iterator.return?.();
  }
}

async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
}
