// The page: search on the left; the selected ticker's chart and forecasts; models with the
// retrain button and the live feed below.
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { ApiKeyField } from '@/features/api-key/components/ApiKeyField';
import { ModelCard } from '@/features/models/components/ModelCard';
import { PricePanel } from '@/features/prices/components/PricePanel';
import { LiveFeed } from '@/features/stream/components/LiveFeed';
import { tickersQuery } from '@/features/tickers/api/get-tickers';
import { TickerSearch } from '@/features/tickers/components/TickerSearch';
import { RetrainPanel } from '@/features/training/components/RetrainPanel';
import { Empty } from '@/components/Status';
import { useApiKey } from '@/lib/api-key';

// The selected ticker lives in the address (?ticker=ACME): a reload or a shared link keeps it.
function useSelectedTicker(): [string | null, (ticker: string) => void] {
  const [ticker, setTicker] = useState(
    () => new URLSearchParams(window.location.search).get('ticker')?.trim().toUpperCase() || null,
  );
  useEffect(() => {
    const url = new URL(window.location.href);
    if (ticker) url.searchParams.set('ticker', ticker);
    window.history.replaceState(null, '', url);
  }, [ticker]);
  return [ticker, setTicker];
}

export function App() {
  const [ticker, setTicker] = useSelectedTicker();
  const apiKey = useApiKey();
  // The live feed follows a ticker only once it is known to exist. The list comes a page at a
  // time, so ask for the symbol itself: a symbol sorts first among those it is a prefix of.
  const matches = useQuery(tickersQuery(ticker ?? ''));
  const known = ticker && matches.data?.some((t) => t.symbol === ticker) ? ticker : null;
  return (
    <div className="layout">
      <header className="topbar">
        <h1>
          TickerPulse <span className="muted">forecasts measured against the random walk</span>
        </h1>
        <ApiKeyField />
      </header>
      <aside className="sidebar">
        <TickerSearch selected={ticker} onSelect={setTicker} />
      </aside>
      <main className="main">
        {ticker ? (
          <PricePanel key={ticker} ticker={ticker} />
        ) : (
          <section className="panel">
            <Empty>Search a ticker on the left to see its prices, forecast and live predictions.</Empty>
          </section>
        )}
        <div className="columns">
          <ModelCard actions={<RetrainPanel apiKey={apiKey} />} />
          <LiveFeed ticker={known} apiKey={apiKey} />
        </div>
      </main>
      <footer className="footer muted small">
        <a href="/docs">API docs</a> · <a href="/metrics">metrics</a> · charts by{' '}
        <a href="https://www.tradingview.com/lightweight-charts/">TradingView Lightweight Charts</a>
      </footer>
    </div>
  );
}
