// A client of the relay's WebSocket, /v1/stream, that keeps the feed going: it reconnects
// after a lost connection with a growing delay and resumes where it stopped (`last_seq`),
// notices a connection that went quiet (no event nor heartbeat), and follows channel changes
// with subscribe/unsubscribe messages instead of reconnecting.
//
// Protocol (realtime/relay.py): ?channels=a,b&token=KEY&last_seq=N; messages
// {"type":"event",seq,channel,data}, {"type":"heartbeat",seq}, {"type":"gap",from_seq,to_seq};
// close codes 4400 bad channel, 4401 bad or missing token, 4429 too slow (resume), 1001 bye.

export type StreamEvent = { seq: number; channel: string; data: unknown };

export type StreamStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'open'; resumedFrom: number | null }
  | { state: 'reconnecting'; attempt: number; inMs: number; reason: string }
  | { state: 'rejected'; code: number; reason: string }
  | { state: 'stopped' };

export type SocketLike = {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(text: string): void;
  close(code?: number, reason?: string): void;
  readonly readyState: number;
};

export type StreamOptions = {
  /** ws(s)://host/v1/stream */
  url: string;
  channels: readonly string[];
  token?: string;
  lastSeq?: number | null;
  onEvent: (event: StreamEvent) => void;
  onStatus?: (status: StreamStatus) => void;
  onGap?: (fromSeq: number, toSeq: number) => void;
  /** No message (an event or a heartbeat, every 15 s by default) for this long: reconnect. */
  silenceMs?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  connect?: (url: string) => SocketLike;
};

const OPEN = 1;
// The relay refuses these for a reason that a retry does not change.
const FINAL_CODES: Record<number, string> = {
  4400: 'the relay refused a channel',
  4401: 'metrics and alerts need a valid API key',
};

export function streamUrl(base: string, channels: readonly string[], token?: string, lastSeq?: number | null): string {
  const url = new URL(base);
  url.searchParams.set('channels', channels.join(','));
  if (token) url.searchParams.set('token', token);
  if (lastSeq !== null && lastSeq !== undefined) url.searchParams.set('last_seq', String(lastSeq));
  return url.toString();
}

/**
 * Where the relay is: the URL the API names in `<meta name="tickerpulse-stream">` when the relay
 * is a service of its own (full mode), else the page's own host, ws or wss as it is http or https.
 */
export function defaultStreamBase(
  location: Pick<Location, 'protocol' | 'host'> = window.location,
  named: string | null | undefined = document.querySelector<HTMLMetaElement>('meta[name="tickerpulse-stream"]')?.content,
): string {
  if (named) return named;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`;
}

export class StreamClient {
  private socket: SocketLike | null = null;
  private channels: string[];
  private token: string | undefined;
  private lastSeq: number | null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private silenceTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  /** Refused by the relay (4400, 4401): waits for new channels or a new token. */
  private rejected = false;
  private readonly options: Required<Pick<StreamOptions, 'silenceMs' | 'initialDelayMs' | 'maxDelayMs' | 'connect'>> &
    StreamOptions;

  constructor(options: StreamOptions) {
    this.options = {
      silenceMs: 45_000,
      initialDelayMs: 500,
      maxDelayMs: 15_000,
      connect: (url) => new WebSocket(url) as unknown as SocketLike,
      ...options,
    };
    this.channels = [...new Set(options.channels)];
    this.token = options.token || undefined;
    this.lastSeq = options.lastSeq ?? null;
  }

  /** The sequence number a reconnect resumes after. */
  get resumeSeq(): number | null {
    return this.lastSeq;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.rejected = false;
    this.clearTimers();
    this.drop();
    this.status({ state: 'stopped' });
  }

  /** Reconnect now (a person pressed "reconnect"), keeping the place in the stream. */
  reconnectNow(): void {
    this.stopped = false;
    this.rejected = false;
    this.clearTimers();
    this.drop();
    this.open();
  }

  setToken(token: string | undefined): void {
    if ((token || undefined) === this.token) return;
    this.token = token || undefined;
    if (!this.stopped || this.rejected) this.reconnectNow(); // the token is part of the URL
  }

  setChannels(channels: readonly string[]): void {
    const next = [...new Set(channels)];
    const added = next.filter((c) => !this.channels.includes(c));
    const removed = this.channels.filter((c) => !next.includes(c));
    this.channels = next;
    if (!added.length && !removed.length) return;
    if (this.rejected) {
      this.reconnectNow();
      return;
    }
    if (this.socket && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify({ subscribe: added, unsubscribe: removed }));
    }
    // Not open: the next connection's URL carries the new channels.
  }

  private open(): void {
    if (this.channels.length === 0) {
      this.status({ state: 'stopped' });
      return;
    }
    const resumedFrom = this.lastSeq;
    this.status({ state: 'connecting', attempt: this.attempt });
    const socket = this.options.connect(streamUrl(this.options.url, this.channels, this.token, this.lastSeq));
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.status({ state: 'open', resumedFrom });
      this.watchSilence();
    };
    socket.onmessage = (message) => {
      if (this.socket !== socket) return;
      this.attempt = 0; // a message, not just an open socket, proves the connection works
      this.watchSilence();
      this.receive(message.data);
    };
    socket.onerror = () => {
      // A close event always follows; that is where the reconnect is decided.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.clearTimers();
      if (this.stopped) return;
      const final = FINAL_CODES[event.code];
      if (final) {
        this.stopped = this.rejected = true;
        this.status({ state: 'rejected', code: event.code, reason: event.reason || final });
        return;
      }
      this.scheduleReconnect(event.reason || (event.code === 4429 ? 'too slow' : `closed (${event.code})`));
    };
  }

  private receive(raw: unknown): void {
    let message: { type?: string; seq?: number; channel?: string; data?: unknown; from_seq?: number; to_seq?: number };
    try {
      message = JSON.parse(String(raw));
    } catch {
      return; // not ours to interpret
    }
    if (message.type === 'event' && typeof message.seq === 'number') {
      if (this.lastSeq !== null && message.seq <= this.lastSeq) return; // replayed twice
      this.lastSeq = message.seq;
      this.options.onEvent({ seq: message.seq, channel: String(message.channel), data: message.data });
    } else if (message.type === 'heartbeat' && typeof message.seq === 'number') {
      // Every event of ours up to the heartbeat's seq was sent before it: resuming from there
      // misses nothing and keeps a quiet channel from looking like a gap after a reconnect.
      this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq);
    } else if (message.type === 'gap') {
      this.options.onGap?.(Number(message.from_seq), Number(message.to_seq));
    }
  }

  private scheduleReconnect(reason: string): void {
    const inMs = Math.min(this.options.maxDelayMs, this.options.initialDelayMs * 2 ** this.attempt);
    this.attempt += 1;
    this.status({ state: 'reconnecting', attempt: this.attempt, inMs, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.open();
    }, inMs);
  }

  private watchSilence(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      // A connection that stopped talking (a sleeping laptop, a dead proxy) may never close.
      this.silenceTimer = null;
      this.drop();
      if (!this.stopped) this.scheduleReconnect('no heartbeat');
    }, this.options.silenceMs);
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(1000, 'client closed');
      } catch {
        // already closed
      }
    }
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.retryTimer = this.silenceTimer = null;
  }

  private status(status: StreamStatus): void {
    this.options.onStatus?.(status);
  }
}
