import type { RowCheck } from '../core/index.ts';
import { compareDecimals } from '../core/index.ts';

/** Row checks shared by several datasets. They run after normalisation: decimals are text of one scale. */

/** `low ≤ high` for two nullable decimal columns of the same scale. */
export function ordered(lowField: string, highField: string): RowCheck {
  return (row) => {
    const low = row[lowField];
    const high = row[highField];
    if (typeof low !== 'string' || typeof high !== 'string') return undefined;
    return compareDecimals(low, high) <= 0
      ? undefined
      : { field: lowField, reason: `${low} is above ${highField} ${high}` };
  };
}

/** An OHLC bar: low ≤ open, close ≤ high. */
export const ohlcConsistent: RowCheck = (row) => {
  const open = row.open as string;
  const high = row.high as string;
  const low = row.low as string;
  const close = row.close as string;
  if (compareDecimals(high, low) < 0) return { field: 'high', reason: `high ${high} is below low ${low}` };
  if (compareDecimals(open, low) < 0 || compareDecimals(open, high) > 0) {
    return { field: 'open', reason: `open ${open} lies outside [low, high]` };
  }
  if (compareDecimals(close, low) < 0 || compareDecimals(close, high) > 0) {
    return { field: 'close', reason: `close ${close} lies outside [low, high]` };
  }
  return undefined;
};
