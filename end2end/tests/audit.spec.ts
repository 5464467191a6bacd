import { test, expect, login } from './fixtures';

test('the audit trail pages through every entry with Older and Newest', async ({ page, server }) => {
  await login(page, server);
  // 101 audited actions of one kind: one more than a page holds.
  for (let i = 0; i < 101; i++) {
    const res = await page.request.post(`${server.url}/api/keys`, {
      headers: { Origin: server.url },
      data: { name: `agent key ${i}`, scopes: ['gateway'] },
    });
    expect(res.status()).toBe(201);
  }
  await page.goto(`${server.url}/audit?action=api_key.create`);
  const rows = page.getByTestId('audit-table').locator('tbody tr');
  await expect(rows).toHaveCount(100);
  await expect(rows.first()).toContainText('agent key 100');
  await expect(page.getByRole('link', { name: '← Newest' })).toHaveCount(0);

  await page.getByRole('link', { name: 'Older →' }).click();
  await expect(page).toHaveURL(/cursor=\d+/);
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('"name":"agent key 0"');
  await expect(page.getByRole('link', { name: 'Older →' })).toHaveCount(0);

  await page.getByRole('link', { name: '← Newest' }).click();
  await expect(rows).toHaveCount(100);
  await expect(page).not.toHaveURL(/cursor=/);
  await expect(page).toHaveURL(/action=api_key.create/);
});
