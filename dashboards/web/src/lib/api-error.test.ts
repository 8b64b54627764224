import { ApiError, toApiError } from './api-error';

const answer = (status: number, statusText = '') => new Response(null, { status, statusText });

describe('toApiError', () => {
  it('keeps the title and detail of a problem+json body', () => {
    const error = toApiError(
      { type: 'about:blank', title: 'Unknown ticker', status: 404, detail: 'NOPE is not in /v1/tickers' },
      answer(404),
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(404);
    expect(error.title).toBe('Unknown ticker');
    expect(error.detail).toBe('NOPE is not in /v1/tickers');
  });

  it('reads a FastAPI validation list as one sentence', () => {
    const error = toApiError(
      { detail: [{ loc: ['query', 'limit'], msg: 'must be at most 10000' }] },
      answer(422, 'Unprocessable Entity'),
    );
    expect(error.title).toBe('Unprocessable Entity');
    expect(error.detail).toBe('limit: must be at most 10000');
  });

  it('says the API could not be reached when no response came', () => {
    const error = toApiError(new TypeError('Failed to fetch'));
    expect(error.status).toBeNull();
    expect(error.title).toBe('Cannot reach the API');
    expect(error.detail).toBe('Failed to fetch');
  });

  it('shows the start of a plain-text body', () => {
    const error = toApiError('Bad gateway\n', answer(502, 'Bad Gateway'));
    expect(error.message).toBe('Bad Gateway: Bad gateway');
  });
});
