import { test as base, expect, Page, BrowserContext } from '@playwright/test';
import { spawn, ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ADMIN_PASSWORD = 'end-to-end admin password';

/** `sessionsDir` is the Session Watcher's root: tests write transcripts under it. */
export type Server = { url: string; process: ChildProcess; sessionsDir: string };

const repo = resolve(__dirname, '..', '..');
const target = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');

/**
 * Starts the real breakglass binary on a free port of 127.0.0.1 with a fresh SQLite file in
 * `dir`, unless `extraEnv` names another `DATABASE_URL`.
 */
export async function startServer(dir: string, extraEnv: Record<string, string>): Promise<Server> {
  const child = spawn(join(target, 'debug', 'breakglass'), [], {
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: '127.0.0.1:0',
      LEPTOS_SITE_ROOT: join(target, 'site'),
      DATABASE_URL: `sqlite://${join(dir, 'breakglass.db')}`,
      BREAKGLASS_SESSIONS_DIR: join(dir, 'openclaw'),
      BREAKGLASS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      RUST_LOG: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk.toString();
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) ok(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`breakglass exited with ${code}: ${out}`)));
  });
  return { url, process: child, sessionsDir: join(dir, 'openclaw') };
}

/** Stops a server as an operator would (SIGINT) and waits for it to exit. */
export async function stopServer(server: Server) {
  const exited = new Promise((ok) => server.process.once('exit', ok));
  server.process.kill('SIGINT');
  await exited;
}

export const test = base.extend<{ server: Server; serverEnv: Record<string, string> }>({
  serverEnv: [{}, { option: true }],
  server: async ({ serverEnv }, use) => {
    const dir = mkdtempSync(join(tmpdir(), 'breakglass-e2e-'));
    const server = await startServer(dir, serverEnv);
    await use(server);
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  },
});

export { expect };

/** Logs in through the login page and waits until the live state has arrived. */
export async function login(page: Page, server: Server, username = 'admin', password = ADMIN_PASSWORD) {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/configuration$/);
  await waitForLive(page);
}

/** Hydrated and connected: the live dot turns green once the event stream delivered a state. */
export async function waitForLive(page: Page) {
  await expect(page.locator('.live-dot.connected')).toBeVisible();
  await expect(page.getByTestId('signed-in-as')).toBeVisible();
}

export async function openTab(context: BrowserContext, server: Server, path: string) {
  const tab = await context.newPage();
  await tab.goto(`${server.url}${path}`);
  await waitForLive(tab);
  return tab;
}

/** Activates through the JSON API with the page's session, as another operator's tab would. */
export async function activateByApi(page: Page, server: Server, reason: string, minutes = 30) {
  const res = await page.request.post(`${server.url}/api/break-glass/activate`, {
    headers: { Origin: server.url },
    data: { reason, duration_minutes: minutes, confirm: 'CONFIRM' },
  });
  expect(res.status()).toBe(200);
  return res.json();
}

/** Seconds shown by a `m:ss` / `h:mm:ss` countdown. */
export function seconds(text: string | null): number {
  return (text ?? '').trim().split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
}

/**
 * Appends an agent's transcript under the Session Watcher's root, as OpenClaw writes it: the
 * session's first line at `at`, then a tool result carrying `text`, then any `raw` lines as
 * they are.
 */
export function writeToolResult(server: Server, sessionId: string, at: Date, text: string, raw: string[] = []) {
  const dir = join(server.sessionsDir, 'agents', 'main', 'sessions');
  mkdirSync(dir, { recursive: true });
  const line = (o: object) => JSON.stringify(o) + '\n';
  appendFileSync(
    join(dir, 'run-1.jsonl'),
    line({ type: 'session', version: 3, id: sessionId, timestamp: at.toISOString(), cwd: '/w' }) +
      line({
        type: 'message', id: 'm1', timestamp: at.toISOString(),
        message: { role: 'toolResult', content: [{ type: 'text', text }] },
      }) +
      raw.map((l) => l + '\n').join(''),
  );
}
