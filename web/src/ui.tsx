// Small pieces every page uses.
import { useState } from "preact/hooks";

export function shortDigest(d?: string): string {
  if (!d) return "";
  const [alg, hex] = d.split(":");
  return hex ? `${alg}:${hex.slice(0, 12)}` : d;
}

export function Copy({ text, label, caption = "Copy" }: { text: string; label: string; caption?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="copy"
      aria-label={label}
      title={text}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        } catch {
          window.prompt(label, text);
        }
      }}
    >
      {done ? "Copied" : caption}
    </button>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`status s-${status.toLowerCase()}`}>{status}</span>;
}

export function When({ iso }: { iso?: string }) {
  if (!iso) return <span>—</span>;
  const d = new Date(iso);
  return <time dateTime={iso} title={iso}>{d.toLocaleString()}</time>;
}

export function duration(from?: string, to?: string): string {
  if (!from) return "";
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
