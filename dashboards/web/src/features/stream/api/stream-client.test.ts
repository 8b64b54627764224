import { defaultStreamBase, StreamClient, streamUrl, type SocketLike, type StreamEvent, type StreamStatus } from './stream-client';

class FakeSocket implements SocketLike {
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  readyState = 0;
  sent: string[] = [];
  closedBy: number | null = null;

  constructor(readonly url: string) {}

  send(text: string) {
    this.sent.push(text);
  }
  close(code = 1000) {
    this.closedBy = code;
    this.readyState = 3;
  }
  // What the server does:
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  hangUp(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function setup(overrides: Partial<ConstructorParameters<typeof StreamClient>[0]> = {}) {
  const sockets: FakeSocket[] = [];
  const events: StreamEvent[] = [];
  const statuses: StreamStatus[] = [];
  const gaps: Array<[number, number]> = [];
  const client = new StreamClient({
    url: 'ws://example.test/v1/stream',
    channels: ['predictions:ACME'],
    onEvent: (event) => events.push(event),
    onStatus: (status) => statuses.push(status),
    onGap: (from, to) => gaps.push([from, to]),
    connect: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    ...overrides,
  });
  const params = (i: number) => new URL(sockets[i].url).searchParams;
  return { client, sockets, events, statuses, gaps, params };
}

const event = (seq: number, channel = 'predictions:ACME', data: object = { ticker: 'ACME' }) => ({
  type: 'event',
  seq,
  channel,
  data,
});

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('streamUrl', () => {
  it('carries channels, token and last_seq as the relay reads them', () => {
    const url = new URL(streamUrl('ws://h/v1/stream', ['predictions:ACME', 'metrics'], 'k3y', 42));
    expect(url.searchParams.get('channels')).toBe('predictions:ACME,metrics');
    expect(url.searchParams.get('token')).toBe('k3y');
    expect(url.searchParams.get('last_seq')).toBe('42');
  });

  it('leaves out what is not known', () => {
    expect(streamUrl('ws://h/v1/stream', ['alerts'])).toBe('ws://h/v1/stream?channels=alerts');
  });

  it('follows the page (wss under https), or the relay the API names', () => {
    expect(defaultStreamBase({ protocol: 'https:', host: 'tp.example:8443' })).toBe('wss://tp.example:8443/v1/stream');
    expect(defaultStreamBase({ protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/v1/stream');
    expect(defaultStreamBase({ protocol: 'http:', host: '127.0.0.1:8000' }, 'ws://127.0.0.1:8001/v1/stream')).toBe(
      'ws://127.0.0.1:8001/v1/stream',
    );
  });
});

describe('StreamClient', () => {
  it('delivers events in order and reports the connection open', () => {
    const { client, sockets, events, statuses } = setup();
    client.start();
    sockets[0].accept();
    sockets[0].deliver(event(7));
    sockets[0].deliver(event(8));
    expect(events.map((e) => e.seq)).toEqual([7, 8]);
    expect(statuses.at(-1)).toEqual({ state: 'open', resumedFrom: null });
  });

  it('reconnects after a lost connection and resumes after the last event it got', () => {
    const { client, sockets, events, statuses, params } = setup();
    client.start();
    sockets[0].accept();
    sockets[0].deliver(event(100));
    sockets[0].hangUp(1006);
    expect(statuses.at(-1)).toMatchObject({ state: 'reconnecting', attempt: 1, inMs: 500 });
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(2);
    expect(params(1).get('last_seq')).toBe('100');
    sockets[1].accept();
    expect(statuses.at(-1)).toEqual({ state: 'open', resumedFrom: 100 });
    // The relay replays from its ring: an event seen before is not delivered twice.
    sockets[1].deliver(event(100));
    sockets[1].deliver(event(101));
    expect(events.map((e) => e.seq)).toEqual([100, 101]);
  });

  it('waits longer after each failed attempt, up to the maximum, and starts over after a message', () => {
    const { client, sockets, statuses } = setup({ initialDelayMs: 500, maxDelayMs: 3000 });
    client.start();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      sockets[i].hangUp(1006);
      const status = statuses.at(-1) as Extract<StreamStatus, { state: 'reconnecting' }>;
      delays.push(status.inMs);
      vi.advanceTimersByTime(status.inMs);
    }
    expect(delays).toEqual([500, 1000, 2000, 3000, 3000]);
    sockets[5].accept();
    sockets[5].deliver({ type: 'heartbeat', seq: 5 });
    sockets[5].hangUp(1001, 'relay shutting down');
    expect(statuses.at(-1)).toMatchObject({ state: 'reconnecting', inMs: 500, reason: 'relay shutting down' });
  });

  it('resumes from a heartbeat: a quiet channel is not a gap', () => {
    const { client, sockets, params } = setup();
    client.start();
    sockets[0].accept();
    sockets[0].deliver(event(10));
    sockets[0].deliver({ type: 'heartbeat', seq: 250 });
    sockets[0].hangUp(1006);
    vi.advanceTimersByTime(500);
    expect(params(1).get('last_seq')).toBe('250');
  });

  it('reconnects at once after being cut off as too slow (4429)', () => {
    const { client, sockets, statuses, params } = setup();
    client.start();
    sockets[0].accept();
    sockets[0].deliver(event(3));
    sockets[0].hangUp(4429, 'too slow: 1000 messages behind');
    expect(statuses.at(-1)).toMatchObject({ state: 'reconnecting', reason: 'too slow: 1000 messages behind' });
    vi.advanceTimersByTime(500);
    expect(params(1).get('last_seq')).toBe('3');
  });

  it('does not retry a refused token (4401) and says why', () => {
    const { client, sockets, statuses } = setup({ channels: ['alerts'], token: 'wrong' });
    client.start();
    sockets[0].accept();
    sockets[0].hangUp(4401, 'the token is not a valid API key');
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(statuses.at(-1)).toEqual({ state: 'rejected', code: 4401, reason: 'the token is not a valid API key' });
  });

  it('connects again with a new token', () => {
    const { client, sockets, params } = setup({ channels: ['alerts'], token: 'wrong' });
    client.start();
    sockets[0].accept();
    sockets[0].hangUp(4401, 'bad');
    client.setToken('right');
    expect(sockets).toHaveLength(2);
    expect(params(1).get('token')).toBe('right');
  });

  it('treats a silent connection as lost', () => {
    const { client, sockets, statuses } = setup({ silenceMs: 40_000 });
    client.start();
    sockets[0].accept();
    vi.advanceTimersByTime(39_000);
    sockets[0].deliver({ type: 'heartbeat', seq: 1 });
    vi.advanceTimersByTime(39_000);
    expect(sockets[0].closedBy).toBeNull();
    vi.advanceTimersByTime(1_000);
    expect(sockets[0].closedBy).toBe(1000);
    expect(statuses.at(-1)).toMatchObject({ state: 'reconnecting', reason: 'no heartbeat' });
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(2);
  });

  it('changes channels on the open connection, and uses them on the next one', () => {
    const { client, sockets, params } = setup();
    client.start();
    sockets[0].accept();
    client.setChannels(['predictions:GOOG']);
    expect(JSON.parse(sockets[0].sent[0])).toEqual({ subscribe: ['predictions:GOOG'], unsubscribe: ['predictions:ACME'] });
    sockets[0].hangUp(1006);
    vi.advanceTimersByTime(500);
    expect(params(1).get('channels')).toBe('predictions:GOOG');
  });

  it('reports a gap the relay could not replay', () => {
    const { client, sockets, gaps } = setup({ lastSeq: 5 });
    client.start();
    sockets[0].accept();
    sockets[0].deliver({ type: 'gap', from_seq: 6, to_seq: 90 });
    expect(gaps).toEqual([[6, 90]]);
  });

  it('stops for good: no reconnect after stop()', () => {
    const { client, sockets, statuses } = setup();
    client.start();
    sockets[0].accept();
    client.stop();
    expect(sockets[0].closedBy).toBe(1000);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(statuses.at(-1)).toEqual({ state: 'stopped' });
  });
});
