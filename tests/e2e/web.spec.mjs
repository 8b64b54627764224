// The web page as a person uses it, in Debian's Chromium driven by playwright-core, against
// the real API (with its relay) and a Celery worker that tests/e2e/test_web.py started.
// Every step keeps a screenshot in ARTIFACTS. Env: BASE_URL, ADMIN_KEY, CLIENT_KEY, CHROMIUM,
// ARTIFACTS. Exit code 0 when every step passed; each step prints one line.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// playwright-core is one of the web page's dev packages (dashboards/web/node_modules).
const require = createRequire(new URL('../../dashboards/web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const { BASE_URL, ADMIN_KEY, CLIENT_KEY, CHROMIUM, ARTIFACTS } = process.env;
for (const [name, value] of Object.entries({ BASE_URL, ADMIN_KEY, CLIENT_KEY, CHROMIUM, ARTIFACTS })) {
  assert.ok(value, `${name} is not set`);
}
mkdirSync(ARTIFACTS, { recursive: true });
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

async function predict(ticker, horizon = 1) {
  const answer = await fetch(`${BASE_URL}/v1/predictions`, {
    method: 'POST',
    headers: { 'X-API-Key': CLIENT_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ticker, horizon }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await answer.text();
  assert.equal(answer.status, 200, `POST /v1/predictions: ${answer.status} ${text}`);
  return JSON.parse(text);
}

/** Share of the chart's pixels in the forecast's amber (its path and both interval bands). */
const amberShare = (page) =>
  page.$$eval('[data-testid=price-chart] canvas', (canvases) => {
    let amber = 0;
    let total = 0;
    for (const canvas of canvases) {
      const context = canvas.getContext('2d');
      if (!context || !canvas.width || !canvas.height) continue;
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < data.length; i += 4) {
        total += 1;
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        // rgba(217, 119, 6, 0.12-0.55) over white, and the solid forecast line.
        if (a > 0 && r > 200 && r - b > 25 && g - b > 10 && r - g > 10) amber += 1;
      }
    }
    return total ? amber / total : 0;
  });

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
  timeout: 60_000,
});
let step = 'start';
const page = await (await browser.newContext({ viewport: { width: 1400, height: 1100 } })).newPage();
page.setDefaultTimeout(20_000);
const consoleErrors = [];
page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
page.on('pageerror', (error) => consoleErrors.push(String(error)));

// Every /v1/stream connection goes through here, so a step can cut it ("the network is down")
// and see the page reconnect and resume; otherwise messages pass untouched.
const sockets = [];
let outage = false;
await page.routeWebSocket(/\/v1\/stream/, (ws) => {
  const url = new URL(ws.url());
  sockets.push({ url, ws });
  if (outage) {
    ws.close({ code: 1006, reason: 'network down (test)' });
    return;
  }
  ws.connectToServer();
});

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function run(name, body) {
  step = name;
  await body();
  await shot(name);
  console.log(`ok   ${name} (${elapsed()})`);
}

try {
  await run('01-start', async () => {
    await page.goto(BASE_URL, { waitUntil: 'networkidle' });
    await page.getByText('Search a ticker on the left').waitFor();
    await page.getByRole('list', { name: 'Tickers found' }).getByRole('button').first().waitFor();
    assert.equal(await page.getByTestId('api-key-state').textContent(), 'no key: read-only');
    assert.ok(await page.getByRole('button', { name: 'Retrain models' }).isDisabled(), 'retrain needs a key');
  });

  await run('02-search', async () => {
    await page.getByLabel('Search tickers').fill('acm');
    const found = page.getByRole('list', { name: 'Tickers found' }).getByRole('button');
    await page.waitForFunction(() => document.querySelectorAll('.ticker-list .ticker').length === 1);
    assert.match(await found.first().textContent(), /^ACME/);
    await page.getByLabel('Search tickers').fill('zzzz');
    await page.getByText('No ticker matches “zzzz”.').waitFor();
    await page.getByLabel('Search tickers').fill('acm');
    await found.first().waitFor();
  });

  await run('03-chart', async () => {
    await page.getByRole('list', { name: 'Tickers found' }).getByRole('button', { name: /ACME/ }).click();
    const chart = page.getByTestId('price-chart');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=price-chart]')?.dataset.forecastPoints) >= 2);
    const points = Number(await chart.getAttribute('data-price-points'));
    assert.equal(points, 63, 'three months of sessions by default');
    assert.ok(page.url().includes('ticker=ACME'));
    const rows = page.getByRole('table', { name: 'Latest forecasts' }).locator('tbody tr');
    assert.equal(await rows.count(), 2, 'one forecast row per horizon (1 and 5 days)');
    await page.waitForTimeout(300); // the chart paints on the next animation frame
    const share = await amberShare(page);
    assert.ok(share > 0.002, `the forecast band is visible on the chart (amber share ${share.toFixed(4)})`);
    // The model card: skill against the random walk, coverage, version, last trained.
    const models = page.getByRole('region', { name: 'Models' });
    await models.getByText('Skill (MAE vs naive)').first().waitFor();
    await models.getByText(/aim 80 %/).first().waitFor();
    await models.getByText('Last trained').first().waitFor();
    // Significance against the random walk, coverage per volatility tercile and fold by fold.
    await models.getByText(/^p = /).first().waitFor();
    await models.getByText(/calm \d+\.\d · mid \d+\.\d · turbulent \d+\.\d %/).first().waitFor();
    const coverageChart = models.getByRole('img', { name: /80 % interval coverage over \d+ folds/ }).first();
    await coverageChart.waitFor();
    assert.ok((await coverageChart.locator('polyline').getAttribute('points')).split(' ').length >= 2);
    const shown = (sessions) =>
      page.waitForFunction((n) => Number(document.querySelector('[data-testid=price-chart]')?.dataset.pricePoints) === n, sessions);
    await page.getByRole('button', { name: '1Y' }).click();
    await shown(252);
    await page.getByRole('button', { name: '3M' }).click();
    await shown(63);
  });

  await run('04-unknown-ticker', async () => {
    await page.goto(`${BASE_URL}/?ticker=NOPE`, { waitUntil: 'networkidle' });
    const problem = page.getByRole('alert').filter({ hasText: 'Unknown ticker' }).first();
    await problem.waitFor();
    assert.match(await problem.textContent(), /404/);
    assert.ok((await problem.locator('.problem-detail').textContent()).length > 5, 'the problem detail is shown');
  });

  await run('05-live', async () => {
    await page.goto(`${BASE_URL}/?ticker=ACME`, { waitUntil: 'networkidle' });
    await page.getByLabel('API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('api-key-state').filter({ hasText: 'key saved in this browser' }).waitFor();
    await page.locator('[aria-label="predictions stream"][data-state=open]').waitFor();
    await page.locator('[aria-label="metrics and alerts stream"][data-state=open]').waitFor();
    const prediction = await predict('ACME');
    const feed = page.getByRole('list', { name: 'Live predictions' });
    await feed.locator('.feed-item').first().waitFor();
    assert.match(await feed.textContent(), new RegExp(`v${prediction.model_version}`));
    await predict('GLOBEX'); // another ticker's prediction: not on this page's channel
    await page.getByTestId('request-rate').waitFor({ timeout: 30_000 }); // two metrics snapshots
    await page.waitForTimeout(500);
    assert.equal(await feed.locator('.feed-item').count(), 1, 'only ACME predictions are listed');
  });

  await run('06-connection-lost', async () => {
    const feed = page.getByRole('list', { name: 'Live predictions' });
    const lastSeen = Number(await feed.locator('.feed-item').first().getAttribute('data-seq'));
    outage = true;
    for (const { ws } of sockets) ws.close({ code: 1006, reason: 'network down (test)' });
    await page.locator('[aria-label="predictions stream"][data-state=reconnecting]').waitFor();
    await page.getByText(/connection lost/).first().waitFor();
    // Served while the page is cut off: the relay keeps it for the resume.
    const missed = await predict('ACME', 5);
    await page.waitForTimeout(1500);
    await page.locator('[aria-label="predictions stream"][data-state=reconnecting]').waitFor();
    process.env.MISSED_ID = missed.id;
    process.env.LAST_SEEN = String(lastSeen);
  });

  await run('07-resumed', async () => {
    const before = sockets.length;
    outage = false;
    await page.locator('[aria-label="predictions stream"][data-state=open]').waitFor({ timeout: 30_000 });
    const resumed = sockets.slice(before).find(({ url }) => url.searchParams.get('channels') === 'predictions:ACME');
    assert.ok(resumed, 'the page reconnected');
    assert.ok(Number(resumed.url.searchParams.get('last_seq')) >= Number(process.env.LAST_SEEN), 'it resumed with last_seq');
    const feed = page.getByRole('list', { name: 'Live predictions' });
    await page.waitForFunction(() => document.querySelectorAll('[aria-label="Live predictions"] .feed-item').length === 2);
    assert.match(await feed.locator('.feed-item').first().textContent(), /5d/, 'the prediction served during the outage was replayed');
    await page.getByText('live again, resumed where it left off').first().waitFor();
  });

  await run('08-retrain-forbidden', async () => {
    await page.getByLabel('API key').fill(CLIENT_KEY);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Retrain models' }).click();
    const problem = page.getByRole('alert').filter({ hasText: 'Not allowed for this key' });
    await problem.waitFor();
    assert.match(await problem.textContent(), /403/);
    assert.match(await problem.textContent(), /admin/);
  });

  await run('09-retrain-running', async () => {
    await page.getByLabel('API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Retrain models' }).click();
    await page.locator('[data-testid=training-run][data-state=running]').waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=training-run] progress')?.value) > 0, null, { timeout: 120_000 });
  });

  await run('10-retrain-succeeded', async () => {
    const run = page.getByTestId('training-run');
    await page.waitForFunction(
      () => ['succeeded', 'failed'].includes(document.querySelector('[data-testid=training-run]')?.dataset.state),
      null,
      { timeout: 300_000, polling: 500 },
    );
    assert.equal(await run.getAttribute('data-state'), 'succeeded', await run.textContent());
    assert.equal(await page.getByTestId('training-state').textContent(), 'succeeded');
    await page.getByRole('button', { name: 'Retrain models' }).waitFor();
    await page.getByRole('region', { name: 'Models' }).getByText('just now').first().waitFor({ timeout: 30_000 });
  });

  const unexpected = consoleErrors.filter((text) => !/status of 40[34]|network down/.test(text));
  assert.deepEqual(unexpected, [], 'no errors in the browser console');
  console.log(`web page: all steps passed in ${elapsed()}; screenshots in ${ARTIFACTS}`);
} catch (error) {
  await shot(`failed-${step}`).catch(() => {});
  console.error(`FAIL ${step} (${elapsed()}): ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
