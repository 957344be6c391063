// The dashboard against a real server (tests/integration/dashboard.sh):
// sign-in, repositories after a skopeo push, a task run's log arriving live,
// cancel, a base-image push queuing the dependent run with its cause, XSS
// probes rendered as text, CSRF refused, and axe-core on every page.
import { test, expect, type Locator, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { execFileSync } from "node:child_process";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/integration/dashboard.sh`);
  return v;
};
const user = "admin";
const pass = env("DD_PASS");

async function signIn(page: Page, as = user, password = pass) {
  await page.goto("/signin");
  await page.getByLabel("User name").fill(as);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Drydock", level: 1, exact: true })).toBeVisible();
}

// Presses `key` until `target` has the focus (at most `limit` times).
async function tabTo(page: Page, target: Locator, key = "Tab", limit = 40) {
  const focused = () => target.evaluate((el) => el === document.activeElement);
  for (let i = 0; i < limit && !(await focused()); i++) await page.keyboard.press(key);
  if (!(await focused())) throw new Error(`${key} never reached ${target} in ${limit} presses`);
}
const focusInContent = (page: Page) => page.evaluate(() => !!document.activeElement?.closest("#content"));

// Starts a task's run through the API as the admin; its run id.
async function startRun(page: Page, task: string): Promise<string> {
  const r = await page.request.post(`/api/v1/tasks/${task}/runs`, {
    headers: { Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` },
    data: {},
  });
  expect(r.status(), await r.text()).toBe(201);
  return (await r.json()).runId;
}

async function checkAccessibility(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const problems = results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
  expect(problems, `axe-core on ${what}`).toEqual([]);
}

test.beforeEach(async ({ page }) => {
  // Any alert() would be an XSS probe that ran.
  page.on("dialog", async (d) => {
    if (d.type() === "alert") throw new Error(`a dialog opened: ${d.message()}`);
    await d.accept();
  });
});

test("sign-in: a wrong password is refused with a message, the right one signs in, sign-out ends it", async ({
  page,
}) => {
  await page.goto("/runs");
  await expect(page).toHaveURL(/\/signin\?next=%2Fruns/);
  await checkAccessibility(page, "sign-in");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText(/password|credentials|invalid/i);
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/runs$/);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "dd_session");
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe("Strict");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin/);
  // The token behind the cookie is revoked, not only forgotten.
  const after = await page.request.get("/api/v1/session", {
    headers: { Cookie: `dd_session=${session!.value}` },
  });
  expect(after.status()).toBe(401);
});

test("anonymous visitors see only what anonymous pull allows", async ({ page }) => {
  await page.goto("/repositories");
  await expect(page.getByRole("link", { name: "dash/app", exact: true })).toBeVisible();
  await expect(page.getByRole("link", { name: "dash/ticker", exact: true })).toHaveCount(0);
  await page.getByRole("link", { name: "dash/app", exact: true }).click();
  await expect(page.getByRole("cell", { name: "v1", exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: /Delete/ })).toHaveCount(0);
  await page.goto("/runs");
  await expect(page).toHaveURL(/\/signin/);
});

test("a tag's details: digest, media type, configuration and history", async ({ page }) => {
  await signIn(page);
  await page.goto(`/repositories/${env("DD_REPO")}?tag=v1`);
  const detail = page.getByRole("region", { name: "Tag v1" });
  await expect(detail).toContainText("application/vnd.oci.image.manifest.v1+json");
  await expect(detail).toContainText("sha256:");
  await expect(detail).toContainText("History");
  await expect(detail).toContainText("No signatures, SBOMs or attestations.");
  await checkAccessibility(page, "tag detail");
});

test("a state-changing request without the CSRF token is refused", async ({ page }) => {
  await signIn(page);
  const status = await page.evaluate(async () => {
    const r = await fetch("/api/v1/tasks/" + "nothing-here", { method: "DELETE", credentials: "same-origin" });
    return r.status;
  });
  expect(status).toBe(403);
});

test("repositories: the image skopeo pushed, with its tags and pull commands", async ({ page }) => {
  await signIn(page);
  await page.getByRole("link", { name: "Repositories" }).click();
  const repo = env("DD_REPO");
  await page.getByRole("link", { name: repo, exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/repositories/${repo}$`));
  await expect(page.getByRole("cell", { name: "v1", exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "Copy pull command for v1" })).toBeVisible();
  await checkAccessibility(page, "repository");
  await page.goBack();
  await expect(page).toHaveURL(/\/repositories$/);
  await checkAccessibility(page, "repositories");
});

test("a task run's log lines arrive live, rendered as text", async ({ page }) => {
  await signIn(page);
  await page.goto(`/tasks/${env("DD_TASK")}`);
  await checkAccessibility(page, "task");
  await page.getByRole("button", { name: "Run now" }).click();
  await expect(page).toHaveURL(/\/runs\/[a-z0-9]+$/);
  const log = page.getByTestId("log");
  // The build prints tick-1 … tick-5 a second apart: the first shows while the run still runs.
  await expect(log).toContainText("tick-1", { timeout: 60_000 });
  await expect(page.getByTestId("log-status")).toHaveText("live");
  await expect(log).toContainText("tick-5", { timeout: 60_000 });
  await expect(log).toContainText("was successful", { timeout: 60_000 });
  // The steps as a timeline, from the log.
  await expect(page.getByRole("list", { name: "Steps" })).toContainText(/build\s*successful in [0-9.]+ s/);
  // The XSS probe the build echoes is text, not an element.
  await expect(log).toContainText("<img src=x onerror=alert(1)>");
  expect(await log.locator("img").count()).toBe(0);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Succeeded");
  await expect(page.getByText("manual by admin")).toBeVisible();
  await checkAccessibility(page, "run");
});

test("a log stream ended early (a proxy's timeout) resumes from the byte it reached", async ({ page }) => {
  await signIn(page);
  await page.goto(`/tasks/${env("DD_COUNT_TASK")}`);
  const offsets: number[] = [];
  let cut = false;
  await page.route(/\/api\/v1\/runs\/[^/]+\/log\?/, async (route) => {
    const url = new URL(route.request().url());
    offsets.push(Number(url.searchParams.get("offset")));
    if (cut || url.searchParams.get("follow") !== "true") return route.continue();
    cut = true;
    // What the log holds after a few lines, then a clean end of the response.
    await new Promise((ok) => setTimeout(ok, 3000));
    const sofar = await page.request.get(`${url.pathname}?offset=0`);
    await route.fulfill({ status: 200, contentType: "text/plain", body: await sofar.body() });
  });
  await page.getByRole("button", { name: "Run now" }).click();
  const log = page.getByTestId("log");
  await expect(log).toContainText("was successful", { timeout: 60_000 });
  const text = await log.innerText();
  for (let i = 1; i <= 6; i++) expect(text.match(new RegExp(`count-${i}\\b`, "g"))?.length, `count-${i}`).toBe(1);
  expect(offsets.some((o) => o > 0), `resumed at an offset (${offsets.join(", ")})`).toBe(true);
});

test("cancel a running run", async ({ page }) => {
  await signIn(page);
  await page.goto(`/tasks/${env("DD_SLOW_TASK")}`);
  await page.getByRole("button", { name: "Run now" }).click();
  await expect(page.getByTestId("log")).toContainText("tick-1", { timeout: 60_000 });
  await page.getByRole("button", { name: "Cancel run" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Canceled", { timeout: 30_000 });
});

test("a base-image push queues the dependent run, shown with its cause", async ({ page }) => {
  await signIn(page);
  const before = Date.now();
  execFileSync("bash", [env("DD_PUSH_BASE")], { stdio: "inherit" });
  // The image built on the old base is flagged until its rebuild (5 s of RUN) replaces it.
  await page.goto(`/repositories/${env("DD_BUILT")}`);
  await expect(page.getByText("base updated").first()).toBeVisible({ timeout: 5_000 });
  await page.goto(`/runs?task=${env("DD_TASK")}`);
  const row = page.getByRole("row").filter({ hasText: "base image" }).first();
  await expect(async () => {
    await page.reload();
    await expect(row).toBeVisible();
  }).toPass({ timeout: 30_000 });
  await expect(row).toContainText(env("DD_BASE"));
  await checkAccessibility(page, "runs");
  await row.getByRole("link").first().click();
  // Its cause names the base and both digests: what the task was built from before, and now.
  await expect(page.getByText(/base image base\/os:1 changed sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}/)).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toContainText(/Succeeded/, { timeout: 90_000 });
  // Its RUN step ran on the old base: rebuilt, not rebased, and the page says why.
  await expect(page.getByTestId("patch")).toContainText("rebuilt");
  await expect(page.getByTestId("patch")).toContainText("RUN step(s) ran on the old base");
  expect(Date.now() - before).toBeGreaterThan(0);
  await page.goto(`/repositories/${env("DD_BUILT")}`);
  await expect(page.getByRole("cell", { name: "1", exact: true })).toBeVisible();
  await expect(page.getByText("base updated")).toHaveCount(0);
  await page.goto(`/graph?ref=${encodeURIComponent(env("DD_BASE"))}`);
  await expect(page.getByRole("group", { name: `Tasks built on ${env("DD_BASE")}` })).toContainText("up to date");
  await checkAccessibility(page, "graph");
  await page.goto("/");
  // The base push shows among the recent pushes, by the admin.
  const push = page.getByRole("row").filter({ hasText: env("DD_BASE") }).first();
  await expect(push).toContainText("user:admin");
  await checkAccessibility(page, "home");
});

test("keyboard only: sign in, skip to content, follow links and copy a pull command", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.goto("/signin");
  await tabTo(page, page.getByLabel("User name"));
  await page.keyboard.type(user);
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Password")).toBeFocused();
  await page.keyboard.type(pass);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Drydock", level: 1, exact: true })).toBeVisible();
  // Signed in, the keyboard goes on from the new page's content.
  await expect.poll(() => focusInContent(page)).toBe(true);
  // On a page load the first Tab reaches "Skip to content"; after it, the next Tab is in the page, past the menu.
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Drydock", level: 1, exact: true })).toBeVisible();
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await page.keyboard.press("Enter");
  // The browser moves the focus to #content itself; the next Tab stays inside it.
  await expect(page.locator("#content")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect.poll(() => focusInContent(page)).toBe(true);
  // Back to the menu, then a repository and its copy button, all from the keyboard.
  await tabTo(page, page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Repositories" }), "Shift+Tab");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/repositories$/);
  await expect.poll(() => focusInContent(page)).toBe(true);
  const repo = env("DD_REPO");
  await tabTo(page, page.getByRole("link", { name: repo, exact: true }));
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/repositories/${repo}$`));
  const copy = page.getByRole("button", { name: "Copy pull command for v1" });
  await tabTo(page, copy);
  // The focus ring shows where the keyboard is.
  expect(await copy.evaluate((el) => getComputedStyle(el).outlineStyle)).toBe("solid");
  await page.keyboard.press("Enter");
  await expect(copy).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toMatch(new RegExp(`pull .*/${repo}:v1$`));
});

test("a live log follows new lines until the reader scrolls up, and again after Follow", async ({ page }) => {
  await signIn(page);
  await page.goto(`/tasks/${env("DD_SCROLL_TASK")}`);
  await page.getByRole("button", { name: "Run now" }).click();
  const log = page.getByTestId("log");
  const gap = () => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
  // 400 lines at once, then one a second: the view stays at the end.
  await expect(log).toContainText("row-400", { timeout: 60_000 });
  await expect(log).toContainText("more-1", { timeout: 30_000 });
  await expect.poll(gap).toBeLessThan(40);
  await log.hover();
  await page.mouse.wheel(0, -4000);
  await expect(page.getByRole("button", { name: "Follow" })).toBeVisible();
  const top = await log.evaluate((el) => el.scrollTop);
  const seen = await log.innerText();
  const next = seen.includes("more-3") ? "more-5" : "more-3";
  await expect(log).toContainText(next, { timeout: 30_000 });
  // New lines arrived and the view did not move.
  expect(await log.evaluate((el) => el.scrollTop)).toBe(top);
  expect(await gap()).toBeGreaterThan(1000);
  await page.getByRole("button", { name: "Follow" }).click();
  await expect.poll(gap).toBeLessThan(40);
  await expect(log).toContainText("was successful", { timeout: 60_000 });
  await expect.poll(gap).toBeLessThan(40);
});

test("a user without the right sees no delete, cancel or re-run buttons", async ({ page }) => {
  const run = await startRun(page, env("DD_SLOW_TASK"));
  try {
    await signIn(page, "viewer", env("DD_VIEWER_PASS"));
    await page.goto(`/runs/${run}`);
    await expect(page.getByTestId("log")).toContainText("tick-1", { timeout: 60_000 });
    await expect(page.getByRole("heading", { level: 1 })).toContainText("Running");
    await expect(page.getByRole("button", { name: "Cancel run" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Run again" })).toHaveCount(0);
    await page.goto(`/repositories/${env("DD_REPO")}?tag=v1`);
    await expect(page.getByRole("region", { name: "Tag v1" })).toBeVisible();
    await expect(page.getByRole("button", { name: /Delete/ })).toHaveCount(0);
    // The API refuses what the page does not offer.
    const cancel = await page.evaluate(async (id) => {
      const csrf = (await (await fetch("/api/v1/session")).json()).csrf;
      const r = await fetch(`/api/v1/runs/${id}/cancel`, { method: "POST", headers: { "X-CSRF-Token": csrf } });
      return r.status;
    }, run);
    expect(cancel).toBe(403);
  } finally {
    await page.request.post(`/api/v1/runs/${run}/cancel`, {
      headers: { Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` },
    });
  }
});
