import { useCallback, useState } from 'react';

import { useBackend } from './backend';
import { Census } from './components/Census';
import { Chart } from './components/Chart';
import { ErrorPanel } from './components/ErrorPanel';
import { Frame } from './components/Frame';
import { useBackendCall } from './useBackendCall';

type Screen = { kind: 'census'; returnFocusTo: string | null } | { kind: 'chart'; patientId: string };

export function App() {
  const backend = useBackend();
  const [info, retryInfo] = useBackendCall(() => backend.appInfo(), [backend]);
  const [screen, setScreen] = useState<Screen>({ kind: 'census', returnFocusTo: null });

  const openChart = useCallback((patientId: string) => setScreen({ kind: 'chart', patientId }), []);
  const backToCensus = useCallback(
    () => setScreen((s) => ({ kind: 'census', returnFocusTo: s.kind === 'chart' ? s.patientId : null })),
    [],
  );

  const nav =
    screen.kind === 'chart' ? (
      <button type="button" className="button back-button" data-testid="back-to-census" onClick={backToCensus}>
        <span aria-hidden="true">←</span> Ward census <kbd>Esc</kbd>
      </button>
    ) : null;

  return (
    <Frame info={info.status === 'ready' ? info.value : null} nav={nav}>
      {info.status === 'error' && (
        <ErrorPanel title="Wardbook could not read its status." error={info.error} onRetry={retryInfo} />
      )}
      {screen.kind === 'census' ? (
        <Census onOpenChart={openChart} returnFocusTo={screen.returnFocusTo} />
      ) : (
        <Chart key={screen.patientId} patientId={screen.patientId} onBack={backToCensus} />
      )}
    </Frame>
  );
}
