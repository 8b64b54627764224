// The live feed from /v1/stream: predictions of the selected ticker (public), and with an
// API key the API's metrics (a request-rate sparkline) and alerts.
import { useCallback, useMemo, useState } from 'react';

import type { Prediction } from '@/client';
import { Empty } from '@/components/Status';
import { formatDateTime, formatPrice } from '@/utils/format';

import type { StreamEvent } from '../api/stream-client';
import { useStream } from '../api/use-stream';
import { isSnapshot, requestRates, type MetricsSnapshot } from '../lib/metrics';

import { Sparkline } from './Sparkline';
import { StreamStatusLine } from './StreamStatusLine';

type Alert = {
  id: string;
  state: string;
  severity: string;
  subject: string;
  metric: string;
  value: number;
  expected: [number, number];
  unit: string;
  reason: string;
  at: number;
};
type Received<T> = { seq: number; data: T };

const KEEP_EVENTS = 20;
const KEEP_SNAPSHOTS = 60;
const NO_CHANNELS: string[] = [];

const keepLatest = <T,>(list: T[], item: T, size: number) => [item, ...list].slice(0, size);

function PredictionItem({ seq, data }: Received<Prediction & { source?: string }>) {
  return (
    <li className="feed-item" data-seq={seq}>
      <span className="feed-time">{formatDateTime(data.created_at)}</span>
      <span className="badge">{data.horizon}d</span>
      <strong>{formatPrice(data.forecast)}</strong>
      <span className="muted">
        80 % {formatPrice(data.interval_80.lower)} – {formatPrice(data.interval_80.upper)}
      </span>
      <span className="muted">
        {data.model} v{data.model_version}
        {data.source ? ` · ${data.source}` : ''}
      </span>
    </li>
  );
}

function AlertItem({ data }: Received<Alert>) {
  return (
    <li className={`feed-item alert alert-${data.severity}`}>
      <span className="feed-time">{formatDateTime(new Date(data.at * 1000).toISOString())}</span>
      <span className={`badge severity-${data.severity}`}>
        {data.severity} {data.state}
      </span>
      <span>
        <strong>{data.subject}</strong> {data.metric}: {data.value.toPrecision(3)}
        {data.unit} <span className="muted">(expected {data.expected.map((b) => b.toPrecision(3)).join('–')})</span>
      </span>
      <span className="muted small">{data.reason}</span>
    </li>
  );
}

export function LiveFeed({ ticker, apiKey }: { ticker: string | null; apiKey: string }) {
  const [predictions, setPredictions] = useState<Received<Prediction>[]>([]);
  const [alerts, setAlerts] = useState<Received<Alert>[]>([]);
  const [snapshots, setSnapshots] = useState<MetricsSnapshot[]>([]);

  const publicChannels = useMemo(() => (ticker ? [`predictions:${ticker}`] : NO_CHANNELS), [ticker]);
  const privateChannels = useMemo(() => (apiKey ? ['metrics', 'alerts'] : NO_CHANNELS), [apiKey]);

  const onPrediction = useCallback((event: StreamEvent) => {
    setPredictions((list) => keepLatest(list, { seq: event.seq, data: event.data as Prediction }, KEEP_EVENTS));
  }, []);
  const onPrivate = useCallback((event: StreamEvent) => {
    if (event.channel === 'metrics' && isSnapshot(event.data)) {
      const snapshot = event.data;
      setSnapshots((list) => [...list, snapshot].slice(-KEEP_SNAPSHOTS));
    } else if (event.channel.startsWith('alerts')) {
      setAlerts((list) => keepLatest(list, { seq: event.seq, data: event.data as Alert }, KEEP_EVENTS));
    }
  }, []);

  const predictionsStream = useStream({ channels: publicChannels, onEvent: onPrediction });
  const privateStream = useStream({ channels: privateChannels, token: apiKey, onEvent: onPrivate });

  const shown = predictions.filter((p) => p.data.ticker === ticker);
  const rates = requestRates(snapshots).map((r) => r.perSecond);

  return (
    <section className="panel live-feed" aria-labelledby="live-feed-title">
      <header className="panel-header">
        <h2 id="live-feed-title">Live</h2>
      </header>
      <h3>Predictions{ticker ? ` for ${ticker}` : ''}</h3>
      {ticker ? (
        <>
          <StreamStatusLine
            name="predictions"
            status={predictionsStream.status}
            gap={predictionsStream.gap}
            onReconnect={predictionsStream.reconnect}
          />
          {shown.length === 0 ? (
            <Empty>Waiting for predictions of {ticker}: each POST /v1/predictions appears here as it is served.</Empty>
          ) : (
            <ul className="feed" aria-label="Live predictions">
              {shown.map((p) => (
                <PredictionItem key={p.seq} {...p} />
              ))}
            </ul>
          )}
        </>
      ) : (
        <Empty>Choose a ticker to follow its predictions.</Empty>
      )}

      <h3>API metrics and alerts</h3>
      {!apiKey ? (
        <Empty>Metrics and alerts need an API key: enter one above.</Empty>
      ) : (
        <>
          <StreamStatusLine
            name="metrics and alerts"
            status={privateStream.status}
            gap={privateStream.gap}
            onReconnect={privateStream.reconnect}
          />
          <div className="metric-line">
            <Sparkline values={rates} label="API requests per second" />
            <span>
              {rates.length ? (
                <>
                  <strong data-testid="request-rate">{rates.at(-1)!.toFixed(1)}</strong> requests/s
                </>
              ) : (
                <span className="muted">collecting request rates…</span>
              )}
            </span>
          </div>
          {alerts.length === 0 ? (
            <Empty>No alerts: latency, errors and daily data look normal.</Empty>
          ) : (
            <ul className="feed" aria-label="Alerts">
              {alerts.map((a) => (
                <AlertItem key={a.seq} {...a} />
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
