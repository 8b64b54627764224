// The three states every panel can be in besides "showing data": loading, empty, failed.
import type { ReactNode } from 'react';

import { ApiError } from '@/lib/api-error';

export function Loading({ what }: { what: string }) {
  return (
    <div className="status status-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="status status-empty">{children}</div>;
}

export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const title = error instanceof ApiError ? error.title : 'Something went wrong';
  const detail =
    error instanceof ApiError ? error.detail : error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError && error.status ? ` (${error.status})` : '';
  // Asking again helps after a network error or a 5xx, not after a 4xx.
  const retryable = !(error instanceof ApiError) || error.status === null || error.status >= 500;
  return (
    <div className="status status-error" role="alert">
      <strong>
        {title}
        {status}
      </strong>
      {detail && <p className="problem-detail">{detail}</p>}
      {onRetry && retryable && (
        <button type="button" className="link-button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
