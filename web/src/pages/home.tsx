import { get } from "../api";
import { Show, useLoad } from "../load";
import type { RunRecord } from "../types";
import { RunTable } from "./runs";
import { When, shortDigest } from "../ui";

interface Agent {
  name: string;
  pool?: string;
  connected?: boolean;
  runs?: string[];
}

interface Event {
  id: number;
  action: string;
  repository?: string;
  tag?: string;
  digest?: string;
  actor?: string;
  time: number;
}

function RecentPushes() {
  const events = useLoad(() => get<{ events: Event[] }>("/api/v1/events?newest=200"), []);
  return (
    <Show what={events}>
      {(d) => {
        const pushes = d.events.filter((e) => e.action === "push").reverse().slice(0, 10);
        if (!pushes.length) return <p>No pushes yet.</p>;
        return (
          <table>
            <thead>
              <tr>
                <th scope="col">Image</th>
                <th scope="col">Digest</th>
                <th scope="col">By</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {pushes.map((e) => (
                <tr key={e.id}>
                  <td>
                    <a href={`/repositories/${e.repository}${e.tag ? `?tag=${encodeURIComponent(e.tag)}` : ""}`}>
                      {e.repository}
                      {e.tag ? `:${e.tag}` : ""}
                    </a>
                  </td>
                  <td>
                    <code>{shortDigest(e.digest)}</code>
                  </td>
                  <td>{e.actor}</td>
                  <td>
                    <When iso={new Date(e.time * 1000).toISOString()} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        );
      }}
    </Show>
  );
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
      <h2>Recent pushes</h2>
      <RecentPushes />
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
