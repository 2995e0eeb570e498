// Paths and helpers shared by the WebdriverIO config (launcher process) and
// the specs (worker processes). The two talk through files in RUN_DIR.

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

export function screenshotPath(name: string): string {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, `${name}.png`);
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
