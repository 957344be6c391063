// A run's log, streamed live: a chunked fetch of /log?follow=true from the
// byte offset already shown, resumed from there when the connection drops.
// Lines render as text (never HTML), with ANSI colours, a link per line,
// search, and auto-scroll that stops once the reader scrolls up.
import { useEffect, useRef, useState } from "preact/hooks";
import { parseAnsi } from "./ansi";

const kRetryMs = 1000;

export function LiveLog({ runId, live, onEnd }: { runId: string; live: boolean; onEnd?: () => void }) {
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState("connecting");
  const [query, setQuery] = useState("");
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let stopped = false;
    let offset = 0;
    setLines([]);
    let partial = "";
    let controller: AbortController | null = null;
    const decoder = new TextDecoder();
    const add = (text: string) => {
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      if (parts.length) setLines((old) => old.concat(parts));
    };
    const run = async () => {
      while (!stopped) {
        controller = new AbortController();
        try {
          const r = await fetch(`/api/v1/runs/${encodeURIComponent(runId)}/log?offset=${offset}&follow=${live}`, {
            credentials: "same-origin",
            signal: controller.signal,
          });
          if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
          setStatus(live ? "live" : "complete");
          const reader = r.body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            offset += value.length;
            add(decoder.decode(value, { stream: true }));
          }
          // The server ends a followed log when the run is over.
          if (partial) setLines((old) => old.concat([partial]));
          partial = "";
          setStatus("complete");
          if (live) onEnd?.();
          return;
        } catch (e) {
          if (stopped) return;
          setStatus("reconnecting");
          await new Promise((ok) => setTimeout(ok, kRetryMs));
        }
      }
    };
    run();
    return () => {
      stopped = true;
      controller?.abort();
    };
    // Only a new run starts over: a live log that ended is complete as it is.
  }, [runId]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 40);
  };

  const needle = query.toLowerCase();
  const state = { fg: undefined as number | undefined, bold: false };
  return (
    <section class="log" aria-label="Run log">
      <div class="log-bar">
        <label>
          Search <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <span class={`log-status ${status}`} data-testid="log-status">
          {status}
        </span>
        {!follow && (
          <button type="button" onClick={() => setFollow(true)}>
            Follow
          </button>
        )}
      </div>
      <div class="log-lines" ref={box} onScroll={onScroll} data-testid="log">
        {lines.map((line, i) => {
          const runs = parseAnsi(line, state);
          if (needle && !line.toLowerCase().includes(needle)) return null;
          return (
            <div class="log-line" id={`L${i + 1}`} key={i}>
              <a class="ln" href={`#L${i + 1}`} aria-label={`Line ${i + 1}`}>
                {i + 1}
              </a>
              <span class="lt">
                {runs.map((r, j) => (
                  <span class={r.classes || undefined} key={j}>
                    {r.text}
                  </span>
                ))}
              </span>
            </div>
          );
        })}
      </div>
    </section>
  );
}
