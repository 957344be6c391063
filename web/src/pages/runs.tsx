import { get, call, session } from "../api";
import { LiveLog } from "../log";
import { navigate, location } from "../router";
import { Show, useLoad } from "../load";
import { kFinal, type RunRecord } from "../types";
import { Copy, Status, When, duration, shortDigest } from "../ui";

// Why a run happened, in words.
export function Cause({ run }: { run: RunRecord }) {
  if (run.imageUpdateTrigger?.images?.length) {
    const img = run.imageUpdateTrigger.images[0];
    return (
      <span>
        base image <code>{`${img.repository}:${img.tag}`}</code> changed to <code>{shortDigest(img.digest)}</code>
      </span>
    );
  }
  if (run.sourceTrigger)
    return (
      <span>
        {run.sourceTrigger.eventType || "commit"} <code>{(run.sourceTrigger.commitId || "").slice(0, 12)}</code>
      </span>
    );
  if (run.timerTrigger)
    return (
      <span>
        timer <code>{run.timerTrigger.timerTriggerName}</code> at <When iso={run.timerTrigger.scheduleOccurrence} />
      </span>
    );
  if (!run.trigger || run.trigger === "Manual")
    return <span>manual{run.queuedBy ? ` by ${run.queuedBy}` : ""}</span>;
  return <span>{run.trigger}</span>;
}

export function RunTable({ runs }: { runs: RunRecord[] }) {
  if (!runs.length) return <p>No runs.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Task</th>
          <th scope="col">Status</th>
          <th scope="col">Trigger</th>
          <th scope="col">Created</th>
          <th scope="col">Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.runId}>
            <td>
              <a href={`/runs/${encodeURIComponent(r.runId)}`}>{r.runId}</a>
            </td>
            <td>{r.task ? <a href={`/tasks/${encodeURIComponent(r.task)}`}>{r.task}</a> : r.runType}</td>
            <td>
              <Status status={r.status} />
            </td>
            <td>
              <Cause run={r} />
            </td>
            <td>
              <When iso={r.createTime} />
            </td>
            <td>{duration(r.startTime, r.finishTime)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const kStatuses = ["", "Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout"];

export function Runs() {
  const q = location.value.searchParams;
  const task = q.get("task") ?? "";
  const status = q.get("status") ?? "";
  const trigger = q.get("trigger") ?? "";
  const since = q.get("since") ?? "";
  const runs = useLoad(() => {
    const params = new URLSearchParams({ top: "100" });
    if (task) params.set("task", task);
    if (status) params.set("status", status);
    if (trigger) params.set("trigger", trigger);
    if (since) {
      const after = new Date(Date.now() - Number(since) * 3600_000);
      params.set("createdAfter", after.toISOString());
    }
    return get<{ runs: RunRecord[] }>(`/api/v1/runs?${params}`);
  }, [task, status, trigger, since]);
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(q);
    if (value) next.set(key, value);
    else next.delete(key);
    navigate(`/runs${next.toString() ? `?${next}` : ""}`);
  };
  return (
    <main>
      <h1>Runs</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Task <input value={task} onChange={(e) => set("task", e.currentTarget.value)} />
        </label>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => set("status", e.currentTarget.value)}>
            {kStatuses.map((s) => (
              <option value={s} key={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Trigger{" "}
          <select value={trigger} onChange={(e) => set("trigger", e.currentTarget.value)}>
            {["", "Manual", "Commit", "Pull Request", "Image Update", "Timer"].map((t) => (
              <option value={t} key={t}>
                {t || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Created{" "}
          <select value={since} onChange={(e) => set("since", e.currentTarget.value)}>
            {[
              ["", "any time"],
              ["1", "last hour"],
              ["24", "last 24 hours"],
              ["168", "last 7 days"],
            ].map(([v, l]) => (
              <option value={v} key={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
      </form>
      <Show what={runs}>
        {(d) => <RunTable runs={d.runs} />}
      </Show>
    </main>
  );
}

// The digest the base had before an Image Update run: what the task's
// previous successful run was built from.
function PreviousBase({ run }: { run: RunRecord }) {
  const img = run.imageUpdateTrigger?.images?.[0];
  const prev = useLoad(async () => {
    if (!img || !run.task) return "";
    const list = await get<{ runs: RunRecord[] }>(
      `/api/v1/runs?top=50&status=Succeeded&task=${encodeURIComponent(run.task)}`,
    );
    for (const r of list.runs) {
      if (Date.parse(r.createTime) >= Date.parse(run.createTime)) continue;
      for (const d of r.dependencies ?? []) {
        const base = d["runtime-dependency"];
        if (base && base.repository === img.repository && base.digest) return base.digest;
      }
    }
    return "";
  }, [run.runId]);
  if (!img || !prev.data)
    return (
      <dd>
        <Cause run={run} />
      </dd>
    );
  return (
    <dd>
      base image <code>{`${img.repository}:${img.tag}`}</code> changed <code>{shortDigest(prev.data)}</code> →{" "}
      <code>{shortDigest(img.digest)}</code>
    </dd>
  );
}

export function RunDetail({ id }: { id: string }) {
  const run = useLoad(() => get<RunRecord>(`/api/v1/runs/${encodeURIComponent(id)}`), [id]);
  const cancel = async () => {
    await call("POST", `/api/v1/runs/${encodeURIComponent(id)}/cancel`);
    run.reload();
  };
  const rerun = async (r: RunRecord) => {
    if (!r.task) return;
    const next = await call<RunRecord>("POST", `/api/v1/tasks/${encodeURIComponent(r.task)}/runs`, {});
    navigate(`/runs/${encodeURIComponent(next.runId)}`);
  };
  return (
    <main>
      <Show what={run}>
        {(r) => {
          const final = kFinal.has(r.status);
          return (
            <>
              <h1>
                Run {r.runId} <Status status={r.status} />
              </h1>
              <dl class="facts">
                <dt>Task</dt>
                <dd>{r.task ? <a href={`/tasks/${encodeURIComponent(r.task)}`}>{r.task}</a> : r.runType}</dd>
                <dt>Cause</dt>
                {r.imageUpdateTrigger ? (
                  <PreviousBase run={r} />
                ) : (
                  <dd>
                    <Cause run={r} />
                  </dd>
                )}
                {r.patch && (
                  <>
                    <dt>Patch</dt>
                    <dd data-testid="patch">
                      {r.patch.kind === "rebase" ? (
                        <>
                          rebased onto <code>{shortDigest(r.patch.newBaseDigest)}</code> in {r.patch.milliseconds} ms,
                          no build
                        </>
                      ) : (
                        "rebuilt"
                      )}
                      {!!r.patch.reasons.length && (
                        <ul class="reasons">
                          {r.patch.reasons.map((why) => (
                            <li key={why}>{why}</li>
                          ))}
                        </ul>
                      )}
                    </dd>
                  </>
                )}
                <dt>Created</dt>
                <dd>
                  <When iso={r.createTime} />
                </dd>
                <dt>Duration</dt>
                <dd>{duration(r.startTime, r.finishTime)}</dd>
                {r.agent && (
                  <>
                    <dt>Agent</dt>
                    <dd>{r.agent}</dd>
                  </>
                )}
                {r.runErrorMessage && (
                  <>
                    <dt>Error</dt>
                    <dd class="error">{r.runErrorMessage}</dd>
                  </>
                )}
              </dl>
              {!!r.outputImages?.length && (
                <>
                  <h2>Output images</h2>
                  <ul>
                    {r.outputImages.map((o) => (
                      <li key={o.digest + o.tag}>
                        <a href={`/repositories/${o.repository}`}>{`${o.repository}:${o.tag}`}</a>{" "}
                        <code>{shortDigest(o.digest)}</code>{" "}
                        <Copy text={`${o.registry}/${o.repository}@${o.digest}`} label="Copy pull by digest" />
                      </li>
                    ))}
                  </ul>
                </>
              )}
              {session.value && (session.value.admin || session.value.user === r.queuedBy) && (
                <div class="actions">
                  {!final && (
                    <button type="button" onClick={cancel}>
                      Cancel run
                    </button>
                  )}
                  {final && r.task && (
                    <button type="button" onClick={() => rerun(r)}>
                      Run again
                    </button>
                  )}
                </div>
              )}
              <h2>Log</h2>
              <LiveLog runId={r.runId} live={!final} onEnd={run.reload} key={r.runId} />
            </>
          );
        }}
      </Show>
    </main>
  );
}
