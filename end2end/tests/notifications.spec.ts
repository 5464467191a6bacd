import { test, expect, login, activateByApi } from './fixtures';
import { createServer, Server as HttpServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const SIGNING_KEY = 'the ops webhook signing key, 32+ characters';

type Received = { key: string; event: string; signed: boolean };

// A webhook receiver as a consumer writes one: it checks the signature over the raw body and
// that the timestamp is recent.
let receiver: HttpServer;
let port = 0;
const received: Received[] = [];
test.beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const timestamp = String(req.headers['x-breakglass-timestamp'] ?? '');
      const given = Buffer.from(String(req.headers['x-breakglass-signature'] ?? ''));
      const expected = Buffer.from(
        'v1=' + createHmac('sha256', SIGNING_KEY).update(`${timestamp}.`).update(body).digest('hex'),
      );
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
      const signed = fresh && given.length === expected.length && timingSafeEqual(given, expected);
      const json = JSON.parse(body.toString());
      received.push({ key: String(req.headers['idempotency-key']), event: json.event, signed });
      res.writeHead(signed ? 204 : 401);
      res.end();
    });
  });
  port = await new Promise<number>((ok) => {
    receiver.listen(0, '127.0.0.1', () => ok((receiver.address() as { port: number }).port));
  });
});
test.afterAll(async () => {
  await new Promise((done) => receiver.close(done));
});
test.use({
  serverEnv: async ({}, use) =>
    use({
      BREAKGLASS_SECRETS_KEY: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
      BREAKGLASS_NOTIFY_POLL_MS: '50',
    }),
});

test('an admin adds a signed webhook, tests it, and sees each delivery on the Alerts page', async ({ page, server }) => {
  await login(page, server);
  const card = page.getByTestId('channels-card');
  await expect(card).toContainText('No channels');
  await card.getByLabel('Name').fill('ops webhook');
  await card.getByLabel('Kind').selectOption('webhook');
  await card.getByLabel('URL').fill(`http://127.0.0.1:${port}/hook`);
  await card.getByLabel('Secret').fill(SIGNING_KEY);
  // Not told of failed-login bursts.
  await card.getByLabel('Failed-login bursts').uncheck();
  await card.getByRole('button', { name: 'Add channel' }).click();
  const row = card.getByTestId('channels-table').locator('tr', { hasText: 'ops webhook' });
  await expect(row).toContainText('stored encrypted');
  await expect(row).toContainText('Activation');
  await expect(row).not.toContainText('Failed-login bursts');
  await expect(page.locator('body')).not.toContainText(SIGNING_KEY);

  await row.getByRole('button', { name: 'Send test' }).click();
  await expect(card.getByTestId('channel-test-queued')).toContainText('Test queued for ops webhook');
  await expect.poll(() => received.map((r) => r.event)).toContain('test');

  await activateByApi(page, server, 'webhook check in the browser test');
  await expect.poll(() => received.map((r) => r.event).sort()).toEqual(['ack_due', 'activation', 'test']);
  expect(received.every((r) => r.signed)).toBe(true);

  await page.getByRole('link', { name: 'Alerts' }).click();
  const log = page.getByTestId('delivery-log');
  await expect(async () => {
    await log.getByRole('button', { name: 'Refresh' }).click();
    const rows = log.getByTestId('deliveries-table').locator('tbody tr');
    await expect(rows).toHaveCount(3, { timeout: 500 });
    await expect(rows.filter({ hasText: 'delivered' })).toHaveCount(3, { timeout: 500 });
  }).toPass();
  await expect(log).toContainText('Activation: Break-Glass Activated');
});
