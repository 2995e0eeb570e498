import { useEffect, useState } from 'react';

import type { PrivacyAccess } from '../generated/PrivacyAccess';
import type { Backend } from '../backend';

/**
 * Whether the signed-in user may open the privacy workspace, asked once per
 * session (`sessionId`; null when nobody is signed in). Any failure (an
 * offline session, the service unreachable) means no workspace: the ward
 * screens stay as they are.
 */
export function usePrivacyAccess(backend: Backend, sessionId: string | null): PrivacyAccess | null {
  const [access, setAccess] = useState<{ session: string; value: PrivacyAccess } | null>(null);
  useEffect(() => {
    if (sessionId === null) return undefined;
    let current = true;
    backend.privacyAccess().then(
      (value) => {
        if (current) setAccess({ session: sessionId, value });
      },
      () => {
        if (current) setAccess(null);
      },
    );
    return () => {
      current = false;
    };
  }, [backend, sessionId]);
  return access !== null && access.session === sessionId ? access.value : null;
}
