// The API client in src/client is generated from openapi.json (exported from the FastAPI
// app by `scripts/web.sh spec`): `npm run generate`. Never edit src/client by hand.
import { defineConfig } from '@hey-api/openapi-ts';

// FastAPI's operation ids carry the path and method (get_prices_v1_prices__ticker__get);
// the function name only needs the handler's name (getPrices).
const handlerName = (operationId: string) =>
  operationId
    .replace(/_v1_.*$/, '')
    .replace(/_(healthz|readyz|metrics)_get$/, '')
    .replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

export default defineConfig({
  input: './openapi.json',
  output: { path: './src/client' },
  plugins: [
    '@hey-api/typescript',
    { name: '@hey-api/sdk', operations: { methodName: handlerName } },
    '@hey-api/client-fetch',
  ],
});
