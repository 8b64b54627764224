// Errors from the API as one type: the problem+json `title` and `detail` the API writes for
// every error, or a sentence about the network when no answer came at all.

export class ApiError extends Error {
  readonly status: number | null;
  readonly title: string;
  readonly detail: string;

  constructor(status: number | null, title: string, detail: string) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

type ProblemLike = { title?: unknown; detail?: unknown; status?: unknown };

function describeDetail(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  // FastAPI's default validation body: [{loc, msg}, ...]
  if (Array.isArray(detail)) {
    return detail
      .map((item: { loc?: unknown[]; msg?: string }) =>
        [item.loc?.filter((part) => part !== 'query' && part !== 'body').join('.'), item.msg]
          .filter(Boolean)
          .join(': '),
      )
      .join('; ');
  }
  return detail === undefined || detail === null ? '' : JSON.stringify(detail);
}

/** The ApiError for a failed call: `body` is what the client parsed, `response` the answer. */
export function toApiError(body: unknown, response?: Response): ApiError {
  if (!response) {
    const reason = body instanceof Error ? body.message : describeDetail(body);
    return new ApiError(null, 'Cannot reach the API', reason || 'the request did not complete');
  }
  const status = response.status;
  const fallbackTitle = response.statusText || `HTTP ${status}`;
  if (body && typeof body === 'object') {
    const problem = body as ProblemLike;
    const title = typeof problem.title === 'string' ? problem.title : fallbackTitle;
    return new ApiError(status, title, describeDetail(problem.detail));
  }
  const text = typeof body === 'string' ? body.trim().slice(0, 300) : '';
  return new ApiError(status, fallbackTitle, text);
}
