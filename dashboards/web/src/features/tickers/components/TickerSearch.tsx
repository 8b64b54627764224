// Ticker search: symbol prefix or part of the name, answered by GET /v1/tickers?q=.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';

import { Empty, ErrorNotice, Loading } from '@/components/Status';

import { tickersQuery } from '../api/get-tickers';

function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), ms);
    return () => window.clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

type Props = { selected: string | null; onSelect: (symbol: string) => void };

export function TickerSearch({ selected, onSelect }: Props) {
  const [text, setText] = useState('');
  const search = useDebounced(text.trim(), 250);
  const tickers = useQuery({ ...tickersQuery(search), placeholderData: keepPreviousData });

  return (
    <section className="panel ticker-search" aria-labelledby="ticker-search-title">
      <h2 id="ticker-search-title">Tickers</h2>
      <input
        type="search"
        className="text-input"
        placeholder="Search symbol or name"
        aria-label="Search tickers"
        value={text}
        maxLength={40}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          const first = tickers.data?.[0];
          if (event.key === 'Enter' && first) onSelect(first.symbol);
        }}
      />
      {tickers.isPending ? (
        <Loading what="tickers" />
      ) : tickers.isError ? (
        <ErrorNotice error={tickers.error} onRetry={() => tickers.refetch()} />
      ) : tickers.data.length === 0 ? (
        <Empty>{search ? `No ticker matches “${search}”.` : 'No active tickers yet.'}</Empty>
      ) : (
        <ul className="ticker-list" aria-label="Tickers found">
          {tickers.data.map((ticker) => (
            <li key={ticker.symbol}>
              <button
                type="button"
                className={ticker.symbol === selected ? 'ticker selected' : 'ticker'}
                aria-current={ticker.symbol === selected ? 'true' : undefined}
                onClick={() => onSelect(ticker.symbol)}
              >
                <span className="ticker-symbol">{ticker.symbol}</span>
                <span className="ticker-name">{ticker.name || ticker.source}</span>
                <span className="ticker-range">
                  {ticker.rows.toLocaleString('en-US')} days
                  {ticker.last_date ? ` · to ${ticker.last_date}` : ''}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
