// Resident memory of the app under test and of the processes it started
// (WebKit's web and network processes, and anything else below it), read
// from /proc as the kernel accounts it. Linux only.
//
//   RSS       pages resident in the process (shared pages counted in full)
//   PSS       RSS with each shared page divided among the processes sharing
//             it: the PSS of several processes adds up to what they cost
//   private   pages no other process maps (Private_Clean + Private_Dirty):
//             what quitting the process would give back
//   dirty     private pages written to (Private_Dirty): heap, stacks, caches
//   anon      anonymous pages (no file behind them: heap, stacks, JIT, and
//             the copies of library pages the dynamic loader wrote to)
//   libs      resident pages of mapped shared libraries (*.so): read from
//             disk, shared with every process that maps the same library

import fs from 'node:fs';
import path from 'node:path';

const KB = 1024;
const MIB = 1024 * 1024;
/** glibc's per-thread malloc arenas are 64 MiB reservations (HEAP_MAX_SIZE on 64-bit). */
const ARENA_BYTES = 64 * MIB;

/** One process's memory, in kB. */
export interface ProcessMemory {
  pid: number;
  ppid: number;
  /** What the process is: its executable's file name (WebKitWebProcess, ...). */
  name: string;
  rss: number;
  pss: number;
  private: number;
  privateDirty: number;
  anon: number;
  /** Resident pages of mapped shared libraries (*.so). */
  libs: number;
  /** The PSS of those pages. */
  libsPss: number;
  swap: number;
  /** The highest RSS the process has had (VmHWM). */
  peakRss: number;
  threads: number;
}

/** Memory of the mappings of one kind (or of one file), in kB. */
export interface MappingGroup {
  name: string;
  mappings: number;
  size: number;
  rss: number;
  pss: number;
  privateDirty: number;
}

export interface Snapshot {
  /** Seconds since the census first showed. */
  atSeconds: number;
  takenAt: string;
  /** The app first, then its descendants by pid. */
  processes: ProcessMemory[];
  /** Each process's mappings by kind (heap, malloc arenas, thread stacks, libraries, ...), in `processes` order. */
  byKind: MappingGroup[][];
  /** The app's largest mappings by RSS, files grouped by path. */
  appTop: MappingGroup[];
}

function readFields(file: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) fields.set(m[1] as string, (fields.get(m[1] as string) ?? 0) + Number(m[2]));
  }
  return fields;
}

function exeOf(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** The executable, without the " (deleted)" the kernel adds once a rebuild replaced the file. */
function exePath(pid: number): string | null {
  return exeOf(pid)?.replace(/ \(deleted\)$/, '') ?? null;
}

export function ppidOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return null;
  }
}

function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** Pids of running processes whose executable is `exe`. */
export function pidsOf(exe: string): number[] {
  return pids().filter((pid) => exePath(pid) === exe);
}

/** Every descendant of `root`, by pid. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    const ppid = ppidOf(pid);
    if (ppid === null) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found.sort((a, b) => a - b);
}

interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
  rss: number;
  pss: number;
  privateDirty: number;
}

function readMappings(pid: number): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      current = {
        start: parseInt(head[1] as string, 16),
        end: parseInt(head[2] as string, 16),
        perms: head[3] as string,
        path: (head[4] ?? '').trim(),
        rss: 0,
        pss: 0,
        privateDirty: 0,
      };
      mappings.push(current);
      continue;
    }
    const field = /^(Rss|Pss|Private_Dirty):\s+(\d+) kB/.exec(line);
    if (field && current) {
      if (field[1] === 'Rss') current.rss = Number(field[2]);
      else if (field[1] === 'Pss') current.pss = Number(field[2]);
      else current.privateDirty = Number(field[2]);
    }
  }
  return mappings;
}

const isLibrary = (p: string) => p.startsWith('/') && /\.so(\.[\d.]+)?( \(deleted\))?$/.test(p);

/**
 * What each mapping is. Anonymous mappings carry no name, so two kinds are
 * told apart by their shape: a glibc malloc arena is a 64 MiB-aligned
 * reservation (its used part read-write, the rest `---p`), a thread's stack
 * sits right above a one-page `---p` guard.
 */
function classify(mappings: Mapping[], exe: string): string[] {
  return mappings.map((m, i) => {
    const p = m.path;
    if (p === '[heap]') return 'heap (brk: main malloc arena)';
    if (p.startsWith('[stack')) return 'main thread stack';
    if (['[vvar]', '[vdso]', '[vsyscall]', '[vvar_vclock]'].includes(p)) return 'kernel (vdso)';
    if (['/memfd:', '/dev/shm/', '/SYSV'].some((prefix) => p.startsWith(prefix))) return 'shared memory (memfd, shm)';
    if (p.replace(/ \(deleted\)$/, '') === exe) return 'the executable';
    if (isLibrary(p)) return 'shared libraries (*.so)';
    if (p.startsWith('/dev/')) return 'devices (/dev)';
    if (p.startsWith('/')) return 'other files (fonts, caches, locale)';
    if (p !== '' && !p.startsWith('[anon')) return `other (${p})`;
    if (m.perms.startsWith('---')) return 'reserved, not accessible';
    const next = mappings[i + 1];
    const reservedAbove = next !== undefined && next.start === m.end && next.perms.startsWith('---') ? next.end : m.end;
    if (m.start % ARENA_BYTES === 0 && reservedAbove - m.start === ARENA_BYTES) return 'malloc arenas (threads)';
    const prev = mappings[i - 1];
    const guardBelow = prev !== undefined && prev.end === m.start && prev.perms.startsWith('---');
    if (guardBelow && prev.end - prev.start === 4096) return 'thread stacks';
    return 'anonymous (large mallocs, JIT, other)';
  });
}

function group(entries: { key: string; m: Mapping }[]): MappingGroup[] {
  const groups = new Map<string, MappingGroup>();
  for (const { key, m } of entries) {
    const g = groups.get(key) ?? { name: key, mappings: 0, size: 0, rss: 0, pss: 0, privateDirty: 0 };
    g.mappings += 1;
    g.size += (m.end - m.start) / KB;
    g.rss += m.rss;
    g.pss += m.pss;
    g.privateDirty += m.privateDirty;
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => b.rss - a.rss);
}

function processMemory(pid: number, mappings: Mapping[]): ProcessMemory | null {
  try {
    const rollup = readFields(`/proc/${pid}/smaps_rollup`);
    const status = readFields(`/proc/${pid}/status`);
    const libs = mappings.filter((m) => isLibrary(m.path));
    const exe = exePath(pid) ?? '';
    const v = (f: Map<string, number>, k: string) => f.get(k) ?? 0;
    return {
      pid,
      ppid: ppidOf(pid) ?? 0,
      name: path.basename(exe) || fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
      rss: v(rollup, 'Rss'),
      pss: v(rollup, 'Pss'),
      private: v(rollup, 'Private_Clean') + v(rollup, 'Private_Dirty'),
      privateDirty: v(rollup, 'Private_Dirty'),
      anon: v(rollup, 'Anonymous'),
      libs: libs.reduce((s, m) => s + m.rss, 0),
      libsPss: libs.reduce((s, m) => s + m.pss, 0),
      swap: v(rollup, 'Swap'),
      peakRss: v(status, 'VmHWM'),
      threads: v(status, 'Threads'),
    };
  } catch {
    return null; // gone meanwhile
  }
}

/** The memory of `appPid` and of every process below it, now. */
export function snapshot(appPid: number, atSeconds: number): Snapshot {
  const appExe = exePath(appPid);
  if (appExe === null) throw new Error(`the app (pid ${appPid}) is no longer running`);
  const processes: ProcessMemory[] = [];
  const byKind: MappingGroup[][] = [];
  let appMappings: Mapping[] = [];
  let appKinds: string[] = [];
  for (const pid of [appPid, ...descendants(appPid)]) {
    let mappings: Mapping[];
    try {
      mappings = readMappings(pid);
    } catch {
      continue; // gone meanwhile
    }
    const mem = processMemory(pid, mappings);
    if (!mem) continue;
    const kinds = classify(mappings, exePath(pid) ?? '');
    if (pid === appPid) {
      appMappings = mappings;
      appKinds = kinds;
    }
    processes.push(mem);
    byKind.push(group(mappings.map((m, i) => ({ key: kinds[i] as string, m }))));
  }
  if (processes[0]?.pid !== appPid) throw new Error(`could not read the memory of the app (pid ${appPid})`);
  const appTop = group(
    appMappings.map((m, i) => {
      const kind = appKinds[i] as string;
      const file = m.path.startsWith('/') ? m.path.replace(/ \(deleted\)$/, '') : '';
      // Files by path; anonymous memory by kind, except the large regions, one by one.
      const key =
        file !== ''
          ? file
          : m.rss >= 4 * KB
            ? `${kind} @${m.start.toString(16)}`
            : kind;
      return { key, m };
    }),
  ).slice(0, 15);
  return { atSeconds, takenAt: new Date().toISOString(), processes, byKind, appTop };
}

const mb = (kb: number) => (kb / KB).toFixed(1);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The processes' table (MB = MiB), with a total. */
export function processTable(s: Snapshot): string {
  const rows = s.processes.map((p, i) => [
    i === 0 ? `${p.name} (app)` : p.name,
    String(p.pid),
    mb(p.rss),
    mb(p.pss),
    mb(p.private),
    mb(p.privateDirty),
    mb(p.anon),
    mb(p.libs),
    String(p.threads),
  ]);
  const sum = (f: (p: ProcessMemory) => number) => mb(s.processes.reduce((t, p) => t + f(p), 0));
  rows.push([
    'total',
    '',
    sum((p) => p.rss),
    sum((p) => p.pss),
    sum((p) => p.private),
    sum((p) => p.privateDirty),
    sum((p) => p.anon),
    sum((p) => p.libs),
    String(s.processes.reduce((t, p) => t + p.threads, 0)),
  ]);
  return table(
    ['process', 'pid', 'RSS MB', 'PSS MB', 'private MB', 'dirty MB', 'anon MB', 'shared-lib MB', 'threads'],
    rows,
  );
}

/** Each process's memory by kind of mapping, and the app's largest mappings. */
export function mappingTables(s: Snapshot): string {
  const rows = (groups: MappingGroup[]) =>
    groups
      .filter((g) => g.rss > 0)
      .map((g) => [g.name, String(g.mappings), mb(g.size), mb(g.rss), mb(g.pss), mb(g.privateDirty)]);
  const header = ['mappings', 'count', 'mapped MB', 'RSS MB', 'PSS MB', 'dirty MB'];
  const kinds = s.processes.flatMap((p, i) => [
    `${i === 0 ? 'the app' : p.name} (pid ${p.pid}) by kind of mapping:`,
    table(header, rows(s.byKind[i] ?? [])),
    '',
  ]);
  const top = [`the app's ${s.appTop.length} largest mappings (files grouped by path):`, table(header, rows(s.appTop))];
  return [...kinds, ...top].join('\n');
}

/** One line for a sample: `label` (by default its time), the app's figures, then all processes' PSS. */
export function sampleLine(s: Snapshot, label = `t=${String(s.atSeconds).padStart(5)} s`): string {
  const app = s.processes[0] as ProcessMemory;
  const pss = s.processes.reduce((t, p) => t + p.pss, 0);
  const web = s.processes.filter((p) => p.name === 'WebKitWebProcess').reduce((t, p) => t + p.pss, 0);
  const f = (kb: number) => `${mb(kb).padStart(6)} MB`;
  return [
    `${label}  app RSS ${f(app.rss)}  PSS ${f(app.pss)}  dirty ${f(app.privateDirty)}`,
    `WebKitWebProcess PSS ${f(web)}`,
    `all PSS ${f(pss)}`,
  ].join('  | ');
}
