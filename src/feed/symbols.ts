/** Reference data the synthetic feed draws from: listed companies and crypto assets. */
export interface Listing {
  symbol: string;
  name: string;
  exchange: string;
  sector: string;
  industry: string;
  price: number;
}

const BASE: readonly Listing[] = [
  {
    symbol: 'AAPL',
    name: 'Apple Inc.',
    exchange: 'XNAS',
    sector: 'Technology',
    industry: 'Consumer Electronics',
    price: 189.5,
  },
  {
    symbol: 'MSFT',
    name: 'Microsoft Corporation',
    exchange: 'XNAS',
    sector: 'Technology',
    industry: 'Software',
    price: 411.2,
  },
  {
    symbol: 'NVDA',
    name: 'NVIDIA Corporation',
    exchange: 'XNAS',
    sector: 'Technology',
    industry: 'Semiconductors',
    price: 875.3,
  },
  {
    symbol: 'AMZN',
    name: 'Amazon.com, Inc.',
    exchange: 'XNAS',
    sector: 'Consumer Cyclical',
    industry: 'Internet Retail',
    price: 178.1,
  },
  {
    symbol: 'GOOGL',
    name: 'Alphabet Inc.',
    exchange: 'XNAS',
    sector: 'Communication Services',
    industry: 'Internet Content',
    price: 151.7,
  },
  {
    symbol: 'META',
    name: 'Meta Platforms, Inc.',
    exchange: 'XNAS',
    sector: 'Communication Services',
    industry: 'Internet Content',
    price: 502.4,
  },
  {
    symbol: 'JPM',
    name: 'JPMorgan Chase & Co.',
    exchange: 'XNYS',
    sector: 'Financial Services',
    industry: 'Banks',
    price: 198.6,
  },
  {
    symbol: 'XOM',
    name: 'Exxon Mobil Corporation',
    exchange: 'XNYS',
    sector: 'Energy',
    industry: 'Oil & Gas',
    price: 118.9,
  },
  {
    symbol: 'JNJ',
    name: 'Johnson & Johnson',
    exchange: 'XNYS',
    sector: 'Healthcare',
    industry: 'Drug Manufacturers',
    price: 152.3,
  },
  {
    symbol: 'V',
    name: 'Visa Inc.',
    exchange: 'XNYS',
    sector: 'Financial Services',
    industry: 'Credit Services',
    price: 279.8,
  },
  {
    symbol: 'PG',
    name: 'The Procter & Gamble Company',
    exchange: 'XNYS',
    sector: 'Consumer Defensive',
    industry: 'Household Products',
    price: 161.2,
  },
  {
    symbol: 'HD',
    name: 'The Home Depot, Inc.',
    exchange: 'XNYS',
    sector: 'Consumer Cyclical',
    industry: 'Home Improvement',
    price: 372.5,
  },
  {
    symbol: 'KO',
    name: 'The Coca-Cola Company',
    exchange: 'XNYS',
    sector: 'Consumer Defensive',
    industry: 'Beverages',
    price: 60.4,
  },
  {
    symbol: 'NESN',
    name: 'Nestlé S.A.',
    exchange: 'XSWX',
    sector: 'Consumer Defensive',
    industry: 'Packaged Foods',
    price: 97.1,
  },
  {
    symbol: 'SAP',
    name: 'SAP SE',
    exchange: 'XETR',
    sector: 'Technology',
    industry: 'Software',
    price: 176.4,
  },
  {
    symbol: 'ASML',
    name: 'ASML Holding N.V.',
    exchange: 'XAMS',
    sector: 'Technology',
    industry: 'Semiconductor Equipment',
    price: 915.0,
  },
  {
    symbol: '7203',
    name: 'トヨタ自動車株式会社',
    exchange: 'XTKS',
    sector: 'Consumer Cyclical',
    industry: 'Auto Manufacturers',
    price: 3410.0,
  },
  {
    symbol: 'TSLA',
    name: 'Tesla, Inc.',
    exchange: 'XNAS',
    sector: 'Consumer Cyclical',
    industry: 'Auto Manufacturers',
    price: 175.3,
  },
  {
    symbol: 'BRK.B',
    name: 'Berkshire Hathaway Inc.',
    exchange: 'XNYS',
    sector: 'Financial Services',
    industry: 'Insurance',
    price: 408.7,
  },
  {
    symbol: 'UNH',
    name: 'UnitedHealth Group Incorporated',
    exchange: 'XNYS',
    sector: 'Healthcare',
    industry: 'Healthcare Plans',
    price: 488.2,
  },
];

/** `count` listings: the base list first, then synthetic tickers. */
export function listings(count: number): Listing[] {
  const out: Listing[] = [];
  for (let i = 0; i < count; i++) {
    const base = BASE[i % BASE.length]!;
    out.push(
      i < BASE.length
        ? base
        : { ...base, symbol: `SYN${String(i).padStart(4, '0')}`, name: `Synthetic ${i} Corp.` },
    );
  }
  return out;
}

export const CRYPTO = [
  { symbol: 'BTC', name: 'Bitcoin', price: 67_250.12, supply: 19_687_000, max: 21_000_000 },
  { symbol: 'ETH', name: 'Ethereum', price: 3_480.55, supply: 120_070_000, max: null },
  { symbol: 'SOL', name: 'Solana', price: 172.31, supply: 446_000_000, max: null },
  { symbol: 'XRP', name: 'XRP', price: 0.5231, supply: 55_000_000_000, max: 100_000_000_000 },
  { symbol: 'DOGE', name: 'Dogecoin', price: 0.1622, supply: 144_000_000_000, max: null },
] as const;
