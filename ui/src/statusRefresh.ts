import { createContext, useContext } from 'react';

/** Asks the status bar to read the sync status again now (after a recording). */
export const StatusRefreshContext = createContext<() => void>(() => undefined);

export function useStatusRefresh(): () => void {
  return useContext(StatusRefreshContext);
}
