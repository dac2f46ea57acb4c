/**
 * The operator console in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against the shared local stack. The console runs as the real
 * `signet console` command; its admin calls pass through a recorder on their way to
 * the stack, so a test can check what the console sent (SigV4-signed) and replay it.
 * Each screen is saved as a screenshot under test-artifacts/console/ (git-ignored).
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VersionCounters } from '#lib/delivery/fleet.ts';
import type { Channel } from '#lib/releases/store.ts';
import type { RunningSignet } from '#test/support/cli.ts';
import { startSignetConsole } from '#test/support/cli.ts';
import { agentFor, publishVersion, report } from '#test/support/delivery.ts';
import { admin, createTestLicense, register, registrationFor, stackInfo } from '#test/support/licensing.ts';

const ARTIFACTS = 'test-artifacts/console';
/** Debian's chromium; CHROMIUM_PATH for another build. .ci/run installs it when missing. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends a request to the stack as given (Host header included, so a signature over it still holds). */
function send(target: URL, method: string, url: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const out = request({ host: target.hostname, port: target.port, method, path: url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    out.on('error', reject);
    out.end(body);
  });
}

/** A pass-through in front of the stack that keeps every request it forwards. */
async function startRecorder(upstream: string): Promise<{ url: string; calls: Recorded[]; server: Server }> {
  const target = new URL(upstream);
  const calls: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) };
      calls.push(call);
      send(target, call.method, call.url, call.headers, call.body).then(
        (answer) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body),
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

const product = `console-${randomUUID().slice(0, 8)}`;
let browser: Browser;
let page: Page;
let running: RunningSignet;
let recorder: Awaited<ReturnType<typeof startRecorder>>;

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

async function openScreen(screen: 'fleet' | 'licenses' | 'blacklist' | 'audit'): Promise<void> {
  await page.click(`nav button[data-screen=${screen}]`);
}

/** Pages a list forward (its Next button) until `row` shows: the shared stack's lists hold other tests' items too. */
async function pageUntil(section: string, row: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await page.waitForSelector(`${section}[aria-busy=false]`);
    if (await page.locator(`${section} ${row}`).count()) return;
    const next = page.locator(`${section} .pager button:has-text("Next")`);
    if (!(await next.count()) || (await next.isDisabled())) break;
    await next.click();
  }
  await page.waitForSelector(`${section} ${row}`, { timeout: 2000 });
}

async function fleetOf(name: string) {
  return (await admin()).call<{ versions: VersionCounters[]; channels: Channel[] }>('GET', `/v1/admin/fleet/${name}`);
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  const { dataDir, baseUrl } = stackInfo();
  // A product of its own, with two versions and a fleet: 3 agents on 1.0.0, 2 on 1.1.0 (one failed).
  await publishVersion(product, '1.0.0', { 'main.sig': 'one' }, ['--channel', 'stable']);
  await publishVersion(product, '1.1.0', { 'main.sig': 'two' });
  const { licenseKey } = await createTestLicense({ products: [product], seats: 10 });
  const agents = await Promise.all([1, 2, 3, 4, 5].map(() => agentFor(licenseKey, product)));
  const results: Array<[string, 'ok' | 'failed']> = [['1.0.0', 'ok'], ['1.0.0', 'ok'], ['1.0.0', 'ok'], ['1.1.0', 'ok'], ['1.1.0', 'failed']];
  await Promise.all(agents.map((a, i) => report(a.token, { product, installedVersion: results[i]?.[0], result: results[i]?.[1] })));

  recorder = await startRecorder(baseUrl);
  running = await startSignetConsole(['--data-dir', dataDir, '--server', recorder.url, '--port', '0', '--quiet']);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.setDefaultTimeout(10_000);
  await page.goto(running.baseUrl);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await running?.stop();
  recorder?.server.close();
});

describe('signet console in a browser', () => {
  it('takes the token out of the address bar and refuses calls without it', async () => {
    await page.waitForSelector('[data-testid=product]');
    expect(page.url()).not.toContain('token');
    const origin = new URL(running.baseUrl).origin;
    const response = await fetch(`${origin}/api/products`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('CONSOLE_TOKEN');
  });

  it('renders the fleet chart with the counts the API returns', async () => {
    await page.selectOption('[data-testid=product]', product);
    await page.waitForSelector(`[data-testid=fleet-chart] g[data-version="1.1.0"]`);
    const fromApi = await fleetOf(product);
    const bars = await page.$$eval('[data-testid=fleet-chart] g', (gs) => gs.map((g) => [g.getAttribute('data-version'), Number(g.getAttribute('data-agents'))]));
    expect(Object.fromEntries(bars)).toEqual(Object.fromEntries(fromApi.versions.map((v) => [v.version, v.agents])));
    expect(Object.fromEntries(bars)).toEqual({ '1.0.0': 3, '1.1.0': 2 });
    // The label beside each bar is the count too, and the total is theirs.
    expect(await page.textContent('[data-testid=fleet-chart] g[data-version="1.0.0"] text:last-of-type')).toBe('3');
    expect(await page.textContent('[data-testid=fleet-total]')).toBe('5');
    expect(await page.textContent('tr[data-version="1.1.0"] [data-testid=failure-rate]')).toBe('50.0%');
    await screenshot('fleet');
  });

  it('promotes and halts a channel from the page, each after a confirmation that says what will happen', async () => {
    const row = 'tr[data-channel=stable]';
    await page.click(`${row} button:has-text("Promote")`);
    await page.fill(`${row} input[name=version]`, '1.1.0');
    await page.fill(`${row} input[name=percent]`, '25');
    await page.click(`${row} button:has-text("Review")`);
    const promoteText = await page.textContent('[data-testid=confirm-text]');
    expect(promoteText).toContain(`${product} 1.1.0 on channel stable to 25% of agents`);
    expect(promoteText).toContain('the other 75% stay on 1.0.0');
    await screenshot('promote-confirmation');
    await page.click('.confirm button.primary');
    await page.waitForSelector(`${row} [data-testid=percent]:has-text("25%")`);
    expect((await fleetOf(product)).channels.find((c) => c.channel === 'stable')).toMatchObject({ version: '1.1.0', percent: 25, previousVersion: '1.0.0', status: 'active' });

    await page.click(`${row} button:has-text("Halt")`);
    expect(await page.textContent('[data-testid=confirm-text]')).toContain('no more agents get 1.1.0; agents that do not have it yet stay on 1.0.0');
    await screenshot('halt-confirmation');
    await page.click('.confirm button.danger');
    await page.waitForSelector(`${row} [data-testid=state]:has-text("halted")`);
    expect((await fleetOf(product)).channels.find((c) => c.channel === 'stable')?.status).toBe('halted');
    await screenshot('fleet-halted');
  });

  it('shows a failed admin call as the API worded it', async () => {
    const row = 'tr[data-channel=stable]';
    await page.click(`${row} button:has-text("Promote")`);
    await page.fill(`${row} input[name=version]`, '9.9.9');
    await page.click(`${row} button:has-text("Review")`);
    await page.click('.confirm button.primary');
    const alert = await page.waitForSelector('.confirm [role=alert]');
    expect(await alert.textContent()).toBe(`NOT_FOUND: ${product} 9.9.9 is not published`);
    await screenshot('error');
    await page.click('.confirm button:has-text("Cancel")');
  });

  it('creates a license whose key registers an agent, and suspends and resumes it', async () => {
    await openScreen('licenses');
    const customer = `Console ${randomUUID().slice(0, 8)}`;
    await page.fill('input[name=customer]', customer);
    await page.fill('input[name=products]', product);
    await page.fill('input[name=seats]', '3');
    // A date in the past first: the API's refusal shows, in its own words.
    await page.fill('input[name=expires]', '2020-01-01');
    await page.click('[data-testid=create-license] button[type=submit]');
    expect(await (await page.waitForSelector('[data-testid=create-license] [role=alert]')).textContent()).toBe('INVALID_REQUEST: expires: must be in the future');
    await page.fill('input[name=expires]', `${new Date().getUTCFullYear() + 1}-12-31`);
    await page.click('[data-testid=create-license] button[type=submit]');
    const key = (await (await page.waitForSelector('[data-testid=new-key] .key')).textContent()) ?? '';
    expect(key).toMatch(/^SIG-/);

    const registered = await register(registrationFor(key, { product }));
    expect(registered.status).toBe(201);

    const row = `tr:has(td:text-is("${customer}"))`;
    await page.click(`${row} button:has-text("Agents")`);
    await page.waitForSelector(`[data-testid=seat-holders] tr:has-text("${String(registered.body.agentId)}")`);
    await page.click(`${row} button:has-text("Suspend")`);
    expect(await page.textContent('[data-testid=confirm-text]')).toContain(`Suspend the license of ${customer}`);
    await page.click('.confirm button.danger');
    await page.waitForSelector(`${row} [data-testid=status]:text-is("suspended")`);
    expect((await register(registrationFor(key, { product }))).body.error?.code).toBe('LICENSE_SUSPENDED');
    await screenshot('licenses');
    await page.click(`${row} button:has-text("Resume")`);
    await page.click('.confirm button.primary');
    await page.waitForSelector(`${row} [data-testid=status]:text-is("active")`);
    expect(await page.textContent(`${row} [data-testid=seats]`)).toBe('1 of 3');
  });

  it('adds to and removes from the blacklist, a page of 50 at a time', async () => {
    // More than a page, so the list has a second page whatever else the shared stack holds.
    const client = await admin();
    const filler = Array.from({ length: 51 }, (_, i) => `console-fill-${i}-${randomUUID().slice(0, 8)}`);
    await Promise.all(filler.map((m) => client.call('PUT', `/v1/admin/blacklist/${m}`, { reason: 'filler' })));
    await openScreen('blacklist');
    await page.waitForSelector('[data-testid=blacklist][aria-busy=false]');
    expect(await page.locator('[data-testid=blacklist] tbody tr').count()).toBe(50);
    expect(await page.isEnabled('[data-testid=blacklist] .pager button:has-text("Next")')).toBe(true);
    const machine = `console-${randomUUID().slice(0, 8)}`;
    await page.fill('input[name=machineId]', machine);
    await page.fill('input[name=reason]', 'stolen laptop');
    await page.click('form button[type=submit]');
    await page.waitForSelector('[role=status]:has-text("Blacklisted")');
    // Entries are listed in machine-hash order, 50 a page; the shared stack's other tests blacklist machines too.
    await pageUntil('[data-testid=blacklist]', `tr[data-machine="${machine}"]`);
    await screenshot('blacklist');
    await page.click(`tr[data-machine="${machine}"] button`);
    await page.click('.confirm button.primary');
    await page.waitForSelector(`tr[data-machine="${machine}"]`, { state: 'detached' });
    await Promise.all(filler.map((m) => client.call('DELETE', `/v1/admin/blacklist/${m}`)));
  });

  it('shows the audit trail of what the page did, page by page', async () => {
    await openScreen('audit');
    // Newest first: page back until the page's first change (the promote), collecting what each page shows.
    const seen: string[] = [];
    for (let i = 0; i < 100; i++) {
      await page.waitForSelector('[data-testid=audit][aria-busy=false]');
      if (i === 0) await screenshot('audit');
      const rows = await page.$$eval('[data-testid=audit] tbody tr', (trs) => trs.map((tr) => `${tr.children[2]?.textContent} ${tr.children[3]?.textContent}`));
      seen.push(...rows);
      if (rows.includes(`channel.promote ${product}/stable`)) break;
      await page.click('[data-testid=audit] .pager button:has-text("Next")');
    }
    expect(seen).toEqual(expect.arrayContaining([`channel.promote ${product}/stable`, `channel.halt ${product}/stable`, 'blacklist.add console-', 'blacklist.remove console-'].map((prefix) => expect.stringContaining(prefix))));
    expect(seen.filter((row) => row.startsWith('license.suspend') || row.startsWith('license.resume') || row.startsWith('license.create'))).not.toHaveLength(0);
  });

  it('signs every admin call with SigV4: the same call without its signature is refused', async () => {
    const calls = recorder.calls.filter((c) => c.url.startsWith('/v1/admin/'));
    expect(calls.length).toBeGreaterThan(5);
    for (const call of calls) expect(call.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=.+, SignedHeaders=.+, Signature=[0-9a-f]{64}$/);

    const { baseUrl } = stackInfo();
    const fleetCall = calls.find((c) => c.method === 'GET' && c.url === `/v1/admin/fleet/${product}`);
    if (!fleetCall) throw new Error('the console made no fleet call');
    const replayed = await send(new URL(baseUrl), fleetCall.method, fleetCall.url, fleetCall.headers, fleetCall.body);
    expect(replayed.status).toBe(200);
    const { authorization: _signature, ...unsigned } = fleetCall.headers;
    const refused = await send(new URL(baseUrl), fleetCall.method, fleetCall.url, unsigned, fleetCall.body);
    expect(refused.status).toBeGreaterThanOrEqual(401);
    expect(refused.status).toBeLessThanOrEqual(403);
  });
});
