// A run's log, streamed live: a chunked fetch of /log?follow=true from the
// byte offset already shown, resumed from there when the connection drops.
// Lines render as text (never HTML), with ANSI colours, a link per line,
// search, and auto-scroll that stops once the reader scrolls up.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { parseAnsi, type Run as AnsiRun } from "./ansi";
import { get } from "./api";
import { kFinal, type RunRecord } from "./types";

const kRetryMs = 1000;

async function runIsFinal(runId: string): Promise<boolean> {
  try {
    const run = await get<RunRecord>(`/api/v1/runs/${encodeURIComponent(runId)}`);
    return kFinal.has(run.status);
  } catch {
    return false;
  }
}

interface Step {
  id: string;
  state: "running" | "successful" | "failed";
  seconds?: number;
}

// Notes in `steps` what a log line says of a run's steps ("Executing step
// ID: test. …", "Step ID: test marked as successful (elapsed time in
// seconds: 1.5)"); true when it said anything.
function noteStep(line: string, steps: Map<string, Step>): boolean {
  const start = /Executing step ID: (.+?)\. Timeout/.exec(line);
  if (start) steps.set(start[1], { id: start[1], state: "running" });
  const end = /Step ID: (.+?) marked as (successful|failed) \(elapsed time in seconds: ([\d.]+)\)/.exec(line);
  if (end) steps.set(end[1], { id: end[1], state: end[2] as Step["state"], seconds: Number(end[3]) });
  return !!(start || end);
}

// A line with its colours, parsed once when it arrives (the colour state
// carries over from the line before).
interface Line {
  text: string;
  runs: AnsiRun[];
}

function Timeline({ steps }: { steps: Step[] }) {
  if (!steps.length) return null;
  const longest = Math.max(1, ...steps.map((s) => s.seconds ?? 0));
  return (
    <ol class="timeline" aria-label="Steps">
      {steps.map((s) => (
        <li key={s.id} class={`step ${s.state}`}>
          <span class="step-id">{s.id}</span>
          <span class="bar" style={{ width: `${Math.max(2, ((s.seconds ?? 0) / longest) * 100)}%` }} />
          <span class="step-state">
            {s.state}
            {s.seconds !== undefined ? ` in ${s.seconds.toFixed(1)} s` : ""}
          </span>
        </li>
      ))}
    </ol>
  );
}

export function LiveLog({ runId, live, onEnd }: { runId: string; live: boolean; onEnd?: () => void }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [steps, setSteps] = useState<Step[]>([]);
  const [status, setStatus] = useState("connecting");
  const [query, setQuery] = useState("");
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const followedTo = useRef(0); // where following last scrolled the box to

  useEffect(() => {
    let stopped = false;
    let offset = 0;
    setLines([]);
    setSteps([]);
    let partial = "";
    let controller: AbortController | null = null;
    const decoder = new TextDecoder();
    const colours = { fg: undefined as number | undefined, bold: false };
    const known = new Map<string, Step>();
    const push = (texts: string[]) => {
      if (!texts.length) return;
      let stepped = false;
      const parsed = texts.map((text) => {
        stepped = noteStep(text, known) || stepped;
        return { text, runs: parseAnsi(text, colours) };
      });
      setLines((old) => old.concat(parsed));
      if (stepped) setSteps([...known.values()]);
    };
    const add = (text: string) => {
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      push(parts);
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
          // The server ends a followed log when the run is over; a proxy may
          // also end it cleanly before then (a timeout): then go on from here.
          if (live && !(await runIsFinal(runId))) {
            setStatus("reconnecting");
            await new Promise((ok) => setTimeout(ok, kRetryMs));
            continue;
          }
          if (partial) push([partial]);
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

  // Before the browser paints, so that no scroll event sees new lines with the old position.
  useLayoutEffect(() => {
    const el = box.current;
    if (!follow || !el) return;
    el.scrollTop = el.scrollHeight;
    followedTo.current = el.scrollTop;
  }, [lines, follow]);

  // Only the reader moving up stops following (lines arriving below do not);
  // reaching the end again resumes it.
  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 40) setFollow(true);
    else if (el.scrollTop < followedTo.current - 4) setFollow(false);
  };

  const needle = query.toLowerCase();
  return (
    <section class="log" aria-label="Run log">
      <Timeline steps={steps} />
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
          if (needle && !line.text.toLowerCase().includes(needle)) return null;
          return (
            <div class="log-line" id={`L${i + 1}`} key={i}>
              <a class="ln" href={`#L${i + 1}`} aria-label={`Line ${i + 1}`}>
                {i + 1}
              </a>
              <span class="lt">
                {line.runs.map((r, j) => (
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
