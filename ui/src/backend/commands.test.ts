// The IPC command list is written in four places that must agree: the
// handlers registered in src-tauri/lib.rs (generate_handler!), the commands
// tauri-build makes permissions for (src-tauri/build.rs), the permissions
// the main window is granted (capabilities/default.json) and the commands
// this UI calls (backend/tauri.ts). A command missing from any of them is a
// window that cannot do something, or a grant nothing uses: this test reads
// all four and fails on any difference, naming it.
import { describe, expect, it } from 'vitest';

import libRs from '../../../src-tauri/lib.rs?raw';
import buildRs from '../../../src-tauri/build.rs?raw';
import capability from '../../../capabilities/default.json?raw';
import tauriTs from './tauri.ts?raw';

function sorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

function registered(): string[] {
  const block = /generate_handler!\[([\s\S]*?)\]/.exec(libRs)?.[1];
  if (!block) throw new Error('src-tauri/lib.rs has no generate_handler![...]');
  return sorted([...block.matchAll(/commands::(\w+)/g)].map((m) => m[1]!));
}

function permitted(): string[] {
  const block = /const COMMANDS: &\[&str\] = &\[([\s\S]*?)\];/.exec(buildRs)?.[1];
  if (!block) throw new Error('src-tauri/build.rs has no COMMANDS list');
  return sorted([...block.matchAll(/"(\w+)"/g)].map((m) => m[1]!));
}

function granted(): string[] {
  const permissions = (JSON.parse(capability) as { permissions: unknown[] }).permissions;
  return sorted(
    permissions.map((p) => {
      if (typeof p !== 'string' || !p.startsWith('allow-')) {
        throw new Error(`capabilities/default.json grants ${JSON.stringify(p)}, which is not a Wardbook command`);
      }
      return p.slice('allow-'.length).replaceAll('-', '_');
    }),
  );
}

function called(): string[] {
  return sorted([...tauriTs.matchAll(/call<[^>]*>\('(\w+)'/g)].map((m) => m[1]!));
}

describe('the IPC command list', () => {
  it('is read from each of its four places', () => {
    for (const list of [registered(), permitted(), granted(), called()]) {
      expect(list.length).toBeGreaterThan(20);
    }
  });

  it('is the same in lib.rs, build.rs, the capability and the UI', () => {
    const handlers = registered();
    expect(permitted(), 'src-tauri/build.rs COMMANDS').toEqual(handlers);
    expect(granted(), 'capabilities/default.json permissions').toEqual(handlers);
    expect(called(), 'ui/src/backend/tauri.ts calls').toEqual(handlers);
  });
});
