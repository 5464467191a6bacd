import { execFileSync } from 'node:child_process';
import { createServer, connect, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, login, seconds, startServer, stopServer, Server } from './fixtures';

/** A fresh database on the PostgreSQL server that `.ci/with-postgres` started for this run. */
function freshDatabase(): string {
  const admin = process.env.TEST_POSTGRES_URL;
  if (!admin) {
    throw new Error('TEST_POSTGRES_URL is not set: run the end-to-end tests through .ci/with-postgres, as .ci/test does');
  }
  const name = `breakglass_e2e_${process.pid}_${Date.now()}`;
  execFileSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `CREATE DATABASE ${name}`]);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

test('a tab on one replica shows the banner when another replica activates, and can end it', async ({ browser }) => {
  const databaseUrl = freshDatabase();
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'breakglass-replica-')));
  const replicas: Server[] = [];
  try {
    for (const dir of dirs) {
      replicas.push(await startServer(dir, { DATABASE_URL: databaseUrl }));
    }
    const [a, b] = replicas;
    const onA = await (await browser.newContext()).newPage();
    const onB = await (await browser.newContext()).newPage();
    await login(onA, a);
    await login(onB, b);
    await onB.goto(`${b.url}/traffic`);
    await expect(onB.locator('.live-dot.connected')).toBeVisible();
    await expect(onB.getByTestId('break-glass-banner')).toHaveCount(0);

    await onA.getByRole('button', { name: 'BREAK-GLASS' }).click();
    const dialog = onA.getByRole('dialog', { name: 'Activate Break-Glass' });
    await onA.locator('#bg-reason').fill('LiteLLM down in every region, INC-77');
    await dialog.getByLabel('30m').check();
    await onA.locator('#bg-confirm').fill('CONFIRM');
    await dialog.getByRole('button', { name: 'Activate Break-Glass', exact: true }).click();

    // The other replica's tab, which never talked to replica A, shows the banner and counts down.
    const banner = onB.getByTestId('break-glass-banner');
    await expect(banner).toContainText('LiteLLM down in every region, INC-77');
    const countdown = onB.getByTestId('countdown');
    await expect(countdown).toHaveText(/^\d\d:\d\d$/);
    expect(seconds(await countdown.textContent())).toBeGreaterThan(29 * 60);

    await onB.getByRole('button', { name: 'Deactivate Now' }).click();
    await onB.getByRole('button', { name: 'Yes, deactivate' }).click();
    for (const tab of [onA, onB]) {
      await expect(tab.getByTestId('break-glass-banner')).toHaveCount(0);
    }
    await expect(onA.getByTestId('break-glass-state')).toContainText('Cooling down');
  } finally {
    for (const r of replicas) await stopServer(r);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
});

/** A TCP relay on 127.0.0.1 to `target`'s host and port that can cut every connection. */
async function relayTo(target: URL) {
  let cut = false;
  const open = new Set<Socket>();
  const server = createServer((inbound) => {
    if (cut) return inbound.destroy();
    const outbound = connect(Number(target.port), target.hostname);
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => s.destroy());
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
    },
    restore() {
      cut = false;
    },
    close() {
      this.cut();
      server.close();
    },
  };
}

test('a replica that loses its database says so and will not activate until it is back', async ({ page }) => {
  const databaseUrl = new URL(freshDatabase());
  const relay = await relayTo(databaseUrl);
  const viaRelay = new URL(databaseUrl.toString());
  viaRelay.port = String(relay.port);
  const dir = mkdtempSync(join(tmpdir(), 'breakglass-replica-'));
  const replica = await startServer(dir, { DATABASE_URL: viaRelay.toString() });
  try {
    await login(page, replica);
    const button = page.getByRole('button', { name: 'BREAK-GLASS' });
    await expect(button).toBeEnabled();
    await expect(page.getByTestId('degraded')).toHaveCount(0);

    relay.cut();
    await expect(page.getByTestId('degraded')).toContainText('lost its connection to the database');
    await expect(button).toBeDisabled();
    await expect(page.getByTestId('break-glass-state')).toContainText('Inactive');

    relay.restore();
    await expect(page.getByTestId('degraded')).toHaveCount(0);
    await expect(button).toBeEnabled();
  } finally {
    await stopServer(replica);
    relay.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
