import { test, expect, login } from './fixtures';
import { createServer } from 'node:net';

let downPort = 0;

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => ok(port));
    });
  });
}

test('an admin creates an API key that is shown once, then revokes it', async ({ page, server }) => {
  await login(page, server);
  const card = page.getByTestId('api-keys-card');
  await card.getByLabel('Name').fill('agent fleet');
  await card.getByRole('button', { name: 'Create key' }).click();
  const shown = card.getByTestId('new-key');
  await expect(shown).toContainText('it will not be shown again');
  const secret = (await shown.locator('code').textContent())!.trim();
  expect(secret).toMatch(/^bgk_[0-9a-f]{64}$/);

  const row = card.getByTestId('api-keys-table').locator('tr', { hasText: 'agent fleet' });
  await expect(row).toContainText(secret.slice(0, 10));
  await expect(row).not.toContainText(secret);
  await expect(row).toContainText('never');

  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toContainText('revoked');
  const res = await page.request.post(`${server.url}/v1/chat/completions`, {
    headers: { Authorization: `Bearer ${secret}` },
    data: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
  });
  expect(res.status()).toBe(401);
});

test('the shield mode is switched on the Shield Settings card and audited', async ({ page, server }) => {
  await login(page, server);
  const card = page.getByTestId('shield-card');
  await expect(card.getByTestId('shield-mode')).toContainText('Mode: OBSERVE');
  await card.getByRole('button', { name: 'Use BLOCK' }).click();
  await expect(card.getByTestId('shield-mode')).toContainText('Mode: BLOCK');
  await expect(card.getByRole('button', { name: 'Use BLOCK' })).toBeDisabled();
  await page.goto(`${server.url}/audit?action=shield.mode`);
  await expect(page.getByTestId('audit-table')).toContainText('"mode":"BLOCK"');
});

test.describe('with LiteLLM down', () => {
  test.beforeAll(async () => {
    downPort = await closedPort();
  });
  test.use({ serverEnv: async ({}, use) => use({ BREAKGLASS_LITELLM_URL: `http://127.0.0.1:${downPort}` }) });

  test('the Break-Glass card says that break-glass exists for this', async ({ page, server }) => {
    await login(page, server);
    const card = page.getByTestId('api-keys-card');
    await card.getByLabel('Name').fill('agent');
    await card.getByRole('button', { name: 'Create key' }).click();
    const secret = (await card.getByTestId('new-key').locator('code').textContent())!.trim();
    await expect(page.getByTestId('litellm-outage')).toHaveCount(0);

    const res = await page.request.post(`${server.url}/v1/chat/completions`, {
      headers: { Authorization: `Bearer ${secret}` },
      data: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
    });
    expect(res.status()).toBe(502);
    // Pushed live: the alert event refreshes the card without a reload.
    await expect(page.getByTestId('litellm-outage')).toContainText('Break-glass exists for exactly this');

    await page.getByRole('link', { name: 'Traffic Monitor' }).click();
    await expect(page.getByTestId('traffic-table')).toContainText('502');
  });
});
