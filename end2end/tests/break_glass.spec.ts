import { test, expect, login, openTab, activateByApi, seconds } from './fixtures';

test('the dialog validates live with the same rules as the server', async ({ page, server }) => {
  await login(page, server);
  await page.getByRole('button', { name: 'BREAK-GLASS' }).click();
  const dialog = page.getByRole('dialog', { name: 'Activate Break-Glass' });
  await expect(dialog).toBeVisible();
  await expect(page.locator('#bg-reason')).toBeFocused();
  const activate = dialog.getByRole('button', { name: 'Activate Break-Glass', exact: true });
  await expect(activate).toBeDisabled();

  await page.locator('#bg-reason').fill('too short');
  await expect(dialog.getByTestId('reason-error')).toHaveText('Reason must be at least 10 characters (now 9)');
  await expect(dialog.getByTestId('reason-count')).toContainText('9 / 500 characters');
  await page.locator('#bg-reason').fill('LiteLLM proxy is down, INC-1234');
  await expect(dialog.getByTestId('reason-error')).toBeEmpty();
  await expect(dialog.getByTestId('reason-count')).toContainText('31 / 500 characters');

  await dialog.getByLabel('15m').check();
  await expect(page.locator('#bg-minutes')).toHaveValue('15');
  await page.locator('#bg-minutes').fill('300');
  await expect(dialog.getByTestId('duration-error')).toHaveText(
    'Duration must be between 15 minutes and 4 hours (240 minutes), in whole minutes',
  );
  await dialog.getByLabel('4h').check();
  await expect(dialog.getByTestId('duration-error')).toBeEmpty();

  await page.locator('#bg-confirm').fill('confirm');
  await expect(dialog.getByTestId('confirm-error')).toHaveText(
    'Type CONFIRM exactly: capital letters, no spaces before or after',
  );
  await expect(activate).toBeDisabled();
  await page.locator('#bg-confirm').fill('CONFIRM');
  await expect(activate).toBeEnabled();

  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await page.getByRole('button', { name: 'BREAK-GLASS' }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('break-glass-state')).toContainText('Inactive');
});

test('activation shows the banner in every tab, counts down, and Deactivate Now clears them', async ({ page, context, server }) => {
  await login(page, server);
  const other = await openTab(context, server, '/traffic');
  await expect(other.getByTestId('break-glass-banner')).toHaveCount(0);

  await page.getByRole('button', { name: 'BREAK-GLASS' }).click();
  const dialog = page.getByRole('dialog', { name: 'Activate Break-Glass' });
  await page.locator('#bg-reason').fill('LiteLLM proxy is down, INC-1234');
  await dialog.getByLabel('30m').check();
  await page.locator('#bg-confirm').fill('CONFIRM');
  await dialog.getByRole('button', { name: 'Activate Break-Glass', exact: true }).click();
  await expect(dialog).toBeHidden();

  for (const tab of [page, other]) {
    const banner = tab.getByTestId('break-glass-banner');
    await expect(banner).toBeVisible();
    await expect(banner).toContainText('BREAK-GLASS ACTIVE');
    await expect(banner).toContainText('LiteLLM proxy is down, INC-1234');
    await expect(banner).toContainText('admin');
  }
  await expect(page.getByTestId('break-glass-state')).toContainText('Activated by admin');
  await expect(page.getByRole('button', { name: 'BREAK-GLASS' })).toBeDisabled();

  // The countdown ticks down from the server's expires_at.
  const countdown = other.getByTestId('countdown');
  await expect(countdown).toHaveText(/^\d\d:\d\d$/);
  const first = seconds(await countdown.textContent());
  expect(first).toBeLessThanOrEqual(30 * 60);
  expect(first).toBeGreaterThan(29 * 60);
  await expect.poll(async () => seconds(await countdown.textContent())).toBeLessThanOrEqual(first - 2);

  await other.getByRole('button', { name: 'Deactivate Now' }).click();
  await other.getByRole('button', { name: 'Yes, deactivate' }).click();
  for (const tab of [page, other]) {
    await expect(tab.getByTestId('break-glass-banner')).toHaveCount(0);
  }
  await expect(page.getByTestId('break-glass-state')).toContainText('Cooling down');
  await expect(page.getByTestId('cool-down-remaining')).toHaveText(/^1[45]:\d\d$/);
  await expect(page.getByRole('button', { name: 'BREAK-GLASS' })).toBeDisabled();
});

test('Extend moves the end of the window in every tab, and a refusal says why', async ({ page, context, server }) => {
  await login(page, server);
  await activateByApi(page, server, 'LiteLLM proxy is down, INC-2001', 30);
  const other = await openTab(context, server, '/alerts');
  const countdown = other.getByTestId('countdown');
  await expect(countdown).toHaveText(/^\d\d:\d\d$/);
  expect(seconds(await countdown.textContent())).toBeLessThanOrEqual(30 * 60);

  const banner = page.getByTestId('break-glass-banner');
  await banner.getByRole('button', { name: 'Extend', exact: true }).click();
  const form = page.getByTestId('extend-form');
  await form.getByLabel('Why').fill('vendor needs another hour');
  await form.getByLabel('Minutes').fill('60');
  await form.getByRole('button', { name: 'Extend', exact: true }).click();
  await expect(form).toBeHidden();
  // The other tab heard the new end over the shared event stream.
  for (const tab of [page, other]) {
    await expect.poll(async () => seconds(await tab.getByTestId('countdown').textContent()))
      .toBeGreaterThan(89 * 60);
  }

  // Beyond four hours from the activation: refused, and the form says how much is left.
  await banner.getByRole('button', { name: 'Extend', exact: true }).click();
  await form.getByLabel('Why').fill('and then some more time');
  await form.getByLabel('Minutes').fill('200');
  await form.getByRole('button', { name: 'Extend', exact: true }).click();
  await expect(page.getByTestId('extend-error')).toContainText('at most 150 more minutes');
  await expect(form).toBeVisible();
  // On a phone the open form wraps inside the banner: nothing scrolls sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: 'test-results/layout/banner-extend-390.png' });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test('an admin sets the acknowledgement deadline on the policy card; a bad value names the rule', async ({ page, server }) => {
  await login(page, server);
  const card = page.getByTestId('policy-card');
  await expect(card.getByTestId('policy-ack')).toContainText('within 15 minutes');
  await card.getByLabel('Acknowledge within (minutes)').fill('500');
  await card.getByRole('button', { name: 'Save policy' }).click();
  await expect(card.getByRole('alert')).toContainText('from 1 to 240');
  await card.getByLabel('Acknowledge within (minutes)').fill('20');
  await card.getByRole('button', { name: 'Save policy' }).click();
  await expect(card.getByTestId('policy-ack')).toContainText('within 20 minutes');
  const window = await activateByApi(page, server, 'LiteLLM down, policy check');
  const due = new Date(Date.parse(window.activated_at) + 20 * 60_000).toISOString().slice(11, 19);
  await expect(page.getByTestId('ack-state')).toContainText(due);
});

test('eight tabs share one event stream and all show the banner', async ({ page, context, server }) => {
  await login(page, server);
  const tabs = [page];
  for (let i = 0; i < 7; i++) {
    tabs.push(await openTab(context, server, i % 2 ? '/alerts' : '/configuration'));
  }
  await activateByApi(page, server, 'shield path down for all tabs');
  for (const tab of tabs) {
    await expect(tab.getByTestId('break-glass-banner')).toContainText('shield path down for all tabs');
  }
});

test('a server refusal is shown inside the dialog', async ({ page, server }) => {
  await login(page, server);
  await page.getByRole('button', { name: 'BREAK-GLASS' }).click();
  const dialog = page.getByRole('dialog', { name: 'Activate Break-Glass' });
  await page.locator('#bg-reason').fill('second operator, same outage');
  await page.locator('#bg-confirm').fill('CONFIRM');
  // Meanwhile someone else activates.
  await activateByApi(page, server, 'first operator was quicker');
  await dialog.getByRole('button', { name: 'Activate Break-Glass', exact: true }).click();
  await expect(dialog.getByTestId('server-error')).toContainText('Break-glass is already active until');
  await expect(dialog).toBeVisible();
});

test('a reason containing markup is shown as text and never runs', async ({ page, server }) => {
  await login(page, server);
  const reason = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  await activateByApi(page, server, reason);
  await expect(page.getByTestId('break-glass-banner')).toContainText(reason);
  await page.goto(`${server.url}/alerts`);
  await expect(page.getByTestId('alerts-table')).toContainText(reason);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
});

test('alerts can be acknowledged and resolved, and the audit trail filters by action', async ({ page, server }) => {
  await login(page, server);
  await activateByApi(page, server, 'alert lifecycle check');
  await page.getByRole('link', { name: 'Alerts' }).click();
  const row = page.locator('tr', { hasText: 'Break-Glass Activated — Shield bypass for 30 minutes' });
  await expect(row).toContainText('CRITICAL');
  await expect(row).toContainText('OPEN');
  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(row).toContainText('ACKNOWLEDGED (ack: admin)');
  await row.getByRole('button', { name: 'Resolve' }).click();
  await expect(row).toContainText('RESOLVED');

  await page.getByRole('link', { name: 'Audit Trail' }).click();
  await page.getByLabel('Action').selectOption('break_glass.activate');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=break_glass.activate/);
  const table = page.getByTestId('audit-table');
  await expect(table.locator('tbody tr')).toHaveCount(1);
  await expect(table).toContainText('alert lifecycle check');
  await page.reload();
  await expect(page.getByTestId('audit-table').locator('tbody tr')).toHaveCount(1);
});
