import { test, expect, login, activateByApi } from './fixtures';

test('pages run under a nonce Content-Security-Policy without a single violation', async ({ page, server }) => {
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      ((window as any).__csp ||= []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const first = await page.goto(`${server.url}/login`);
  const policy = first!.headers()['content-security-policy'];
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=_-]+' 'wasm-unsafe-eval'/);
  expect(policy).toContain("frame-ancestors 'none'");
  expect(first!.headers()['x-content-type-options']).toBe('nosniff');

  await login(page, server);
  await activateByApi(page, server, 'checking the policy <script>window.__xss=1</script><img src=x onerror="window.__xss=1">');
  // Where the reason shows besides the banner: as text, never as markup.
  const shownIn: Record<string, string | null> = {
    '/configuration': 'break-glass-card',
    '/traffic': null,
    '/alerts': 'alerts-table',
    '/audit': 'audit-table',
  };
  for (const [path, testId] of Object.entries(shownIn)) {
    const res = await page.goto(`${server.url}${path}`);
    const nonce = res!.headers()['content-security-policy'].match(/'nonce-([^']+)'/)![1];
    expect(await page.locator(`script[nonce]`).count()).toBeGreaterThan(0);
    await expect(page.locator('.live-dot.connected')).toBeVisible();
    await expect(page.getByTestId('break-glass-banner')).toContainText('checking the policy <script>');
    if (testId) await expect(page.getByTestId(testId)).toContainText('checking the policy <script>');
    expect(await page.evaluate(() => (window as any).__csp ?? []), path).toEqual([]);
    expect(await page.evaluate(() => (window as any).__xss), path).toBeUndefined();
    // A second load gets another nonce.
    const again = await page.request.get(`${server.url}${path}`);
    expect(again.headers()['content-security-policy']).not.toContain(nonce);
  }
});
