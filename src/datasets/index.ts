import type { Dataset } from '../core/index.ts';
import { UnknownDatasetError } from '../core/index.ts';
import { companies } from './companies.ts';
import { cryptocurrencies } from './cryptocurrencies.ts';
import { dividends } from './dividends.ts';
import { features } from './features.ts';
import { financials } from './financials.ts';
import { guidance } from './guidance.ts';
import { marketData } from './market-data.ts';
import { news } from './news.ts';
import { ratings } from './ratings.ts';
import { sentiment } from './sentiment.ts';
import { socialSentiment } from './social-sentiment.ts';
import { trades } from './trades.ts';

export {
  companies,
  cryptocurrencies,
  dividends,
  features,
  financials,
  guidance,
  marketData,
  news,
  ratings,
  sentiment,
  socialSentiment,
  trades,
};

/** Every dataset tierflow ships, keyed by the property name repositories use. */
export const builtinDatasets = {
  marketData,
  trades,
  news,
  companies,
  cryptocurrencies,
  dividends,
  financials,
  guidance,
  ratings,
  sentiment,
  socialSentiment,
  features,
} as const;

export type BuiltinDatasets = typeof builtinDatasets;

export const allDatasets: readonly Dataset<unknown>[] = Object.values(builtinDatasets) as Dataset<unknown>[];

export function findDataset(
  name: string,
  datasets: readonly Dataset<unknown>[] = allDatasets,
): Dataset<unknown> {
  const found = datasets.find((d) => d.name === name);
  if (!found)
    throw new UnknownDatasetError(
      name,
      datasets.map((d) => d.name),
    );
  return found;
}
