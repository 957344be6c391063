// The tasks built on an image, through chains, as a picture: one column per
// depth, an edge from each task to the image it builds from; green when the
// task was built from what its base tag points at now, amber when not.
import { get } from "../api";
import { Show, useLoad } from "../load";
import { location, navigate } from "../router";

interface Dependent {
  task: string;
  depth: number;
  type: string;
  baseImage: string;
  builtFrom: string;
  current: string;
  upToDate: boolean;
  images: string[];
}

const W = 200;
const H = 44;
const GAP_X = 80;
const GAP_Y = 20;

function strip(image: string): string {
  // "127.0.0.1:5000/base/os:1" and "base/os:1" name the same image here.
  const slash = image.indexOf("/");
  const first = slash < 0 ? "" : image.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost" ? image.slice(slash + 1) : image;
}

export function Graph() {
  const ref = location.value.searchParams.get("ref") ?? "";
  const deps = useLoad(
    () =>
      ref
        ? get<{ ref: string; dependents: Dependent[] }>(`/api/v1/images/dependents?ref=${encodeURIComponent(ref)}`)
        : Promise.resolve({ ref: "", dependents: [] as Dependent[] }),
    [ref],
  );
  return (
    <main>
      <h1>Dependency graph</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const v = new FormData(e.currentTarget).get("ref");
          navigate(`/graph?ref=${encodeURIComponent(String(v))}`);
        }}
      >
        <label>
          Base image <input name="ref" value={ref} placeholder="base/os:1" />
        </label>
        <button type="submit">Show</button>
      </form>
      {ref && <Show what={deps}>{(d) => <Picture root={ref} dependents={d.dependents} />}</Show>}
    </main>
  );
}

function Picture({ root, dependents }: { root: string; dependents: Dependent[] }) {
  if (!dependents.length) return <p>No task builds on {root}.</p>;
  const columns: string[][] = [[root]];
  const pos = new Map<string, { x: number; y: number }>();
  for (const d of dependents) (columns[d.depth] ??= []).push(d.task);
  columns.forEach((col, depth) =>
    col.forEach((id, row) => pos.set(depth === 0 ? `image:${id}` : `task:${id}`, { x: depth * (W + GAP_X), y: row * (H + GAP_Y) })),
  );
  // Which task makes an image: edges go from it (or the root image) to the task building on it.
  const maker = new Map<string, string>();
  for (const d of dependents) for (const img of d.images) maker.set(strip(img), `task:${d.task}`);
  const edges = dependents.map((d) => ({
    from: d.depth === 1 ? `image:${root}` : maker.get(strip(d.baseImage)) ?? `image:${root}`,
    to: `task:${d.task}`,
  }));
  const width = columns.length * (W + GAP_X);
  const height = Math.max(...columns.map((c) => c.length)) * (H + GAP_Y);
  return (
    <svg class="graph" width={width} height={height} role="group" aria-label={`Tasks built on ${root}`}>
      {edges.map((e) => {
        const a = pos.get(e.from);
        const b = pos.get(e.to);
        if (!a || !b) return null;
        return <line key={`${e.from}-${e.to}`} x1={a.x + W} y1={a.y + H / 2} x2={b.x} y2={b.y + H / 2} class="edge" />;
      })}
      <g>
        <rect x={0} y={0} width={W} height={H} rx={6} class="node root" />
        <text x={10} y={H / 2 + 5}>
          {root}
        </text>
      </g>
      {dependents.map((d) => {
        const p = pos.get(`task:${d.task}`)!;
        return (
          <a href={`/tasks/${encodeURIComponent(d.task)}`} key={d.task}>
            <rect x={p.x} y={p.y} width={W} height={H} rx={6} class={`node ${d.upToDate ? "current" : "stale"}`} />
            <text x={p.x + 10} y={p.y + 18}>
              {d.task}
            </text>
            <text x={p.x + 10} y={p.y + 34} class="sub">
              {d.upToDate ? "up to date" : "base updated"}
            </text>
          </a>
        );
      })}
    </svg>
  );
}
