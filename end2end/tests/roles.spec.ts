import { test, expect, login, activateByApi, openTab } from './fixtures';

const PASSWORD = 'a long enough password';

test('an admin creates a viewer, who sees the banner but no controls', async ({ page, browser, server }) => {
  await login(page, server);
  const card = page.getByTestId('operators-card');
  await card.getByLabel('Username', { exact: true }).fill('vera');
  await card.getByLabel('Password', { exact: true }).fill('too short');
  await card.getByLabel('Role', { exact: true }).selectOption('viewer');
  await card.getByRole('button', { name: 'Create operator' }).click();
  await expect(card.getByRole('alert')).toContainText('at least 12 characters');
  await card.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await card.getByRole('button', { name: 'Create operator' }).click();
  await expect(card.getByTestId('operator-vera')).toContainText('enabled');

  await activateByApi(page, server, 'outage while a viewer watches');
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await login(viewer, server, 'vera', PASSWORD);
  await expect(viewer.getByTestId('break-glass-banner')).toContainText('outage while a viewer watches');
  await expect(viewer.getByRole('button', { name: 'Deactivate Now' })).toHaveCount(0);
  await expect(viewer.getByRole('button', { name: 'Extend', exact: true })).toHaveCount(0);
  await expect(viewer.getByTestId('break-glass-button')).toHaveCount(0);
  await expect(viewer.getByTestId('break-glass-card')).toContainText('Your role cannot activate break-glass.');
  await expect(viewer.getByTestId('operators-card')).toHaveCount(0);
  await expect(viewer.getByTestId('api-keys-card')).toHaveCount(0);
  await expect(viewer.getByRole('link', { name: 'Audit Trail' })).toHaveCount(0);
  await expect(viewer.getByRole('link', { name: 'Traffic Monitor' })).toBeVisible();

  // The server refuses what the page does not offer.
  const res = await viewer.request.post(`${server.url}/api/break-glass/deactivate`, { headers: { Origin: server.url } });
  expect(res.status()).toBe(403);

  // Disabling her ends her session: her next page load goes to the login page.
  await card.getByTestId('operator-vera').getByRole('button', { name: 'Disable' }).click();
  await expect(card.getByTestId('operator-vera')).toContainText('disabled');
  await viewer.goto(`${server.url}/configuration`);
  await expect(viewer).toHaveURL(/\/login$/);
  await viewerContext.close();
});

test('an operator can deactivate but not activate', async ({ page, browser, server }) => {
  await login(page, server);
  const created = await page.request.post(`${server.url}/api/operators`, {
    headers: { Origin: server.url },
    data: { username: 'otto', password: PASSWORD, role: 'operator' },
  });
  expect(created.status()).toBe(201);

  const context = await browser.newContext();
  const operator = await context.newPage();
  await login(operator, server, 'otto', PASSWORD);
  await expect(operator.getByTestId('break-glass-button')).toHaveCount(0);
  const refused = await operator.request.post(`${server.url}/api/break-glass/activate`, {
    headers: { Origin: server.url },
    data: { reason: 'operators may not do this', duration_minutes: 30, confirm: 'CONFIRM' },
  });
  expect(refused.status()).toBe(403);

  await activateByApi(page, server, 'admin opened it, operator closes it');
  const banner = operator.getByTestId('break-glass-banner');
  await expect(banner).toBeVisible();
  // An operator may end the bypass but not lengthen it.
  await expect(banner.getByRole('button', { name: 'Extend', exact: true })).toHaveCount(0);
  await banner.getByRole('button', { name: 'Deactivate Now' }).click();
  await banner.getByRole('button', { name: 'Yes, deactivate' }).click();
  await expect(operator.getByTestId('break-glass-banner')).toHaveCount(0);
  await expect(page.getByTestId('break-glass-banner')).toHaveCount(0);
  await context.close();
});

test('log out everywhere ends the other tabs of another browser too', async ({ page, browser, server }) => {
  await login(page, server);
  const other = await (await browser.newContext()).newPage();
  await login(other, server);
  await page.getByRole('button', { name: 'Log out everywhere' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await other.reload();
  await expect(other).toHaveURL(/\/login$/);
});

test('a second operator acknowledges the window in another browser; every tab of both sees it', async ({ page, context, browser, server }) => {
  await login(page, server);
  const created = await page.request.post(`${server.url}/api/operators`, {
    headers: { Origin: server.url },
    data: { username: 'sam', password: PASSWORD, role: 'security_manager' },
  });
  expect(created.status()).toBe(201);
  await activateByApi(page, server, 'LiteLLM down, paging the second person');
  const second = await openTab(context, server, '/traffic');
  for (const tab of [page, second]) {
    await expect(tab.getByTestId('ack-state')).toContainText('Not yet acknowledged');
  }
  // The activator answers for nobody: no Acknowledge for them.
  await expect(page.getByRole('button', { name: 'Acknowledge', exact: true })).toHaveCount(0);

  const samContext = await browser.newContext();
  const sam = await samContext.newPage();
  await login(sam, server, 'sam', PASSWORD);
  await expect(sam.getByTestId('ack-state')).toContainText('Not yet acknowledged');
  await sam.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  const form = sam.getByTestId('ack-form');
  await form.getByLabel('Note').fill('too short');
  await form.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  await expect(sam.getByTestId('ack-error')).toContainText('Note must be 10 to 500 characters');
  await form.getByLabel('Note').fill('called the activator, outage confirmed');
  await form.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  for (const tab of [page, second, sam]) {
    await expect(tab.getByTestId('ack-state')).toHaveText('Acknowledged by sam');
  }
  await expect(sam.getByRole('button', { name: 'Acknowledge', exact: true })).toHaveCount(0);
  await samContext.close();
});
