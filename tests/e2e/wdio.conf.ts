// WebdriverIO drives the real Wardbook binary (WebKitGTK) through tauri-driver,
// which proxies WebDriver to WebKitWebDriver on Linux. run.sh sets up the
// world around it (Xvfb, a private D-Bus session with an unlocked
// gnome-keyring, temp HOME/XDG dirs and WARDBOOK_DATA_DIR); this file starts
// and stops tauri-driver and, after the session (the app has exited), checks
// what only the app's own CLI can show: the audit trail and the logs.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { browser } from '@wdio/globals';

import { Stack } from './stack.ts';
import { APP, RUN_DIR, STACK_INFO, readSessionRecord, saveScreenshot } from './support.ts';

/** The idle lock of the app under test (seconds): short enough to test, long enough for the steps between. */
export const IDLE_LOCK_SECONDS = 90;

let stack: Stack | undefined;
let bridge: http.Server | undefined;

/** Starts the central stack, enrols the app's data directory with it and
 * opens the command bridge for the specs. */
async function startStack(): Promise<void> {
  stack = await Stack.start({ startTimeoutMs: 180_000, commandTimeoutMs: 60_000 });
  const info = stack.info;
  process.env['WARDBOOK_SERVER_URL'] = info.url;
  process.env['WARDBOOK_SYNC_INTERVAL_SECONDS'] = '2';
  process.env['WARDBOOK_IDLE_LOCK_SECONDS'] = String(IDLE_LOCK_SECONDS);
  // The synthetic ward's drug chart is in UTC (its doses answer due times
  // computed in UTC): the app's clock times match it whatever the machine's zone.
  process.env['WARDBOOK_HOSPITAL_TIME_ZONE'] ??= 'UTC';
  const enrol = runCli(['enroll', '--server', info.url, '--code', info.codes[0] as string]);
  if (enrol.status !== 0) throw new Error(`wardbook enroll failed (${enrol.status}): ${enrol.stderr.trim()}`);
  const running = stack;
  bridge = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      running
        .command(body.trim())
        .then((answer) => res.end(JSON.stringify(answer)))
        .catch((e: unknown) => res.end(JSON.stringify({ ok: false, error: String(e) })));
    });
  });
  // The bridge through which specs (worker processes) command the stack, on
  // a port the system picks (a leftover run cannot block it).
  await new Promise<void>((resolve) => bridge!.listen(0, '127.0.0.1', resolve));
  const address = bridge.address();
  if (address === null || typeof address === 'string') throw new Error('the stack bridge has no TCP port');
  fs.writeFileSync(STACK_INFO, JSON.stringify({ ...info, bridge_port: address.port }, null, 2));
}

async function stopStack(): Promise<void> {
  await new Promise<void>((resolve) => (bridge ? bridge.close(() => resolve()) : resolve()));
  await stack?.stop();
}

const HOST = '127.0.0.1';
const PORT = 4444;
const NATIVE_PORT = 4445;

function findExecutable(name: string, extra: string[] = []): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), ...extra];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const TAURI_DRIVER =
  process.env['TAURI_DRIVER'] ?? findExecutable('tauri-driver', [path.join(os.homedir(), '.cargo', 'bin')]);
const NATIVE_DRIVER = process.env['WEBKIT_WEBDRIVER'] ?? findExecutable('WebKitWebDriver');

let tauriDriver: ChildProcess | undefined;

/** Resolves once something accepts TCP connections on host:port, or rejects at the deadline. */
function waitForPort(host: string, port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (!alive()) {
        reject(new Error(`tauri-driver exited before listening on ${host}:${port}`));
        return;
      }
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`tauri-driver did not listen on ${host}:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

function stopTauriDriver(): void {
  if (!tauriDriver?.pid || tauriDriver.exitCode !== null) return;
  // tauri-driver leads its own process group (detached): WebKitWebDriver and
  // any app it still runs go with it.
  try {
    process.kill(-tauriDriver.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/** Pids of running processes whose executable is the app under test. */
function runningAppPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/exe`) === APP) pids.push(Number(entry));
    } catch {
      // not ours to read, or gone
    }
  }
  return pids;
}

async function waitForAppExit(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (runningAppPids().length > 0) {
    if (Date.now() > deadline) throw new Error(`the app was still running ${timeoutMs} ms after the session ended`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(APP, args, { encoding: 'utf8', env: process.env, timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Every regular file under `dir` whose name looks like a log. */
function logFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    if (/\.log(\.\d+)?$|\.log\.|^log$/i.test(entry.name) || /(^|\/)logs?(\/|$)/.test(entry.parentPath)) {
      found.push(path.join(entry.parentPath, entry.name));
    }
  }
  return found;
}

interface AuditEvent {
  sequence: number;
  subtype: string;
  patient_id: string | null;
}

/**
 * The checks that need the session to be over: the app's database is the
 * app's while it runs. Each failure is printed plainly and fails the run.
 */
async function postSessionChecks(): Promise<void> {
  const failures: string[] = [];
  const passes: string[] = [];
  const check = (ok: boolean, what: string, detail = '') => {
    if (ok) passes.push(what);
    else failures.push(detail ? `${what}: ${detail}` : what);
  };

  const record = readSessionRecord();
  if (!record || record.openedPatientIds.length === 0) {
    throw new Error('post-session checks: the spec recorded no opened chart (did the spec fail early?)');
  }

  await waitForAppExit(30_000);

  // 1. Every chart the spec opened is in the audit trail.
  const list = runCli(['audit', 'list', '--json', '--limit', '100000']);
  let events: AuditEvent[] = [];
  if (list.status !== 0) {
    failures.push(`wardbook audit list --json exited ${list.status}: ${list.stderr.trim()}`);
  } else {
    try {
      events = JSON.parse(list.stdout) as AuditEvent[];
    } catch (e) {
      failures.push(`wardbook audit list --json did not print JSON (${String(e)}): ${list.stdout.slice(0, 200)}`);
    }
  }
  for (const id of record.openedPatientIds) {
    check(
      events.some((e) => e.subtype === 'chart-open' && e.patient_id === id),
      `audit trail has a chart-open event for patient ${id}`,
      `not among ${events.length} events (subtypes: ${[...new Set(events.map((e) => e.subtype))].join(', ')})`,
    );
  }
  check(
    events.some((e) => e.subtype === 'census-list'),
    'audit trail has a census-list event',
    `subtypes seen: ${[...new Set(events.map((e) => e.subtype))].join(', ')}`,
  );

  // 2. The chain verifies.
  const verify = runCli(['audit', 'verify']);
  check(
    verify.status === 0 && /chain intact/.test(verify.stdout),
    'wardbook audit verify exits 0 and prints "chain intact"',
    `exit ${verify.status}, stdout: ${verify.stdout.trim()}, stderr: ${verify.stderr.trim()}`,
  );

  // 3. No patient name or MRN in any log the run produced.
  const dataDir = process.env['WARDBOOK_DATA_DIR'];
  const logs = [...(dataDir ? logFiles(dataDir) : []), ...logFiles(RUN_DIR)];
  const needles = record.phiStrings.filter((s) => s.trim().length >= 3);
  for (const file of logs) {
    const text = fs.readFileSync(file, 'utf8');
    const leaked = needles.filter((n) => text.includes(n));
    check(leaked.length === 0, `no patient name or MRN in ${file}`, `found ${leaked.length} (e.g. an MRN or name shown in the census)`);
  }
  check(needles.length > 0, 'the spec recorded patient names to look for in the logs');

  console.log(`\npost-session checks (${logs.length} log file(s) scanned):`);
  for (const p of passes) console.log(`  ✓ ${p}`);
  for (const f of failures) console.log(`  ✖ ${f}`);
  if (failures.length > 0) {
    throw new Error(`${failures.length} post-session check(s) failed`);
  }
}

export const config: WebdriverIO.Config = {
  runner: 'local',
  hostname: HOST,
  port: PORT,
  specs: ['./specs/**/*.e2e.ts'],
  maxInstances: 1,
  capabilities: [
    {
      // tauri-driver starts this binary inside WebKitWebDriver's session.
      'tauri:options': { application: APP },
      // WebKitWebDriver speaks classic WebDriver only (no BiDi).
      'wdio:enforceWebDriverClassic': true,
    } as WebdriverIO.Capabilities,
  ],
  logLevel: (process.env['WDIO_LOG_LEVEL'] as WebdriverIO.Config['logLevel']) ?? 'warn',
  bail: 0,
  waitforTimeout: 20_000,
  // A WebDriver command that takes longer than this has hung.
  connectionRetryTimeout: 60_000,
  connectionRetryCount: 1,
  framework: 'mocha',
  reporters: ['spec'],
  mochaOpts: { ui: 'bdd', timeout: 240_000 },

  afterTest: async (test, _context, result) => {
    if (result.passed) return;
    const name = `failed-${test.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
    await saveScreenshot(browser, name).catch(() => undefined);
  },

  onPrepare: async () => {
    const missing: string[] = [];
    if (!TAURI_DRIVER) missing.push('tauri-driver (cargo install tauri-driver --locked)');
    if (!NATIVE_DRIVER) missing.push('WebKitWebDriver (apt-get install webkit2gtk-driver)');
    if (!fs.existsSync(APP)) {
      missing.push(`the app binary ${APP} (npm --prefix ui run build && cargo build --features custom-protocol)`);
    }
    if (missing.length > 0) throw new Error(`cannot run the end-to-end tests; missing: ${missing.join('; ')}`);

    fs.mkdirSync(RUN_DIR, { recursive: true });
    fs.rmSync(path.join(RUN_DIR, 'session.json'), { force: true });
    // Before tauri-driver: the app it launches inherits the server URL and timings.
    await startStack();
    // Everything tauri-driver, WebKitWebDriver and the app print goes here;
    // the post-session checks scan it for PHI.
    const log = fs.openSync(path.join(RUN_DIR, 'tauri-driver.log'), 'a');
    tauriDriver = spawn(
      TAURI_DRIVER as string,
      ['--port', String(PORT), '--native-port', String(NATIVE_PORT), '--native-driver', NATIVE_DRIVER as string],
      { stdio: ['ignore', log, log], detached: true },
    );
    fs.closeSync(log);
    await waitForPort(HOST, PORT, 30_000, () => tauriDriver?.exitCode === null);
  },

  onComplete: async () => {
    try {
      await postSessionChecks();
    } finally {
      stopTauriDriver();
      await stopStack();
    }
  },
};

process.once('exit', stopTauriDriver);
