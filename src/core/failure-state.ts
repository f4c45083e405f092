/**
 * What a long-running part (a hot processor, a cold consumer) reports of its trouble: the last
 * failure while it lasts, or that the part stopped for good. Failures come in two depths: a
 * shallow one (the server did not answer) is over once any round trip succeeds; a deep one (a
 * write failed) only once that work succeeds again.
 */
export class FailureState {
  private message: string | undefined;
  private deep = false;
  private stoppedBy: Error | undefined;

  /** The report: the failure, `stopped: …`, or undefined while all is well. */
  get failing(): string | undefined {
    return this.stoppedBy ? `stopped: ${this.stoppedBy.message}` : this.message;
  }

  get stopped(): Error | undefined {
    return this.stoppedBy;
  }

  /** Records a failure a retry may mend; false (nothing recorded) once stopped. */
  fail(error: unknown, deep: boolean): boolean {
    if (this.stoppedBy) return false;
    this.message = (error as Error)?.message ?? String(error);
    this.deep = deep;
    return true;
  }

  /** Work succeeded: deep work ends any failure, a mere round trip only a shallow one. */
  recover(deep: boolean): void {
    if (deep || !this.deep) this.message = undefined;
  }

  /** Forgets a deep failure, which belonged to work this part no longer does. */
  dropDeep(): void {
    if (this.deep) this.message = undefined;
  }

  /** Records a stop for good; false if it was stopped already. */
  stop(error: Error): boolean {
    if (this.stoppedBy) return false;
    this.stoppedBy = error;
    return true;
  }
}
