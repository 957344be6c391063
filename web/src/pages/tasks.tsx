import { call, get } from "../api";
import { Show, useLoad } from "../load";
import { navigate } from "../router";
import type { RunRecord, Task } from "../types";
import { RunTable } from "./runs";
import { Status, shortDigest } from "../ui";

export function Tasks() {
  const tasks = useLoad(async () => {
    const [list, recent] = await Promise.all([
      get<{ tasks: Task[] }>("/api/v1/tasks"),
      get<{ runs: RunRecord[] }>("/api/v1/runs?top=200"),
    ]);
    const last = new Map<string, RunRecord>();
    for (const r of recent.runs) if (r.task && !last.has(r.task)) last.set(r.task, r);
    return { tasks: list.tasks, last };
  }, []);
  return (
    <main>
      <h1>Tasks</h1>
      <Show what={tasks}>
        {(d) =>
          d.tasks.length ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  <th scope="col">Status</th>
                  <th scope="col">Platform</th>
                  <th scope="col">Last run</th>
                </tr>
              </thead>
              <tbody>
                {d.tasks.map((t) => (
                  <tr key={t.name}>
                    <td>
                      <a href={`/tasks/${encodeURIComponent(t.name)}`}>{t.name}</a>
                    </td>
                    <td>{t.status}</td>
                    <td>{t.platform ? `${t.platform.os}/${t.platform.architecture}` : ""}</td>
                    <td>
                      {d.last.get(t.name) ? (
                        <>
                          <a href={`/runs/${encodeURIComponent(d.last.get(t.name)!.runId)}`}>{d.last.get(t.name)!.runId}</a>{" "}
                          <Status status={d.last.get(t.name)!.status} />
                        </>
                      ) : (
                        "—"
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p>No tasks yet (drydock task create).</p>
          )
        }
      </Show>
    </main>
  );
}

interface TaskDetail extends Task {
  commitTriggerEnabled?: boolean;
  pullRequestTriggerEnabled?: boolean;
  baseImageTriggerEnabled?: boolean;
  webhookUrl?: string;
  webhookSecret?: string;
  baseImageDependencies?: { type: string; registry: string; repository: string; tag: string; digest: string }[];
  timers?: { name: string; schedule: string; enabled: boolean }[];
}

export function TaskPage({ name }: { name: string }) {
  const task = useLoad(() => get<TaskDetail>(`/api/v1/tasks/${encodeURIComponent(name)}`), [name]);
  const runs = useLoad(() => get<{ runs: RunRecord[] }>(`/api/v1/runs?top=20&task=${encodeURIComponent(name)}`), [name]);
  const runNow = async () => {
    const run = await call<RunRecord>("POST", `/api/v1/tasks/${encodeURIComponent(name)}/runs`, {});
    navigate(`/runs/${encodeURIComponent(run.runId)}`);
  };
  const setTrigger = async (field: string, value: boolean) => {
    await call("PATCH", `/api/v1/tasks/${encodeURIComponent(name)}`, { [field]: value });
    task.reload();
  };
  const toggleTimer = async (t: TaskDetail, timer: string) => {
    const timers = (t.timers ?? []).map((x) => (x.name === timer ? { ...x, enabled: !x.enabled } : x));
    await call("PATCH", `/api/v1/tasks/${encodeURIComponent(name)}`, { timers });
    task.reload();
  };
  return (
    <main>
      <h1>Task {name}</h1>
      <Show what={task}>
        {(t) => (
          <>
            <div class="actions">
              <button type="button" onClick={runNow}>
                Run now
              </button>
            </div>
            <dl class="facts">
              <dt>Status</dt>
              <dd>{t.status}</dd>
              {t.webhookUrl && (
                <>
                  <dt>Webhook URL</dt>
                  <dd>
                    <code>{t.webhookUrl}</code>
                  </dd>
                </>
              )}
              {t.webhookSecret && (
                <>
                  <dt>Webhook secret</dt>
                  <dd>
                    <details>
                      <summary>Reveal</summary>
                      <code>{t.webhookSecret}</code>
                    </details>
                  </dd>
                </>
              )}
            </dl>
            <h2>Triggers</h2>
            <ul class="triggers">
              {(
                [
                  ["baseImageTriggerEnabled", "Base image updates"],
                  ["commitTriggerEnabled", "Commits"],
                  ["pullRequestTriggerEnabled", "Pull requests"],
                ] as const
              ).map(([field, label]) => (
                <li key={field}>
                  <label>
                    <input type="checkbox" checked={!!t[field]} onChange={(e) => setTrigger(field, e.currentTarget.checked)} />{" "}
                    {label}
                  </label>
                </li>
              ))}
            </ul>
            <h2>Base images</h2>
            <ul>
              {(t.baseImageDependencies ?? []).map((b) => (
                <li key={`${b.repository}:${b.tag}`}>
                  {b.type}: <code>{`${b.registry}/${b.repository}:${b.tag}`}</code> built from{" "}
                  <code>{shortDigest(b.digest) || "—"}</code>
                </li>
              ))}
            </ul>
            <h2>Timers</h2>
            {(t.timers ?? []).length ? (
              <ul>
                {(t.timers ?? []).map((x) => (
                  <li key={x.name}>
                    <code>{x.name}</code> <code>{x.schedule}</code>{" "}
                    <label>
                      <input type="checkbox" checked={x.enabled} onChange={() => toggleTimer(t, x.name)} /> enabled
                    </label>
                  </li>
                ))}
              </ul>
            ) : (
              <p>No timers.</p>
            )}
          </>
        )}
      </Show>
      <h2>Recent runs</h2>
      <Show what={runs}>{(d) => <RunTable runs={d.runs} />}</Show>
    </main>
  );
}
