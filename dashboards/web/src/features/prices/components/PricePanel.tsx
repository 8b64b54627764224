// One ticker's prices and forecasts, with a choice of how much history to show.
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { Empty, ErrorNotice, Loading } from '@/components/Status';
import { ApiError } from '@/lib/api-error';
import { formatPrice } from '@/utils/format';

import { forecastsQuery } from '../api/get-forecasts';
import { pricesQuery } from '../api/get-prices';

import { ForecastTable } from './ForecastTable';
import { PriceChart } from './PriceChart';

// Three months by default: the forecast, five sessions out at most, stays readable.
const RANGES = [
  { label: '3M', sessions: 63 },
  { label: '6M', sessions: 126 },
  { label: '1Y', sessions: 252 },
  { label: '5Y', sessions: 1260 },
] as const;

export function PricePanel({ ticker }: { ticker: string }) {
  const [sessions, setSessions] = useState<number>(63);
  const prices = useQuery(pricesQuery(ticker, sessions));
  const forecasts = useQuery(forecastsQuery(ticker));
  // A ticker without forecasts yet is a 404 with a reason: show the prices and the reason.
  const noForecastYet = forecasts.error instanceof ApiError && forecasts.error.status === 404;
  // An unknown ticker: the prices' error says so once; the forecasts have nothing to add.
  const unknownTicker = prices.error instanceof ApiError && prices.error.status === 404;
  const last = prices.data?.prices.at(-1);

  return (
    <section className="panel price-panel" aria-labelledby="price-title">
      <header className="panel-header">
        <h2 id="price-title">
          {ticker}
          {last && (
            <span className="headline-price">
              {formatPrice(last.close)} <span className="muted">close {last.date}</span>
            </span>
          )}
        </h2>
        <div className="segmented" role="group" aria-label="History shown">
          {RANGES.map((range) => (
            <button
              key={range.label}
              type="button"
              aria-pressed={sessions === range.sessions}
              onClick={() => setSessions(range.sessions)}
            >
              {range.label}
            </button>
          ))}
        </div>
      </header>
      {prices.isPending ? (
        <Loading what={`${ticker} prices`} />
      ) : prices.isError ? (
        <ErrorNotice error={prices.error} onRetry={() => prices.refetch()} />
      ) : prices.data.prices.length === 0 ? (
        <Empty>No prices stored for {ticker} yet: its history is fetched after it is added.</Empty>
      ) : (
        <>
          <PriceChart prices={prices.data.prices} forecasts={forecasts.data?.forecasts ?? []} />
          <div className="chart-legend" aria-hidden="true">
            <span className="swatch swatch-close" /> close
            <span className="swatch swatch-forecast" /> forecast
            <span className="swatch swatch-band80" /> 80 % interval
            <span className="swatch swatch-band95" /> 95 % interval
          </div>
        </>
      )}
      {!unknownTicker && <h3>Latest forecast</h3>}
      {unknownTicker ? null : forecasts.isPending ? (
        <Loading what="forecasts" />
      ) : noForecastYet ? (
        <Empty>{(forecasts.error as ApiError).detail}</Empty>
      ) : forecasts.isError ? (
        <ErrorNotice error={forecasts.error} onRetry={() => forecasts.refetch()} />
      ) : forecasts.data.forecasts.length === 0 ? (
        <Empty>No forecast for {ticker} yet.</Empty>
      ) : (
        <ForecastTable forecasts={forecasts.data.forecasts} />
      )}
    </section>
  );
}
