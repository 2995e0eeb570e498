import { toUiError, type Backend } from './backend';

/** Error codes that mean the session is no longer active: the UI re-reads it at once. */
export const SESSION_ERROR_CODES = new Set(['locked', 'signed_out']);

/**
 * Wraps a backend so that any call rejected because the session is locked or
 * signed out makes the UI re-read the session (and so leave the patient
 * screens) without waiting for the next poll. The rejection still reaches
 * the caller unchanged.
 */
export function watchSession(backend: Backend, onSessionError: () => void): Backend {
  return new Proxy(backend, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            if (SESSION_ERROR_CODES.has(toUiError(error).code)) onSessionError();
            throw error;
          });
        }
        return result;
      };
    },
  });
}
