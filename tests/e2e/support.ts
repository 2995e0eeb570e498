// Paths and helpers shared by the WebdriverIO config (launcher process) and
// the specs (worker processes). The two talk through files in RUN_DIR.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(E2E_DIR, '../..');

/** The app under test: the debug build with the UI embedded, unless WARDBOOK_APP says otherwise. */
export const APP = path.resolve(process.env['WARDBOOK_APP'] ?? path.join(REPO_ROOT, 'target/debug/wardbook'));

/** Screenshots (git-ignored). */
export const ARTIFACTS_DIR = path.join(E2E_DIR, '.artifacts');

/**
 * Scratch space of this run: run.sh points it into its temp dir; a bare
 * `npx wdio run wdio.conf.ts` falls back to the artifacts folder.
 */
export const RUN_DIR = process.env['WARDBOOK_E2E_RUN_DIR'] ?? path.join(ARTIFACTS_DIR, 'run');

/** What the spec saw, for the checks that can only run after the session. */
export interface SessionRecord {
  /** data-patient-id of every chart the spec opened. */
  openedPatientIds: string[];
  /** Every patient name and MRN shown on screen (to prove the logs hold none). */
  phiStrings: string[];
}

export const SESSION_RECORD = path.join(RUN_DIR, 'session.json');

export function writeSessionRecord(record: SessionRecord): void {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  fs.writeFileSync(SESSION_RECORD, JSON.stringify(record, null, 2));
}

export function readSessionRecord(): SessionRecord | null {
  if (!fs.existsSync(SESSION_RECORD)) return null;
  return JSON.parse(fs.readFileSync(SESSION_RECORD, 'utf8')) as SessionRecord;
}

/** Screenshots of each main screen, for people to look at (not compared). */
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'target/e2e-screenshots');

export function screenshotPath(name: string): string {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return path.join(SCREENSHOT_DIR, `${name}.png`);
}

// ---- the central stack (started by wdio.conf.ts's onPrepare) ------------

/** What wardbook-stack printed, saved by onPrepare for the specs. */
export interface StackInfoFile {
  url: string;
  codes: string[];
  users: { username: string; password: string; display_name: string }[];
  in_scope_mrn: string;
  out_of_scope_mrn: string;
  /** Port of the launcher's bridge that forwards commands to the stack. */
  bridge_port: number;
}

export const STACK_INFO = path.join(RUN_DIR, 'stack.json');

export function stackInfo(): StackInfoFile {
  return JSON.parse(fs.readFileSync(STACK_INFO, 'utf8')) as StackInfoFile;
}

/**
 * Sends one command to the stack (`stop-service`, `start-service`,
 * `sql <query>`, `patient <MRN>`: its id and family name, which SQL cannot
 * read since identifiers are encrypted) through the launcher's bridge; rejects when the stack
 * answers `ok: false`.
 */
export async function stackCommand(line: string): Promise<{ ok: boolean; rows?: string[][]; error?: string }> {
  const { bridge_port } = stackInfo();
  const response = await fetch(`http://127.0.0.1:${bridge_port}/command`, { method: 'POST', body: line });
  const answer = (await response.json()) as { ok: boolean; rows?: string[][]; error?: string };
  if (!answer.ok) throw new Error(`stack command "${line.split(' ')[0]}" failed: ${answer.error ?? 'no reason'}`);
  return answer;
}

/** The single value of a one-row, one-column SQL answer. */
export async function stackScalar(sql: string): Promise<string> {
  const { rows } = await stackCommand(`sql ${sql.replace(/\s+/g, ' ').trim()}`);
  const value = rows?.[0]?.[0];
  if (value === undefined) throw new Error('the query returned no row');
  return value;
}

/** Runs the app's CLI (same data directory and keyring as the window). */
export function appCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(APP, args, { encoding: 'utf8', env: process.env, timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface LocalAuditEvent {
  sequence: number;
  subtype: string;
  action: string;
  patient_id: string | null;
  purpose_of_use: string;
  user_id: string;
}

/** The workstation's local audit trail (`wardbook audit list --json`). */
export function localAudit(): LocalAuditEvent[] {
  const list = appCli(['audit', 'list', '--json', '--limit', '100000']);
  if (list.status !== 0) throw new Error(`wardbook audit list exited ${list.status}: ${list.stderr.trim()}`);
  return JSON.parse(list.stdout) as LocalAuditEvent[];
}

/** Signs in through the sign-in screen and waits for the session. */
export async function signIn(browser: WebdriverIO.Browser, username: string, password: string): Promise<void> {
  const form = await browser.$('[data-testid="sign-in-form"]');
  await form.waitForDisplayed({ timeout: 60_000, timeoutMsg: 'the sign-in screen did not appear within 60 s' });
  await browser.$('[data-testid="sign-in-username"]').setValue(username);
  await browser.$('[data-testid="sign-in-password"]').setValue(password);
  await browser.$('[data-testid="sign-in-submit"]').click();
  await browser.$('[data-testid="session-mode"]').waitForDisplayed({
    timeout: 30_000,
    timeoutMsg: 'no session started within 30 s of signing in',
  });
}

/**
 * Saves a screenshot of the window to tests/e2e/.artifacts/<name>.png.
 *
 * WebKitWebDriver (WebKitGTK 2.50 under Xvfb) answers "take screenshot" only
 * after the page's next rendering update; on a page that has settled (no
 * scrollbar, no animation) that update never comes and the command hangs.
 * So, while the screenshot is taken, an invisible 1x1 px element changes
 * every animation frame.
 */
export async function saveScreenshot(browser: WebdriverIO.Browser, name: string): Promise<void> {
  await browser.execute(() => {
    const pulse = document.createElement('div');
    pulse.id = 'e2e-repaint-pulse';
    pulse.setAttribute('aria-hidden', 'true');
    Object.assign(pulse.style, {
      position: 'fixed',
      left: '0',
      top: '0',
      width: '1px',
      height: '1px',
      opacity: '0.01',
      pointerEvents: 'none',
    });
    document.body.appendChild(pulse);
    const tick = () => {
      if (!pulse.isConnected) return;
      pulse.style.opacity = pulse.style.opacity === '0.01' ? '0.02' : '0.01';
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  try {
    await browser.saveScreenshot(screenshotPath(name));
  } finally {
    await browser.execute(() => document.getElementById('e2e-repaint-pulse')?.remove());
  }
}
