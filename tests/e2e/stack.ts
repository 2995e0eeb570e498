// The central side of the end-to-end run: target/debug/wardbook-stack
// (test-support/src/bin/wardbook-stack.rs), a throwaway PostgreSQL cluster
// and the real sync service on a synthetic ward, with its HL7 v2 MLLP
// listener on loopback. It prints one JSON line when ready, then answers
// one JSON line per command read on stdin; closing stdin stops it.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

import { REPO_ROOT, stackCommand } from './support.ts';

export interface StackInfo {
  url: string;
  /** host:port of the service's MLLP listener (plain TCP, loopback). */
  mllp: string;
  codes: string[];
  users: { username: string; password: string; display_name: string }[];
  in_scope_mrn: string;
  out_of_scope_mrn: string;
  postgres_log: string;
}

export interface StackAnswer {
  ok: boolean;
  rows?: string[][];
  error?: string;
  /** `hl7`: the ACK's MSA-1 (AA, AE, AR). */
  code?: string;
  /** `hl7`: the ACK's text, segments separated by \r. */
  ack?: string;
}

/** What the service answered to one HL7 v2 message. */
export interface Hl7Ack {
  /** MSA-1: AA accepted, AE error (stored for IT to fix), AR rejected (send again). */
  code: string;
  /** The whole ACK (MSH, MSA and, unless AA, ERR): no patient data. */
  ack: string;
}

/**
 * Sends one HL7 v2 message to the service's MLLP listener as a hospital's
 * interface engine would (the stack's `hl7` command: a real TCP connection,
 * the message framed 0x0B ... 0x1C 0x0D, the framed ACK read back) and
 * resolves with the whole ACK. For specs (worker processes): it goes
 * through the launcher's bridge. Segments end in \r; a \n is sent as \r.
 * Rejects when no ACK came back (the service stopped, a broken frame).
 */
export async function exchangeHl7(message: string): Promise<Hl7Ack> {
  // A JSON string keeps the message's \r on the one line a command is.
  const answer: StackAnswer = await stackCommand(`hl7 ${JSON.stringify(message)}`);
  if (typeof answer.code !== 'string' || typeof answer.ack !== 'string') {
    throw new Error(`the stack answered hl7 without an ACK: ${JSON.stringify(answer)}`);
  }
  return { code: answer.code, ack: answer.ack };
}

/** Sends one HL7 v2 message over MLLP (see {@link exchangeHl7}); resolves with the ACK's MSA-1. */
export async function sendHl7(message: string): Promise<string> {
  return (await exchangeHl7(message)).code;
}

export interface StackOptions {
  startTimeoutMs: number;
  commandTimeoutMs: number;
}

const STACK_BIN = path.resolve(process.env['WARDBOOK_STACK'] ?? path.join(REPO_ROOT, 'target/debug/wardbook-stack'));

export class Stack {
  private waiting: ((line: string | null) => void)[] = [];
  private lines: string[] = [];
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private stderr = '';
  info!: StackInfo;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly options: StackOptions,
  ) {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const next = this.waiting.shift();
      if (next) next(line);
      else this.lines.push(line);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
      process.stderr.write(chunk);
    });
    child.on('exit', () => {
      this.closed = true;
      for (const waiter of this.waiting.splice(0)) waiter(null);
    });
  }

  /** Starts the stack and waits (bounded) for its first line. */
  static async start(options: StackOptions): Promise<Stack> {
    const child = spawn(STACK_BIN, [], { stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
    const stack = new Stack(child, options);
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new Error(`cannot start ${STACK_BIN} (make stack builds it): ${e.message}`)));
    });
    await spawned;
    const first = await stack.nextLine(options.startTimeoutMs, 'start');
    stack.info = JSON.parse(first) as StackInfo;
    return stack;
  }

  private nextLine(timeoutMs: number, what: string): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new Error(`wardbook-stack exited before answering ${what}: ${this.stderr.trim()}`));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== waiter);
        reject(new Error(`wardbook-stack did not answer ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter = (line: string | null): void => {
        clearTimeout(timer);
        if (line === null) reject(new Error(`wardbook-stack exited before answering ${what}: ${this.stderr.trim()}`));
        else resolve(line);
      };
      this.waiting.push(waiter);
    });
  }

  /** Sends one command and resolves with its answer; commands run one at a time. */
  command(line: string): Promise<StackAnswer> {
    const run = async (): Promise<StackAnswer> => {
      if (line.includes('\n')) throw new Error('a stack command is one line');
      this.child.stdin.write(`${line}\n`);
      return JSON.parse(await this.nextLine(this.options.commandTimeoutMs, line.split(' ')[0] ?? '')) as StackAnswer;
    };
    const answer = this.queue.then(run, run);
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  /** Closes stdin (the stack stops the service and deletes the cluster) and waits, bounded. */
  async stop(): Promise<void> {
    if (this.closed) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 30_000));
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error('wardbook-stack did not stop within 30 s of its input closing');
    }
  }
}
