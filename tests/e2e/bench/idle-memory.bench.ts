// `make bench` (scripts/bench-memory.sh): the memory of the app and of
// WebKit's processes after a clinician has left the ward census on screen,
// signed in, for WARDBOOK_IDLE_SECONDS (default 600). Not an end-to-end
// test: wdio.conf.ts picks up specs/**/*.e2e.ts only, and this runs through
//
//   tests/e2e/run.sh --spec bench/idle-memory.bench.ts --mochaOpts.timeout=900000
//
// with a policy file (bench-memory.sh writes it) that keeps the idle lock
// beyond the idle period and the sync interval at its shipped 60 s.
//
// The tables are printed and written to target/bench-memory/ (idle-memory.txt
// and .json): right after the census first shows (t=0), once a minute while
// idle (one line each), and at the end. While idle nothing touches the
// window: the figures are read from /proc by this process. Afterwards, apart
// from the idle figures, one line after each of five lock-and-unlock cycles;
// then a chart is opened so that wdio.conf.ts's post-session checks (audit
// trail, no PHI in the logs) have something to check. docs/memory.md says
// what the figures mean.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { $, $$, browser, expect } from '@wdio/globals';

import { APP, REPO_ROOT, signIn, stackInfo, writeSessionRecord, type SessionRecord } from '../support.ts';
import { mappingTables, pidsOf, ppidOf, processTable, sampleLine, snapshot, type Snapshot } from './procmem.ts';

const ROW = '[data-testid="census-row"]';
const REPORT_DIR = path.join(REPO_ROOT, 'target/bench-memory');

function idleSeconds(): number {
  const raw = process.env['WARDBOOK_IDLE_SECONDS'] ?? '600';
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new Error(`WARDBOOK_IDLE_SECONDS must be whole seconds, not "${raw}"`);
  }
  return seconds;
}

const IDLE_SECONDS = idleSeconds();
/** One line of figures this often while idle. */
const SAMPLE_SECONDS = 60;
/** Lock-and-unlock cycles after the idle period (each unlock hashes the password again). */
const UNLOCKS = 5;

/** The app's pid: the process running APP that WebKitWebDriver started. */
function appPid(): number {
  const running = pidsOf(APP);
  const underDriver = running.filter((pid) => {
    try {
      return path.basename(fs.readlinkSync(`/proc/${ppidOf(pid)}/exe`)) === 'WebKitWebDriver';
    } catch {
      return false;
    }
  });
  const candidates = underDriver.length > 0 ? underDriver : running;
  if (candidates.length !== 1) {
    throw new Error(`expected one running ${APP} under WebKitWebDriver, found pids [${candidates.join(', ')}]`);
  }
  return candidates[0] as number;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describeBinary(): string {
  const stat = fs.statSync(APP);
  return `${APP} (${(stat.size / 1024 / 1024).toFixed(1)} MB, built ${stat.mtime.toISOString()})`;
}

/** The settings of bench-memory.sh's policy file, on one line. */
function describePolicy(): string {
  const file = process.env['WARDBOOK_POLICY_FILE'];
  if (!file) return "(none: the end-to-end run's 90 s idle lock and 2 s sync)";
  const settings = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
  return settings.join(', ') || '(empty)';
}

function section(title: string, s: Snapshot): string {
  return [`== ${title} ==`, processTable(s), '', mappingTables(s)].join('\n');
}

describe('memory after idling on the census', () => {
  const record: SessionRecord = { openedPatientIds: [], phiStrings: [] };
  const report: string[] = [];
  const results: { app: string; idleSeconds: number; samples: Snapshot[]; unlocks: Snapshot[] } = {
    app: APP,
    idleSeconds: IDLE_SECONDS,
    samples: [],
    unlocks: [],
  };
  let pid = 0;

  function writeReport(): void {
    fs.mkdirSync(REPORT_DIR, { recursive: true });
    fs.writeFileSync(path.join(REPORT_DIR, 'idle-memory.txt'), `${report.join('\n')}\n`);
    fs.writeFileSync(path.join(REPORT_DIR, 'idle-memory.json'), JSON.stringify(results, null, 2));
  }

  before(async () => {
    const nurse = stackInfo().users[0]!;
    await signIn(browser, nurse.username, nurse.password);
  });

  after(() => {
    writeSessionRecord(record);
  });

  it(`stays on the census, signed in and untouched, for ${IDLE_SECONDS} s`, async function () {
    // Mocha's limit comes from the command line (bench-memory.sh passes
    // --mochaOpts.timeout); wdio.conf.ts's 240 s is too short for the idle period.
    const needed = (IDLE_SECONDS + 120) * 1000;
    if (this.timeout() < needed) {
      throw new Error(
        `a ${IDLE_SECONDS} s idle period needs --mochaOpts.timeout=${needed} or more (scripts/bench-memory.sh passes it)`,
      );
    }
    await browser.waitUntil(async () => (await $$(ROW).length) > 0, {
      timeout: 60_000,
      timeoutMsg: 'the ward census showed no patient rows within 60 s',
    });
    pid = appPid();
    const started = Date.now();
    const first = snapshot(pid, 0);

    const header = [
      `Wardbook idle memory: ${IDLE_SECONDS} s signed in on the census, untouched`,
      `app: ${describeBinary()}, pid ${pid}`,
      `policy: ${describePolicy()}`,
      `MB = MiB; kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}; ${os.cpus().length} CPUs`,
      '',
    ];
    console.log(`\n${header.join('\n')}\n${section('t=0: the census has just shown', first)}\n`);

    const samples = results.samples;
    samples.push(first);
    for (let next = SAMPLE_SECONDS; next < IDLE_SECONDS; next += SAMPLE_SECONDS) {
      await wait(started + next * 1000 - Date.now());
      const s = snapshot(pid, next);
      samples.push(s);
      console.log(sampleLine(s));
    }
    await wait(started + IDLE_SECONDS * 1000 - Date.now());
    const last = snapshot(pid, Math.round((Date.now() - started) / 1000));
    samples.push(last);

    const app0 = first.processes[0]!;
    const app1 = last.processes[0]!;
    const pss = (s: Snapshot) => s.processes.reduce((t, p) => t + p.pss, 0);
    const growth = [
      `app RSS ${(app0.rss / 1024).toFixed(1)} -> ${(app1.rss / 1024).toFixed(1)} MB, ` +
        `all processes' PSS ${(pss(first) / 1024).toFixed(1)} -> ${(pss(last) / 1024).toFixed(1)} MB ` +
        `over ${last.atSeconds} s; the app's peak RSS (VmHWM) ${(app1.peakRss / 1024).toFixed(1)} MB`,
    ];
    report.push(
      ...header,
      section('t=0: the census has just shown', first),
      '',
      '== while idle ==',
      ...samples.map((s) => sampleLine(s)),
      '',
      section(`t=${last.atSeconds} s: after idling on the census`, last),
      '',
      ...growth,
    );
    console.log(`\n${section(`t=${last.atSeconds} s: after idling on the census`, last)}\n\n${growth.join('\n')}\n`);
    writeReport();

    // Only now touch the window: still the census, not the lock screen.
    await expect($('[data-testid="lock-screen"]')).not.toBeExisting();
    expect(await $$(ROW).length).toBeGreaterThan(0);
  });

  it(`then locks and unlocks ${UNLOCKS} times (separate from the idle figures)`, async () => {
    const nurse = stackInfo().users[0]!;
    const lines = ['', `== after each of ${UNLOCKS} lock-and-unlock cycles (each hashes the password again) ==`];
    const before = snapshot(pid, 0);
    lines.push(sampleLine(before, 'before   '));
    for (let i = 1; i <= UNLOCKS; i++) {
      await $('[data-testid="lock-now"]').click();
      await $('[data-testid="lock-screen"]').waitForDisplayed({ timeout: 15_000, timeoutMsg: 'no lock screen' });
      await $('[data-testid="unlock-password"]').setValue(nurse.password);
      await $('[data-testid="unlock-submit"]').click();
      await $('[data-testid="lock-screen"]').waitForDisplayed({
        reverse: true,
        timeout: 30_000,
        timeoutMsg: 'the right password did not unlock within 30 s',
      });
      await browser.waitUntil(async () => (await $$(ROW).length) > 0, {
        timeout: 60_000,
        timeoutMsg: 'the census did not come back after unlocking',
      });
      const s = snapshot(pid, i);
      results.unlocks.push(s);
      lines.push(sampleLine(s, `unlock ${i} `));
    }
    const last = results.unlocks[results.unlocks.length - 1]!;
    const grew = (last.processes[0]!.rss - before.processes[0]!.rss) / 1024;
    lines.push(`the app's RSS grew ${grew.toFixed(1)} MB over ${UNLOCKS} unlocks`);
    console.log(lines.join('\n'));
    report.push(...lines);
    writeReport();
  });

  it('opens a chart from the census afterwards (for the post-session checks)', async () => {
    record.phiStrings = await browser.execute((sel: string) => {
      const out: string[] = [];
      for (const row of Array.from(document.querySelectorAll(sel))) {
        const [name, mrn] = Array.from(row.querySelectorAll('th, td')).map((c) => (c.textContent ?? '').trim());
        if (name) out.push(name);
        if (mrn) out.push(mrn);
      }
      return out;
    }, ROW);
    const patientId = await $(ROW).getAttribute('data-patient-id');
    expect(patientId).toBeTruthy();
    // WebKitWebDriver will not click a <tr> itself: click its name cell.
    await $(`${ROW}[data-patient-id="${patientId}"] th`).click();
    await $('[data-testid="allergy-banner"]').waitForDisplayed({
      timeout: 30_000,
      timeoutMsg: `the chart of ${patientId} did not show its allergy banner`,
    });
    record.openedPatientIds.push(patientId as string);
    writeSessionRecord(record);
  });
});
