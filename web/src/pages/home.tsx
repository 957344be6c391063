import { get } from "../api";
import { Show, useLoad } from "../load";
import type { RunRecord } from "../types";
import { RunTable } from "./runs";

interface Agent {
  name: string;
  pool?: string;
  connected?: boolean;
  runs?: string[];
}

export function Home() {
  const active = useLoad(async () => {
    const [queued, running, started] = await Promise.all(
      ["Queued", "Running", "Started"].map((s) => get<{ runs: RunRecord[] }>(`/api/v1/runs?top=100&status=${s}`)),
    );
    return { queued: queued.runs, running: running.runs.concat(started.runs) };
  }, []);
  const failed = useLoad(async () => {
    const since = Date.now() - 24 * 3600 * 1000;
    const all = await Promise.all(
      ["Failed", "Error", "Timeout"].map((s) => get<{ runs: RunRecord[] }>(`/api/v1/runs?top=100&status=${s}`)),
    );
    return all.flatMap((a) => a.runs).filter((r) => Date.parse(r.createTime) >= since);
  }, []);
  const agents = useLoad(() => get<{ agents: Agent[] }>("/api/v1/agents").catch(() => ({ agents: [] as Agent[] })), []);
  return (
    <main>
      <h1>Drydock</h1>
      <Show what={active}>
        {(a) => (
          <>
            <p class="stats">
              <span data-testid="queue-depth">{a.queued.length} queued</span> ·{" "}
              <span>{a.running.length} running</span>
            </p>
            <h2>In progress</h2>
            <RunTable runs={a.running.concat(a.queued)} />
          </>
        )}
      </Show>
      <h2>Failures in the last 24 hours</h2>
      <Show what={failed}>{(f) => <RunTable runs={f} />}</Show>
      <h2>Agents</h2>
      <Show what={agents}>
        {(d) =>
          d.agents.length ? (
            <ul>
              {d.agents.map((g) => (
                <li key={g.name}>
                  {g.name} {g.pool ? `(${g.pool})` : ""}
                </li>
              ))}
            </ul>
          ) : (
            <p>No agents.</p>
          )
        }
      </Show>
    </main>
  );
}
