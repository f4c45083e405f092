/** What a read stops for besides its caller's signal: the log closing. */
export interface Closing {
  closed: Promise<void>;
  isClosed(): boolean;
}

export interface Stop {
  /** Resolves when the caller's signal aborts or the log closes. */
  promise: Promise<void>;
  is(): boolean;
  /** Removes the listener from the caller's signal, which may outlive the read. */
  dispose(): void;
}

export function stopOn(ctx: Closing, signal: AbortSignal | undefined): Stop {
  let done = false;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    onAbort = () => resolve();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const promise = Promise.race([aborted, ctx.closed]).then(() => {
    done = true;
  });
  return {
    promise,
    is: () => done || signal?.aborted === true || ctx.isClosed(),
    dispose: () => {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    },
  };
}
