import type { InputOfDataset } from '../core/index.ts';
import type { BuiltinDatasets } from '../datasets/index.ts';
import { Random } from './random.ts';
import type { Listing } from './symbols.ts';
import { CRYPTO, listings } from './symbols.ts';

export interface FeedOptions {
  symbols: number;
  minutes: number;
  seed: number;
  /** First minute of the session, UTC. */
  start?: string;
}

export type FeedRows = { -readonly [K in keyof BuiltinDatasets]?: InputOfDataset<BuiltinDatasets[K]>[] };

export interface FeedMinute {
  minute: number;
  rows: FeedRows;
}

const DEFAULT_START = '2024-03-04T14:30:00Z';
const EXCHANGES = ['XNAS', 'ARCX', 'BATS', 'EDGX', 'IEXG'];
const CONDITIONS = [['@'], ['@', 'F'], ['@', 'I'], ['@', 'T'], null];
const FIRMS = [
  'Goldman Sachs',
  'Morgan Stanley',
  'J.P. Morgan',
  'Barclays',
  'UBS',
  'Jefferies',
  'Société Générale',
];
const RATING_SCALE = ['Sell', 'Underweight', 'Hold', 'Overweight', 'Buy'];
const NEWS_SOURCES = ['Reuters', 'Bloomberg', 'Dow Jones', 'PR Newswire'];
const PLATFORMS = ['reddit', 'x', 'stocktwits'] as const;

const money = (n: number, digits = 6) => n.toFixed(digits);
const iso = (ms: number, micros = 0) =>
  `${new Date(ms).toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`;

/**
 * A deterministic synthetic trading session: random-walk trades per symbol, the one-minute bars
 * aggregated from them (so OHLCV agrees with the trades), and realistic rows of every other
 * dataset at their natural rhythm. Same options, same rows, on every machine.
 */
export function* marketFeed(options: FeedOptions): Generator<FeedMinute> {
  const random = new Random(options.seed);
  const start = Date.parse(options.start ?? DEFAULT_START);
  const symbols = listings(options.symbols);
  const prices = new Map(symbols.map((s) => [s.symbol, s.price]));
  const cryptoPrices = new Map<string, number>(CRYPTO.map((c) => [c.symbol, c.price]));
  let tradeSeq = 0;

  yield { minute: -1, rows: referenceData(random, symbols, start) };

  for (let minute = 0; minute < options.minutes; minute++) {
    const t0 = start + minute * 60_000;
    const rows: FeedRows = { trades: [], marketData: [] };
    for (const listing of symbols) {
      let price = prices.get(listing.symbol)!;
      const count = random.int(3, 30);
      let open = 0,
        high = -Infinity,
        low = Infinity,
        volume = 0,
        notional = 0;
      const offsets = Array.from({ length: count }, () => random.int(0, 59_999_999)).sort((a, b) => a - b);
      for (let i = 0; i < count; i++) {
        price = Math.max(0.01, price * (1 + random.normal() * 0.0004));
        const px = Math.round(price * 100) / 100;
        const size = random.next() < 0.8 ? random.int(1, 5) * 100 : random.int(1, 99);
        const micros = offsets[i]!;
        rows.trades!.push({
          symbol: listing.symbol,
          exchange: random.pick(EXCHANGES),
          trade_id: `T${String(++tradeSeq).padStart(10, '0')}`,
          event_time: iso(t0 + Math.floor(micros / 1000), micros % 1000),
          price: money(px),
          size: String(size),
          conditions: random.pick(CONDITIONS),
        });
        if (i === 0) open = px;
        high = Math.max(high, px);
        low = Math.min(low, px);
        volume += size;
        notional += px * size;
      }
      const close = Number(rows.trades!.at(-1)!.price);
      prices.set(listing.symbol, price);
      rows.marketData!.push({
        symbol: listing.symbol,
        interval: '1m',
        bucket_start: iso(t0),
        open: money(open),
        high: money(high),
        low: money(low),
        close: money(close),
        volume,
        vwap: money(notional / volume),
        trade_count: count,
        source: 'tierflow-demo',
      });
      if (minute % 5 === 4) (rows.features ??= []).push(featureRow(listing, t0, rows, random));
      if (minute % 15 === 0) {
        (rows.sentiment ??= []).push({
          symbol: listing.symbol,
          source: 'news-nlp',
          as_of: iso(t0),
          score: Math.round(Math.tanh(random.normal() * 0.5) * 1e4) / 1e4,
          magnitude: Math.round(random.next() * 3 * 1e4) / 1e4,
          article_count: random.int(0, 12),
          model: 'finbert-2024.02',
        });
        for (const platform of PLATFORMS) {
          const mentions = random.int(0, 400);
          const positive = random.int(0, mentions);
          const negative = random.int(0, mentions - positive);
          (rows.socialSentiment ??= []).push({
            symbol: listing.symbol,
            platform,
            as_of: iso(t0),
            mentions,
            positive,
            negative,
            score: mentions === 0 ? 0 : Math.round(((positive - negative) / mentions) * 1e4) / 1e4,
          });
        }
      }
      if (random.next() < 1 / 30) {
        (rows.news ??= []).push({
          id: `N${minute}-${listing.symbol}`,
          published_at: iso(t0 + random.int(0, 59_999)),
          source: random.pick(NEWS_SOURCES),
          headline: `${listing.name} ${random.pick(['shares rise', 'shares slip', 'announces buyback', 'names new CFO', 'beats estimates'])}`,
          summary: `${listing.name} (${listing.symbol}) — « ${listing.industry} » update; "quoted" text, back\\slash and ; DROP TABLE news; -- stay verbatim.`,
          author: random.next() < 0.5 ? null : 'Staff Reporter',
          url: `https://news.example/${listing.symbol.toLowerCase()}/${minute}`,
          symbols: [listing.symbol],
        });
      }
      if (random.next() < 1 / 200) {
        const from = random.int(0, RATING_SCALE.length - 1);
        const to = Math.min(RATING_SCALE.length - 1, Math.max(0, from + random.int(-1, 1)));
        (rows.ratings ??= []).push({
          symbol: listing.symbol,
          firm: random.pick(FIRMS),
          rated_at: iso(t0 + random.int(0, 59_999)),
          action: to > from ? 'upgrade' : to < from ? 'downgrade' : 'reiterate',
          rating_from: RATING_SCALE[from]!,
          rating_to: RATING_SCALE[to]!,
          price_target: money(price * (1 + random.normal() * 0.1), 4),
          analyst: null,
        });
      }
    }
    if (minute % 5 === 0) {
      rows.cryptocurrencies = CRYPTO.map((c, rank) => {
        const p = cryptoPrices.get(c.symbol)! * (1 + random.normal() * 0.002);
        cryptoPrices.set(c.symbol, p);
        return {
          symbol: c.symbol,
          as_of: iso(t0),
          name: c.name,
          price_usd: p.toFixed(8),
          market_cap_usd: (p * c.supply).toFixed(2),
          volume_24h_usd: (p * c.supply * 0.03 * (0.5 + random.next())).toFixed(2),
          circulating_supply: String(c.supply),
          max_supply: c.max === null ? null : String(c.max),
          rank: rank + 1,
        };
      });
    }
    yield { minute, rows };
  }
}

function featureRow(listing: Listing, t0: number, rows: FeedRows, random: Random) {
  const bar = rows.marketData!.at(-1)!;
  const open = Number(bar.open);
  const close = Number(bar.close);
  return {
    entity: listing.symbol,
    feature_set: 'intraday_v1',
    event_time: iso(t0 + 59_999),
    feature_set_version: 1,
    values: {
      return_1m: Math.round(((close - open) / open) * 1e8) / 1e8,
      range_pct: Math.round(((Number(bar.high) - Number(bar.low)) / open) * 1e8) / 1e8,
      log_volume: Math.round(Math.log1p(Number(bar.volume)) * 1e6) / 1e6,
      noise: Math.round(random.normal() * 1e6) / 1e6,
    },
  };
}

/** Companies, dividends, financials and guidance: slow-moving data, emitted once up front. */
function referenceData(random: Random, symbols: readonly Listing[], start: number): FeedRows {
  const rows: FeedRows = {
    companies: [],
    dividends: [],
    financials: [],
    guidance: [],
    ratings: [],
    news: [],
  };
  const year = new Date(start).getUTCFullYear();
  for (const listing of symbols) {
    const shares = random.int(500, 15_000) * 1_000_000;
    rows.companies!.push({
      symbol: listing.symbol,
      name: listing.name,
      exchange: listing.exchange,
      sector: listing.sector,
      industry: listing.industry,
      country: listing.exchange === 'XTKS' ? 'JP' : listing.exchange.startsWith('XN') ? 'US' : null,
      currency: listing.exchange === 'XTKS' ? 'JPY' : 'USD',
      market_cap: (shares * listing.price).toFixed(2),
      employees: random.int(1_000, 300_000),
      ipo_date: `${random.int(1980, 2015)}-${String(random.int(1, 12)).padStart(2, '0')}-15`,
      active: true,
      updated_at: iso(start - 86_400_000),
    });
    rows.ratings!.push({
      symbol: listing.symbol,
      firm: random.pick(FIRMS),
      rated_at: iso(start - 86_400_000 + random.int(0, 3_600_000)),
      action: 'initiate',
      rating_from: null,
      rating_to: random.pick(RATING_SCALE),
      price_target: money(listing.price * 1.1, 4),
      analyst: 'Coverage Team',
    });
    rows.news!.push({
      id: `N-pre-${listing.symbol}`,
      published_at: iso(start - 3_600_000),
      source: random.pick(NEWS_SOURCES),
      headline: `${listing.name}: what to watch before the open`,
      summary: null,
      author: null,
      url: null,
      symbols: [listing.symbol],
    });
    let revenue = random.int(5, 120) * 1e9;
    for (let q = 0; q < 8; q++) {
      const fiscalYear = year - 2 + Math.floor(q / 4);
      const period = (['Q1', 'Q2', 'Q3', 'Q4'] as const)[q % 4]!;
      revenue *= 1 + random.normal() * 0.03;
      const net = revenue * (0.05 + random.next() * 0.2);
      const reported = Date.UTC(fiscalYear, (q % 4) * 3 + 4, 25, 20, 5);
      rows.financials!.push({
        symbol: listing.symbol,
        fiscal_year: fiscalYear,
        fiscal_period: period,
        currency: 'USD',
        revenue: revenue.toFixed(2),
        gross_profit: (revenue * 0.45).toFixed(2),
        operating_income: (net * 1.3).toFixed(2),
        net_income: net.toFixed(2),
        eps_diluted: (net / shares).toFixed(4),
        total_assets: (revenue * 3.1).toFixed(2),
        total_liabilities: (revenue * 1.7).toFixed(2),
        operating_cash_flow: (net * 1.2).toFixed(2),
        shares_outstanding: shares,
        reported_at: iso(reported),
      });
      rows.dividends!.push({
        symbol: listing.symbol,
        ex_date: new Date(reported + 20 * 86_400_000).toISOString().slice(0, 10),
        kind: 'cash',
        amount: (listing.price * 0.004).toFixed(6),
        currency: 'USD',
        record_date: new Date(reported + 21 * 86_400_000).toISOString().slice(0, 10),
        pay_date: new Date(reported + 35 * 86_400_000).toISOString().slice(0, 10),
        frequency: 'quarterly',
        declared_at: iso(reported),
      });
    }
    const mid = revenue * 1.02;
    rows.guidance!.push({
      symbol: listing.symbol,
      fiscal_year: year,
      fiscal_period: 'Q2',
      metric: 'revenue',
      issued_at: iso(start - 30 * 86_400_000),
      low: (mid * 0.98).toFixed(4),
      high: (mid * 1.02).toFixed(4),
      currency: 'USD',
      status: random.pick(['raised', 'maintained', 'lowered'] as const),
    });
  }
  return rows;
}
