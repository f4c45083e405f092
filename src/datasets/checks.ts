import type { RowCheck } from '../core/index.ts';

/** Row checks shared by several datasets. */

/** `low ≤ high` for two nullable numeric columns (decimal strings or numbers). */
export function ordered(lowField: string, highField: string): RowCheck {
  return (row) => {
    const low = row[lowField];
    const high = row[highField];
    if (low === null || high === null || low === undefined || high === undefined) return undefined;
    return Number(low) <= Number(high)
      ? undefined
      : { field: lowField, reason: `${String(low)} is above ${highField} ${String(high)}` };
  };
}

/** An OHLC bar: low ≤ open, close ≤ high. */
export const ohlcConsistent: RowCheck = (row) => {
  const [open, high, low, close] = ['open', 'high', 'low', 'close'].map((f) => Number(row[f]));
  if (high! < low!)
    return { field: 'high', reason: `high ${String(row.high)} is below low ${String(row.low)}` };
  if (open! < low! || open! > high!)
    return { field: 'open', reason: `open ${String(row.open)} lies outside [low, high]` };
  if (close! < low! || close! > high!)
    return { field: 'close', reason: `close ${String(row.close)} lies outside [low, high]` };
  return undefined;
};
