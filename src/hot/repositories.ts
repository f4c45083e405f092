import type { InputOfDataset, RowOfDataset } from '../core/index.ts';
import type { BuiltinDatasets } from '../datasets/index.ts';
import type { Repository } from './repository.ts';

/** A typed repository for each built-in dataset: the generic Repository with its row types. */
export type Repositories = {
  [K in keyof BuiltinDatasets]: Repository<
    RowOfDataset<BuiltinDatasets[K]>,
    InputOfDataset<BuiltinDatasets[K]>
  >;
};

export type MarketDataRepository = Repositories['marketData'];
export type TradeRepository = Repositories['trades'];
export type NewsRepository = Repositories['news'];
export type CompanyRepository = Repositories['companies'];
export type CryptocurrencyRepository = Repositories['cryptocurrencies'];
export type DividendRepository = Repositories['dividends'];
export type FinancialsRepository = Repositories['financials'];
export type GuidanceRepository = Repositories['guidance'];
export type RatingRepository = Repositories['ratings'];
export type SentimentRepository = Repositories['sentiment'];
export type SocialSentimentRepository = Repositories['socialSentiment'];
export type FeatureRepository = Repositories['features'];

export type MarketDataRow = RowOfDataset<BuiltinDatasets['marketData']>;
export type TradeRow = RowOfDataset<BuiltinDatasets['trades']>;
