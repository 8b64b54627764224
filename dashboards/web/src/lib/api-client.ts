// The one API client: the generated one (src/client), pointed at the page's own origin, with
// the stored API key for the operations whose OpenAPI security asks for it.
import { client } from '@/client/client.gen';

import { toApiError } from './api-error';
import { readApiKey } from './api-key';

client.setConfig({
  baseUrl: '',
  auth: () => readApiKey() || undefined,
});

type Answer = { data?: unknown; error?: unknown; response?: Response };
// The generated calls answer {data, error: undefined} | {data: undefined, error}: the data's type.
type DataOf<A> = A extends { data: infer D } ? Exclude<D, undefined> : never;

/** The data of a call, or an ApiError with the problem's title and detail. */
export async function unwrap<A extends Answer>(call: Promise<A>): Promise<DataOf<A>> {
  const { data, error, response } = await call;
  if (error !== undefined || !response || !response.ok) throw toApiError(error, response);
  return data as DataOf<A>;
}

export { client };
