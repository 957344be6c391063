// Loading and error states for data fetched from the API.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

export interface Loaded<T> {
  data?: T;
  error?: string;
  loading: boolean;
  reload: () => void;
}

// Fetches with `fn` whenever a value in `deps` changes (and on reload()).
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (e: Error) => live && setState({ error: e.message, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, generation]);
  return { ...state, reload: () => setGeneration((g) => g + 1) };
}

export function Show<T>({ what, children }: { what: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (what.error) return <p class="error" role="alert">{what.error}</p>;
  if (what.data === undefined) return <p class="loading" aria-busy="true">Loading…</p>;
  return <>{children(what.data)}</>;
}
