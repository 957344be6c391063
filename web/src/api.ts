// The REST API (docs/api.md), as the signed-in browser calls it: the session
// cookie goes along by itself; state-changing requests add the CSRF token
// the session answered with.
import { signal } from "@preact/signals";

export interface Session {
  user: string;
  admin: boolean;
  csrf: string;
}

export const session = signal<Session | null | undefined>(undefined); // undefined: not known yet

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

async function errorOf(r: Response): Promise<ApiError> {
  let message = `${r.status} ${r.statusText}`;
  try {
    const body = await r.json();
    // The API's {"error": {"code", "message"}}; the registry's {"errors": [...]}.
    const first = body?.error ?? body?.errors?.[0];
    if (first?.message) message = first.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(r.status, message);
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET" && session.value) headers["X-CSRF-Token"] = session.value.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && session.value) session.value = null;
  if (!r.ok) throw await errorOf(r);
  const text = await r.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export const get = <T>(path: string) => call<T>("GET", path);

// Signed out only on a 401: a server that could not answer (a 5xx, the
// network) is asked again, a few times, before the page gives up.
export async function loadSession(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      session.value = await get<Session>("/api/v1/session");
      return;
    } catch (e) {
      if ((e instanceof ApiError && e.status === 401) || attempt >= 4) {
        session.value = null;
        return;
      }
      await new Promise((ok) => setTimeout(ok, 250 * 2 ** attempt));
    }
  }
}

export async function signIn(username: string, password: string): Promise<void> {
  session.value = await call<Session>("POST", "/api/v1/session", { username, password });
}

export async function signOut(): Promise<void> {
  try {
    await call("DELETE", "/api/v1/session");
  } finally {
    session.value = null;
  }
}
