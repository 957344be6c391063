// Drydock's dashboard: a single page over the REST API; the URL is the state.
import { render } from "preact";
import { useEffect } from "preact/hooks";
import "./style.css";
import { loadSession, session, signOut } from "./api";
import { location, match, navigate } from "./router";
import { Graph } from "./pages/graph";
import { Home } from "./pages/home";
import { Repositories, Repository } from "./pages/repositories";
import { RunDetail, Runs } from "./pages/runs";
import { SignIn } from "./pages/signin";
import { TaskPage, Tasks } from "./pages/tasks";

function ToSignIn({ next }: { next: string }) {
  useEffect(() => navigate(`/signin?next=${encodeURIComponent(next)}`, true), [next]);
  return null;
}

function Page() {
  const path = location.value.pathname;
  let m: Record<string, string> | null;
  if (path === "/signin") return <SignIn next={location.value.searchParams.get("next") ?? "/"} />;
  // Anonymous visitors see the repositories anonymous pull allows; the
  // rest of the API answers signed-in users only.
  if (!session.value && !path.startsWith("/repositories"))
    return <ToSignIn next={path + location.value.search} />;
  if (path === "/") return <Home />;
  if (path === "/repositories") return <Repositories />;
  if ((m = match("/repositories/*", path))) return <Repository name={m["*"]} key={m["*"]} />;
  if (path === "/runs") return <Runs />;
  if ((m = match("/runs/:id", path))) return <RunDetail id={m.id} key={m.id} />;
  if (path === "/tasks") return <Tasks />;
  if ((m = match("/tasks/:name", path))) return <TaskPage name={m.name} key={m.name} />;
  if (path === "/graph") return <Graph />;
  return (
    <main>
      <h1>Not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <a href="/">Home</a>
      </p>
    </main>
  );
}

function Nav() {
  const here = location.value.pathname;
  const link = (to: string, text: string) => (
    <a href={to} aria-current={(to === "/" ? here === "/" : here.startsWith(to)) ? "page" : undefined}>
      {text}
    </a>
  );
  return (
    <header>
      <nav aria-label="Main">
        {link("/", "Home")}
        {link("/repositories", "Repositories")}
        {link("/runs", "Runs")}
        {link("/tasks", "Tasks")}
        {link("/graph", "Graph")}
      </nav>
      {!session.value && <a href={`/signin?next=${encodeURIComponent(here)}`}>Sign in</a>}
      {session.value && (
        <div class="who">
          <span>{session.value.user}</span>
          <button type="button" onClick={() => signOut().then(() => navigate("/signin", true))}>
            Sign out
          </button>
        </div>
      )}
    </header>
  );
}

function App() {
  if (session.value === undefined) return <p class="loading">Loading…</p>;
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <Nav />
      <div id="content" tabIndex={-1}>
        <Page />
      </div>
    </>
  );
}

loadSession();
render(<App />, document.getElementById("app")!);
