import { test, expect, login, openTab } from './fixtures';
import { createServer, Server as HttpServer } from 'node:http';
import { Page } from '@playwright/test';

// One model on 127.0.0.1 behind both paths: LiteLLM's and the direct provider's. It says
// which path a call took, so the test sees where each request went.
let upstream: HttpServer;
let upstreamPort = 0;
test.beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-scope',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: `via ${req.headers.authorization}` }, finish_reason: 'stop' }],
      }));
    });
  });
  upstreamPort = await new Promise<number>((ok) => {
    upstream.listen(0, '127.0.0.1', () => ok((upstream.address() as { port: number }).port));
  });
});
test.afterAll(async () => {
  await new Promise((done) => upstream.close(done));
});
test.use({
  serverEnv: async ({}, use) => use({
    BREAKGLASS_LITELLM_URL: `http://127.0.0.1:${upstreamPort}`,
    BREAKGLASS_LITELLM_API_KEY: 'litellm',
    BREAKGLASS_BYPASS_URL: `http://127.0.0.1:${upstreamPort}`,
    BREAKGLASS_BYPASS_API_KEY: 'direct',
  }),
});

async function createKey(page: Page, name: string): Promise<string> {
  const card = page.getByTestId('api-keys-card');
  const shown = card.getByTestId('new-key').locator('code');
  const before = (await shown.count()) ? await shown.textContent() : null;
  await card.getByLabel('Name').fill(name);
  await card.getByRole('button', { name: 'Create key' }).click();
  await expect(card.getByTestId('api-keys-table').locator('tr', { hasText: name })).toHaveCount(1);
  if (before !== null) await expect(shown).not.toHaveText(before);
  return (await shown.textContent())!.trim();
}

/** Which path a call took: "litellm" (scanned) or "direct" (bypassed). */
async function path(page: Page, url: string, key: string, model: string): Promise<string> {
  const res = await page.request.post(`${url}/v1/chat/completions`, {
    headers: { Authorization: `Bearer ${key}` },
    data: { model, messages: [{ role: 'user', content: 'status of the nightly build' }] },
  });
  expect(res.status()).toBe(200);
  return (await res.json()).choices[0].message.content.replace('via Bearer ', '');
}

test('an operator scopes a window to one key and one model; everything else stays scanned', async ({ page, context, server }) => {
  await login(page, server);
  const fleet = await createKey(page, 'ci-fleet');
  const bot = await createKey(page, 'support-bot');
  const other = await openTab(context, server, '/traffic');

  await page.getByRole('button', { name: 'BREAK-GLASS' }).click();
  const dialog = page.getByRole('dialog', { name: 'Activate Break-Glass' });
  await page.locator('#bg-reason').fill('The vendor path is down for the CI fleet only');
  await dialog.getByLabel('30m').check();
  const scope = dialog.getByTestId('scope-fields');
  await expect(scope.getByTestId('scope-words')).toHaveText('Bypasses all traffic.');
  await scope.getByRole('checkbox', { name: /ci-fleet/ }).check();
  await page.locator('#bg-models').fill(Array.from({ length: 21 }, (_, i) => `m${i}`).join(','));
  await expect(scope.getByTestId('scope-error')).toContainText('at most 20 (now 21)');
  await page.locator('#bg-models').fill('gpt-4o');
  await expect(scope.getByTestId('scope-error')).toBeEmpty();
  await expect(scope.getByTestId('scope-words')).toHaveText(/^Bypasses only API key ci-fleet \(bgk_[0-9a-f]{6}…\) \(#1\) when calling model gpt-4o\.$/);
  await page.locator('#bg-confirm').fill('CONFIRM');
  await dialog.getByRole('button', { name: 'Activate Break-Glass', exact: true }).click();
  await expect(dialog).toBeHidden();

  for (const tab of [page, other]) {
    const banner = tab.getByTestId('break-glass-banner');
    await expect(banner).toContainText('Shield bypassed for only API key ci-fleet');
    await expect(banner).toContainText('when calling model gpt-4o');
  }
  await expect(page.getByTestId('card-scope')).toContainText('only API key ci-fleet');

  // Only what is in scope goes past the shield.
  expect(await path(page, server.url, fleet, 'gpt-4o')).toBe('direct');
  expect(await path(page, server.url, fleet, 'gpt-4o-mini')).toBe('litellm');
  expect(await path(page, server.url, bot, 'gpt-4o')).toBe('litellm');

  // The Traffic Monitor: one bypassed record, two scanned ones.
  const rows = other.getByTestId('traffic-table').locator('tr.traffic-row');
  await other.goto(`${server.url}/traffic?source=break-glass`);
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('BYPASSED');
  await other.goto(`${server.url}/traffic?source=litellm`);
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: 'ALLOW' })).toHaveCount(2);

  await page.getByRole('button', { name: 'Deactivate Now' }).click();
  await page.getByRole('button', { name: 'Yes, deactivate' }).click();
  await expect(page.getByTestId('break-glass-banner')).toHaveCount(0);
  await page.getByTestId('awaiting-review').getByRole('link', { name: 'Window #1' }).click();
  await expect(page.getByTestId('review-scope')).toContainText('only API key ci-fleet');
  await expect(page.getByTestId('review-unscanned')).toHaveText('1');
});

test('a drill runs the procedure in every tab marked DRILL, bypasses nothing and leaves no cool-down', async ({ page, context, server }) => {
  await login(page, server);
  const key = await createKey(page, 'ci-fleet');
  const card = page.getByTestId('break-glass-card');
  await expect(card.getByTestId('last-drill')).toContainText('No drill has been run yet.');
  await expect(card.getByTestId('last-drill')).toHaveAttribute('data-overdue', 'true');
  const other = await openTab(context, server, '/alerts');

  await card.getByRole('button', { name: 'Start drill' }).click();
  const dialog = page.getByRole('dialog', { name: 'Start a Break-Glass Drill' });
  await expect(dialog.getByTestId('drill-hint')).toContainText('Nothing is bypassed');
  await page.locator('#bg-reason').fill('Quarterly rehearsal of the break-glass procedure');
  await dialog.getByLabel('15m').check();
  await page.locator('#bg-confirm').fill('CONFIRM');
  await dialog.getByRole('button', { name: 'Start drill', exact: true }).click();
  await expect(dialog).toBeHidden();

  for (const tab of [page, other]) {
    const banner = tab.getByTestId('break-glass-banner');
    await expect(banner).toHaveAttribute('data-drill', 'true');
    await expect(banner).toContainText('DRILL — BREAK-GLASS REHEARSAL');
    await expect(banner).toContainText('Nothing is bypassed — traffic is still scanned.');
    await expect(banner.getByTestId('countdown')).toHaveText(/^1[45]:\d\d$/);
  }
  await expect(other.getByTestId('alerts-table')).toContainText('[DRILL] Break-Glass Drill Started');
  await expect(card.getByTestId('last-drill')).toContainText('(today)');
  await expect(card.getByTestId('last-drill')).toHaveAttribute('data-overdue', 'false');
  // A real activation stays possible during a drill.
  await expect(card.getByRole('button', { name: 'BREAK-GLASS' })).toBeEnabled();

  expect(await path(page, server.url, key, 'gpt-4o')).toBe('litellm');

  await other.getByRole('button', { name: 'Deactivate Now' }).click();
  await other.getByRole('button', { name: 'Yes, deactivate' }).click();
  for (const tab of [page, other]) {
    await expect(tab.getByTestId('break-glass-banner')).toHaveCount(0);
  }
  await expect(card.getByTestId('break-glass-state')).toContainText('Inactive');
  await expect(card.getByRole('button', { name: 'BREAK-GLASS' })).toBeEnabled();
  await expect(other.getByTestId('alerts-table')).toContainText('[DRILL] Break-Glass Deactivated');

  // Its review waits in its own list, marked as a drill.
  const drills = card.getByTestId('awaiting-drill-review');
  await expect(drills).toContainText('Drills waiting for review');
  await expect(card.getByTestId('awaiting-review')).toHaveCount(0);
  await drills.getByRole('link', { name: 'Drill #1' }).click();
  await expect(page.getByRole('heading', { name: 'Break-glass drill #1 review' })).toBeVisible();
  await expect(page.getByTestId('review-drill')).toContainText('nothing was bypassed');
});
