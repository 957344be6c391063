import { call, get, session } from "../api";
import { Show, useLoad } from "../load";
import { location } from "../router";
import { Copy, When, shortDigest } from "../ui";

export function Repositories() {
  const repos = useLoad(() => get<{ repositories: string[] }>("/api/v1/repositories"), []);
  return (
    <main>
      <h1>Repositories</h1>
      <Show what={repos}>
        {(d) =>
          d.repositories.length ? (
            <ul class="list">
              {d.repositories.map((r) => (
                <li key={r}>
                  <a href={`/repositories/${r}`}>{r}</a>
                </li>
              ))}
            </ul>
          ) : (
            <p>No repositories {session.value ? "yet" : "to show: sign in to see more"}.</p>
          )
        }
      </Show>
    </main>
  );
}

interface Tag {
  name: string;
  digest: string;
}

interface Base {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  current?: string;
  updated?: boolean;
  run: string;
  task: string;
}

interface ManifestInfo {
  digest: string;
  mediaType: string;
  size: number;
  pushed: string;
  artifactType?: string;
  platforms?: { digest: string; os: string; architecture: string; variant: string }[];
  layersSize?: number;
  manifest: { layers?: { digest: string; size: number; mediaType: string }[] };
  config?: {
    architecture?: string;
    os?: string;
    config?: { Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; User?: string; WorkingDir?: string };
    history?: { created?: string; created_by?: string; empty_layer?: boolean }[];
  };
  referrers: { digest: string; artifactType: string; mediaType: string; size: number }[];
  base?: Base | null;
}

const manifestOf = (repo: string, ref: string) =>
  get<ManifestInfo>(`/api/v1/repositories/${repo}/manifests/${encodeURIComponent(ref)}`);

function size(n?: number): string {
  if (n === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function BaseBadge({ base }: { base?: Base | null }) {
  if (!base?.updated) return null;
  return (
    <span class="badge stale" title={`${base.repository}:${base.tag} is now ${base.current}`}>
      base updated
    </span>
  );
}

function TagRowInfo({ repo, tag }: { repo: string; tag: string }) {
  const info = useLoad(() => manifestOf(repo, tag), [repo, tag]);
  if (!info.data) return <td />;
  const m = info.data;
  return (
    <td>
      {m.platforms ? m.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`).join(", ") : size(m.layersSize)}{" "}
      <BaseBadge base={m.base} />
    </td>
  );
}

function TagDetail({ repo, tag }: { repo: string; tag: string }) {
  const info = useLoad(() => manifestOf(repo, tag), [repo, tag]);
  return (
    <section aria-label={`Tag ${tag}`}>
      <h2>
        {repo}:{tag}
      </h2>
      <Show what={info}>
        {(m) => (
          <>
            <dl class="facts">
              <dt>Digest</dt>
              <dd>
                <code>{m.digest}</code> <Copy text={m.digest} label="Copy the digest" />
              </dd>
              <dt>Media type</dt>
              <dd>{m.mediaType}</dd>
              <dt>Pushed</dt>
              <dd>
                <When iso={m.pushed} />
              </dd>
              {m.layersSize !== undefined && (
                <>
                  <dt>Size</dt>
                  <dd>{size(m.layersSize)}</dd>
                </>
              )}
              {m.base && (
                <>
                  <dt>Base image</dt>
                  <dd>
                    <code>{`${m.base.repository}:${m.base.tag}`}</code> at <code>{shortDigest(m.base.digest)}</code>{" "}
                    <BaseBadge base={m.base} />
                    {m.base.run && (
                      <>
                        {" "}
                        (built by <a href={`/runs/${encodeURIComponent(m.base.run)}`}>{m.base.run}</a>)
                      </>
                    )}
                  </dd>
                </>
              )}
            </dl>
            {m.platforms && (
              <>
                <h3>Platforms</h3>
                <ul>
                  {m.platforms.map((p) => (
                    <li key={p.digest}>
                      {p.os}/{p.architecture}
                      {p.variant ? `/${p.variant}` : ""} <code>{shortDigest(p.digest)}</code>
                    </li>
                  ))}
                </ul>
              </>
            )}
            {m.config?.config && (
              <>
                <h3>Configuration</h3>
                <dl class="facts">
                  {m.config.config.Entrypoint && (
                    <>
                      <dt>Entrypoint</dt>
                      <dd>
                        <code>{JSON.stringify(m.config.config.Entrypoint)}</code>
                      </dd>
                    </>
                  )}
                  {m.config.config.Cmd && (
                    <>
                      <dt>Cmd</dt>
                      <dd>
                        <code>{JSON.stringify(m.config.config.Cmd)}</code>
                      </dd>
                    </>
                  )}
                  {!!m.config.config.Env?.length && (
                    <>
                      <dt>Env</dt>
                      <dd>
                        {m.config.config.Env.map((e) => (
                          <div key={e}>
                            <code>{e}</code>
                          </div>
                        ))}
                      </dd>
                    </>
                  )}
                </dl>
              </>
            )}
            {!!m.config?.history?.length && (
              <>
                <h3>History</h3>
                <ol class="history">
                  {m.config.history.map((h, i) => (
                    <li key={i}>
                      <code>{h.created_by ?? ""}</code>
                      {h.empty_layer ? " (no layer)" : ""}
                    </li>
                  ))}
                </ol>
              </>
            )}
            <h3>Referrers</h3>
            {m.referrers.length ? (
              <ul>
                {m.referrers.map((r) => (
                  <li key={r.digest}>
                    {r.artifactType || r.mediaType} <code>{shortDigest(r.digest)}</code> {size(r.size)}
                  </li>
                ))}
              </ul>
            ) : (
              <p>No signatures, SBOMs or attestations.</p>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

export function Repository({ name }: { name: string }) {
  const tags = useLoad(() => get<{ tags: Tag[]; actions?: string }>(`/api/v1/repositories/${name}/tags`), [name]);
  const mayDelete = (tags.data?.actions ?? "").split(",").includes("delete");
  const selected = location.value.searchParams.get("tag");
  const host = window.location.host;
  const remove = async (tag: string) => {
    if (!window.confirm(`Delete tag ${name}:${tag}?`)) return;
    try {
      await call("DELETE", `/api/v1/repositories/${name}/tags/${encodeURIComponent(tag)}`);
    } catch (e) {
      window.alert((e as Error).message);
    }
    tags.reload();
  };
  return (
    <main>
      <h1>{name}</h1>
      <p>
        <a href={`/graph?ref=${encodeURIComponent(name)}`}>Images built on {name}</a>
      </p>
      <Show what={tags}>
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Tag</th>
                <th scope="col">Digest</th>
                <th scope="col">Platforms or size</th>
                <th scope="col">Pull</th>
                {mayDelete && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {d.tags.map((t) => (
                <tr key={t.name}>
                  <td>
                    <a href={`/repositories/${name}?tag=${encodeURIComponent(t.name)}`}>{t.name}</a>
                  </td>
                  <td>
                    <code title={t.digest}>{shortDigest(t.digest)}</code>{" "}
                    <Copy text={t.digest} label={`Copy the digest of ${t.name}`} />
                  </td>
                  <TagRowInfo repo={name} tag={t.name} />
                  <td>
                    <Copy
                      text={`docker pull ${host}/${name}:${t.name}`}
                      label={`Copy pull command for ${t.name}`}
                      caption="by tag"
                    />{" "}
                    <Copy
                      text={`docker pull ${host}/${name}@${t.digest}`}
                      label={`Copy pull by digest for ${t.name}`}
                      caption="by digest"
                    />
                  </td>
                  {mayDelete && (
                    <td>
                      <button type="button" onClick={() => remove(t.name)} aria-label={`Delete tag ${t.name}`}>
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
      {selected && <TagDetail repo={name} tag={selected} key={selected} />}
    </main>
  );
}
