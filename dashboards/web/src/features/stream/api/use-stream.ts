// One StreamClient for as long as a component shows a feed; channel and token changes go to
// the same connection (subscribe messages, or a reconnect for a new token).
import { useCallback, useEffect, useRef, useState } from 'react';

import { defaultStreamBase, StreamClient, type StreamEvent, type StreamStatus } from './stream-client';

type Options = {
  channels: readonly string[];
  token?: string;
  onEvent: (event: StreamEvent) => void;
};

export type Gap = { fromSeq: number; toSeq: number };

export function useStream({ channels, token, onEvent }: Options) {
  const [status, setStatus] = useState<StreamStatus>({ state: 'stopped' });
  const [gap, setGap] = useState<Gap | null>(null);
  const client = useRef<StreamClient | null>(null);
  const latest = useRef({ channels, token, onEvent });
  latest.current = { channels, token, onEvent };
  const enabled = channels.length > 0;
  const channelKey = channels.join(',');

  useEffect(() => {
    if (!enabled) return;
    const { channels: initial, token: initialToken } = latest.current;
    const created = new StreamClient({
      url: defaultStreamBase(),
      channels: initial,
      token: initialToken,
      onEvent: (event) => latest.current.onEvent(event),
      onStatus: setStatus,
      onGap: (fromSeq, toSeq) => setGap({ fromSeq, toSeq }),
    });
    client.current = created;
    created.start();
    return () => {
      created.stop();
      client.current = null;
    };
  }, [enabled]);

  useEffect(() => {
    if (channelKey) client.current?.setChannels(channelKey.split(','));
  }, [channelKey]);

  useEffect(() => {
    client.current?.setToken(token);
  }, [token]);

  const reconnect = useCallback(() => client.current?.reconnectNow(), []);
  return { status: enabled ? status : ({ state: 'stopped' } as StreamStatus), gap, reconnect };
}
