import { useState } from "preact/hooks";
import { signIn } from "../api";
import { focusContent, navigate } from "../router";

export function SignIn({ next }: { next: string }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError("");
    try {
      await signIn(String(form.get("username")), String(form.get("password")));
      navigate(next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
      focusContent();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Sign in to Drydock</h1>
      <form onSubmit={submit}>
        <label>
          User name <input name="username" autocomplete="username" required autofocus />
        </label>
        <label>
          Password <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
