import { fireEvent, render, screen } from '@testing-library/react';

import { ApiError } from '@/lib/api-error';

import { ErrorNotice } from './Status';

describe('ErrorNotice', () => {
  it('shows the problem title, status and detail', () => {
    render(<ErrorNotice error={new ApiError(403, 'Not allowed for this key', "the key 'ci' has role client; this needs admin")} />);
    expect(screen.getByRole('alert').textContent).toContain('Not allowed for this key (403)');
    expect(screen.getByText("the key 'ci' has role client; this needs admin")).toBeTruthy();
  });

  it('offers to try again after a server or network error, not after a 4xx', () => {
    const retry = vi.fn();
    const { rerender } = render(<ErrorNotice error={new ApiError(null, 'Cannot reach the API', 'Failed to fetch')} onRetry={retry} />);
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(retry).toHaveBeenCalledOnce();
    rerender(<ErrorNotice error={new ApiError(404, 'Unknown ticker', 'no ticker NOPE')} onRetry={retry} />);
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
  });
});
