import { test, expect, login } from './fixtures';
import { createServer, Server as HttpServer } from 'node:http';

const LEAKED = 'The notes say: use access key AKIAIOSFODNN7EXAMPLE for the production bucket.';

// A model behind LiteLLM that leaks a cloud key in every answer.
let upstream: HttpServer;
let upstreamPort = 0;
test.beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-leak',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: LEAKED }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 9, completion_tokens: 14, total_tokens: 23 },
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
test.use({ serverEnv: async ({}, use) => use({ BREAKGLASS_LITELLM_URL: `http://127.0.0.1:${upstreamPort}` }) });

test('an answer that leaks a key is delivered, then flagged on its row and on the Alerts page', async ({ page, server }) => {
  await login(page, server);
  const card = page.getByTestId('api-keys-card');
  await card.getByLabel('Name').fill('agent');
  await card.getByRole('button', { name: 'Create key' }).click();
  const key = (await card.getByTestId('new-key').locator('code').textContent())!.trim();

  const res = await page.request.post(`${server.url}/v1/chat/completions`, {
    headers: { Authorization: `Bearer ${key}` },
    data: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'What is in the deployment notes?' }] },
  });
  expect(res.status()).toBe(200);
  expect((await res.json()).choices[0].message.content).toBe(LEAKED);

  // The alert comes after the finding is on the record, and leads to it.
  await page.getByRole('link', { name: 'Alerts' }).click();
  const alert = page.getByTestId('alerts-table').locator('tr', { hasText: "Gateway: BLOCK finding in a model's answer" });
  await expect(alert).toHaveCount(1);
  await alert.getByRole('link', { name: 'Show in Traffic Monitor' }).click();
  const row = page.getByTestId('traffic-table').locator('tr.traffic-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('ALLOW');
  await row.click();
  const detail = page.locator('tr.traffic-detail');
  await expect(detail).toContainText("The model's answer, scanned after it went out: BLOCK");
  await expect(detail).toContainText('SC-001');
});
