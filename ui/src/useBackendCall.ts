import { useCallback, useEffect, useState, type DependencyList } from 'react';

import type { UiError } from './generated/UiError';
import { toUiError } from './backend';

export type CallState<T> =
  | { status: 'loading' }
  | { status: 'ready'; value: T }
  | { status: 'error'; error: UiError };

/**
 * Runs a backend call when the component mounts (and when `deps` change),
 * and again on `retry()`. A result that arrives after the component moved
 * on is dropped, so a slow chart can never replace a newer one on screen.
 */
export function useBackendCall<T>(
  call: () => Promise<T>,
  deps: DependencyList,
): [CallState<T>, () => void] {
  const [state, setState] = useState<CallState<T>>({ status: 'loading' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    setState({ status: 'loading' });
    call().then(
      (value) => {
        if (current) setState({ status: 'ready', value });
      },
      (error: unknown) => {
        if (current) setState({ status: 'error', error: toUiError(error) });
      },
    );
    return () => {
      current = false;
    };
    // `call` is re-created on every render; `deps` say when it really changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, attempt]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  return [state, retry];
}
