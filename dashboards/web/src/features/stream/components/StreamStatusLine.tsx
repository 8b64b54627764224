// What the connection to /v1/stream is doing, in words, with a way to retry at once.
import { useEffect, useState } from 'react';

import type { StreamStatus } from '../api/stream-client';
import type { Gap } from '../api/use-stream';

function useCountdown(ms: number | null): number | null {
  const [left, setLeft] = useState(ms);
  useEffect(() => {
    setLeft(ms);
    if (ms === null) return;
    const started = Date.now();
    const timer = window.setInterval(() => setLeft(Math.max(0, ms - (Date.now() - started))), 250);
    return () => window.clearInterval(timer);
  }, [ms]);
  return left;
}

type Props = { name: string; status: StreamStatus; gap: Gap | null; onReconnect: () => void };

export function StreamStatusLine({ name, status, gap, onReconnect }: Props) {
  const left = useCountdown(status.state === 'reconnecting' ? status.inMs : null);
  let text: string;
  switch (status.state) {
    case 'open':
      // The relay's sequence numbers are clock-based and long: not worth reading out.
      text = status.resumedFrom === null ? 'live' : 'live again, resumed where it left off';
      break;
    case 'connecting':
      text = status.attempt ? `reconnecting (attempt ${status.attempt})…` : 'connecting…';
      break;
    case 'reconnecting':
      text = `connection lost (${status.reason}); reconnecting in ${Math.ceil((left ?? status.inMs) / 1000)} s`;
      break;
    case 'rejected':
      text = `refused: ${status.reason}`;
      break;
    case 'stopped':
      text = 'not connected';
  }
  const lost = status.state === 'reconnecting' || status.state === 'rejected';
  return (
    <div
      className={`stream-status stream-${status.state}`}
      role="status"
      data-state={status.state}
      data-resumed-from={status.state === 'open' ? (status.resumedFrom ?? undefined) : undefined}
      aria-label={`${name} stream`}
    >
      <span className="dot" aria-hidden="true" />
      <span>
        {name}: {text}
      </span>
      {lost && (
        <button type="button" className="link-button" onClick={onReconnect}>
          Reconnect now
        </button>
      )}
      {gap && (
        // After a relay restart the numbering starts afresh, so the size of the gap says nothing.
        <span className="gap-note"> · some earlier messages could not be replayed</span>
      )}
    </div>
  );
}
