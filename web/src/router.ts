// Every state has its own URL: the path (and query) is the page; links
// push history entries, back and forward re-render.
import { signal } from "@preact/signals";

export const location = signal(new URL(window.location.href));

export function navigate(to: string, replace = false): void {
  const url = new URL(to, window.location.href);
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  location.value = url;
  window.scrollTo(0, 0);
}

// After a move to another page (a link, signing in), the keyboard goes on
// from the new page's content, as after a page load it would from the top:
// not from wherever the old page had it. Filters changing the URL keep it.
export function focusContent(): void {
  requestAnimationFrame(() => document.getElementById("content")?.focus({ preventScroll: true }));
}

window.addEventListener("popstate", () => {
  location.value = new URL(window.location.href);
});

// Same-origin left clicks on <a href> navigate without reloading the page.
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/v2/"))
    return;
  // A link within the page (a log line, "skip to content") is the browser's
  // own: it scrolls, moves focus and updates :target, which pushState won't.
  if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
  focusContent();
});

// "/runs/ca1" against "/runs/:id" → {id: "ca1"}; null when it does not match.
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const got = path.split("/");
  const rest = want[want.length - 1] === "*";
  if (rest ? got.length < want.length : got.length !== want.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (rest && i === want.length - 1) {
      params["*"] = got.slice(i).map(decodeURIComponent).join("/");
      break;
    }
    if (want[i].startsWith(":")) params[want[i].slice(1)] = decodeURIComponent(got[i]);
    else if (want[i] !== got[i]) return null;
  }
  return params;
}
