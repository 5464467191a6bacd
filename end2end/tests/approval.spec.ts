import { test, expect, login, openTab, seconds } from './fixtures';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';

const PASSWORD = 'a long enough password';

test('two operators in two browsers: a request, an extension and their approvals reach every tab', async ({ page, context, browser, server }) => {
  // Browser 1: the admin, with two tabs. The policy card switches to approval required.
  await login(page, server);
  const created = await page.request.post(`${server.url}/api/operators`, {
    headers: { Origin: server.url },
    data: { username: 'sam', password: PASSWORD, role: 'security_manager' },
  });
  expect(created.status()).toBe(201);
  const policy = page.getByTestId('policy-card');
  await policy.getByLabel('Activation').selectOption('approval');
  await policy.getByLabel('Decide within (minutes)').fill('20');
  await policy.getByRole('button', { name: 'Save policy' }).click();
  await expect(policy.getByTestId('policy-mode')).toContainText('within 20 minutes');
  const adminTabs = [page, await openTab(context, server, '/alerts')];

  // Browser 2: sam, with two tabs. The same dialog now sends a request.
  const samContext = await browser.newContext();
  const sam = await samContext.newPage();
  await login(sam, server, 'sam', PASSWORD);
  const samTabs = [sam, await openTab(samContext, server, '/traffic')];
  await sam.getByRole('button', { name: 'BREAK-GLASS' }).click();
  const dialog = sam.getByRole('dialog', { name: 'Request Break-Glass' });
  await expect(dialog.getByTestId('approval-hint')).toBeVisible();
  await dialog.getByLabel('Reason').fill('LiteLLM down, INC-3100: agents stalled');
  await dialog.getByLabel('Minutes').fill('30');
  await dialog.getByLabel('Type CONFIRM to proceed').fill('CONFIRM');
  await dialog.getByRole('button', { name: 'Request approval' }).click();
  // The dialog stays and follows the request.
  const state = dialog.getByTestId('dialog-request-state');
  await expect(state).toContainText("Waiting for a second operator's approval");

  for (const tab of [...adminTabs, ...samTabs]) {
    const banner = tab.getByTestId('request-banner');
    await expect(banner).toContainText('sam asks for 30 minutes');
    await expect(banner).toContainText('LiteLLM down, INC-3100');
    await expect.poll(async () => seconds(await banner.getByTestId('decide-countdown').textContent()))
      .toBeGreaterThan(19 * 60);
    await expect(tab.getByTestId('break-glass-banner')).toHaveCount(0);
  }
  // The requester waits; only the other operator decides.
  for (const tab of samTabs) {
    await expect(tab.getByTestId('request-state')).toContainText("Waiting for a second operator's approval");
    await expect(tab.getByTestId('decide-form')).toHaveCount(0);
  }
  const decide = adminTabs[1].getByTestId('decide-form');
  await decide.getByLabel('Note').fill('confirmed on the incident bridge');
  await decide.getByRole('button', { name: 'Approve' }).click();
  await expect(state).toContainText('Approved by admin');
  await state.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();

  for (const tab of [...adminTabs, ...samTabs]) {
    const banner = tab.getByTestId('break-glass-banner');
    await expect(banner).toContainText('activated by sam');
    await expect(banner.getByTestId('ack-state')).toContainText('Acknowledged by admin');
    await expect(tab.getByTestId('request-banner')).toHaveCount(0);
    await expect.poll(async () => seconds(await banner.getByTestId('countdown').textContent()))
      .toBeLessThanOrEqual(30 * 60);
  }

  // Sam asks for more time from his browser: under this policy it waits for the admin too.
  const banner = sam.getByTestId('break-glass-banner');
  await banner.getByRole('button', { name: 'Extend', exact: true }).click();
  const form = sam.getByTestId('extend-form');
  await form.getByLabel('Why').fill('vendor needs another half hour');
  await form.getByLabel('Minutes').fill('30');
  await form.getByRole('button', { name: 'Extend', exact: true }).click();
  await expect(form).toBeHidden();
  for (const tab of [...adminTabs, ...samTabs]) {
    await expect(tab.getByTestId('extension-asked')).toContainText('Extension of 30 minutes asked by sam');
    expect(seconds(await tab.getByTestId('countdown').textContent())).toBeLessThanOrEqual(30 * 60);
  }
  await expect(sam.getByTestId('decide-form')).toHaveCount(0);
  const approveMore = page.getByTestId('decide-form');
  await approveMore.getByLabel('Note').fill('half an hour more is fine');
  await approveMore.getByRole('button', { name: 'Approve' }).click();
  // Every tab of both browsers counts down to the new end.
  for (const tab of [...adminTabs, ...samTabs]) {
    await expect(tab.getByTestId('extension-asked')).toHaveCount(0);
    await expect.poll(async () => seconds(await tab.getByTestId('countdown').textContent()))
      .toBeGreaterThan(59 * 60);
  }
  await samContext.close();
});

test('a denied request leaves nothing open, and says so in every tab', async ({ page, browser, server }) => {
  await login(page, server);
  const res = await page.request.put(`${server.url}/api/break-glass/policy`, {
    headers: { Origin: server.url },
    data: { mode: 'approval' },
  });
  expect(res.status()).toBe(200);
  await page.request.post(`${server.url}/api/operators`, {
    headers: { Origin: server.url },
    data: { username: 'sam', password: PASSWORD, role: 'security_manager' },
  });
  const samContext = await browser.newContext();
  const sam = await samContext.newPage();
  await login(sam, server, 'sam', PASSWORD);
  const requested = await sam.request.post(`${server.url}/api/break-glass/request`, {
    headers: { Origin: server.url },
    data: { reason: 'shield path flapping, INC-3101', duration_minutes: 15, confirm: 'CONFIRM' },
  });
  expect(requested.status()).toBe(200);
  await expect(page.getByTestId('request-banner')).toContainText('shield path flapping');

  const decide = page.getByTestId('decide-form');
  await decide.getByRole('button', { name: 'Deny' }).click();
  await expect(page.getByTestId('decide-error')).toContainText('10');
  await decide.getByLabel('Note').fill('LiteLLM recovered, not needed');
  await decide.getByRole('button', { name: 'Deny' }).click();
  for (const tab of [page, sam]) {
    await expect(tab.getByTestId('request-banner')).toHaveCount(0);
    await expect(tab.getByTestId('break-glass-banner')).toHaveCount(0);
  }
  // No cool-down after a denial: the button is ready again.
  await expect(sam.getByRole('button', { name: 'BREAK-GLASS' })).toBeEnabled();
  await samContext.close();
});

test('the review gate turns an activation into an override that a second operator approves', async ({ page, browser, server }) => {
  await login(page, server);
  await page.request.post(`${server.url}/api/operators`, {
    headers: { Origin: server.url },
    data: { username: 'sam', password: PASSWORD, role: 'security_manager' },
  });
  const policy = page.getByTestId('policy-card');
  await policy.getByLabel('Hold new windows while a review is pending').check();
  await policy.getByRole('button', { name: 'Save policy' }).click();
  await expect(policy.getByTestId('policy-review-gate')).toBeVisible();
  // A window from an hour ago that nobody has reviewed yet (written as the server would).
  const db = join(dirname(server.sessionsDir), 'breakglass.db');
  const hourAgo = Date.now() - 3_600_000;
  execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO break_glass_windows (activated_at, expires_at, duration_minutes, reason, "
           "activated_by, ack_due_at, ended_at, end_kind, ended_by, unscanned_count) "
           "VALUES (?, ?, 15, 'an earlier outage, not reviewed', 'admin', ?, ?, 'expired', 'system', 0)",
           (int(sys.argv[2]), int(sys.argv[2]) + 900000, int(sys.argv[2]) + 900000, int(sys.argv[2]) + 900000))
db.commit()
`, db, String(hourAgo)]);

  await page.getByRole('button', { name: 'BREAK-GLASS' }).click();
  const dialog = page.getByRole('dialog', { name: 'Activate Break-Glass' });
  await dialog.getByLabel('Reason').fill('LiteLLM down again before the review');
  await dialog.getByLabel('Type CONFIRM to proceed').fill('CONFIRM');
  await dialog.getByRole('button', { name: 'Activate Break-Glass' }).click();
  await expect(dialog.getByTestId('server-error')).toContainText('still waits for its review');
  await dialog.getByTestId('request-override').click();
  await expect(dialog.getByTestId('dialog-request-state')).toContainText('Waiting');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();

  const samContext = await browser.newContext();
  const sam = await samContext.newPage();
  await login(sam, server, 'sam', PASSWORD);
  for (const tab of [page, sam]) {
    await expect(tab.getByTestId('request-override-note')).toContainText('has not been reviewed yet');
  }
  const decide = sam.getByTestId('decide-form');
  await decide.getByLabel('Note').fill('override: the review is booked for tomorrow');
  await decide.getByRole('button', { name: 'Approve' }).click();
  for (const tab of [page, sam]) {
    await expect(tab.getByTestId('break-glass-banner')).toContainText('activated by admin');
  }
  await samContext.close();
});
