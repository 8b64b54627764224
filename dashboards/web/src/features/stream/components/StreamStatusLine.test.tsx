import { fireEvent, render, screen } from '@testing-library/react';

import { StreamStatusLine } from './StreamStatusLine';

describe('StreamStatusLine', () => {
  it('says a lost connection is being retried, with a countdown and a way to retry now', () => {
    const reconnect = vi.fn();
    render(
      <StreamStatusLine
        name="predictions"
        status={{ state: 'reconnecting', attempt: 2, inMs: 2000, reason: 'closed (1006)' }}
        gap={null}
        onReconnect={reconnect}
      />,
    );
    expect(screen.getByRole('status').textContent).toContain('connection lost (closed (1006)); reconnecting in 2 s');
    fireEvent.click(screen.getByRole('button', { name: 'Reconnect now' }));
    expect(reconnect).toHaveBeenCalledOnce();
  });

  it('tells a resumed connection from a first one, and mentions what could not be replayed', () => {
    const { rerender } = render(
      <StreamStatusLine name="alerts" status={{ state: 'open', resumedFrom: null }} gap={null} onReconnect={() => {}} />,
    );
    expect(screen.getByRole('status').textContent).toBe('alerts: live');
    rerender(
      <StreamStatusLine
        name="alerts"
        status={{ state: 'open', resumedFrom: 41 }}
        gap={{ fromSeq: 3, toSeq: 9 }}
        onReconnect={() => {}}
      />,
    );
    expect(screen.getByRole('status').textContent).toContain('live again, resumed where it left off');
    expect(screen.getByRole('status').textContent).toContain('some earlier messages could not be replayed');
    expect(screen.queryByRole('button')).toBeNull();
  });
});
