// Time to first render of each page (cold: a new browser context, nothing
// cached; warm: the same context again) and the delay from a build writing
// a log line to the line showing in the page. Writes JSON to $DD_BENCH_OUT.
import { test, expect, type Page } from "@playwright/test";
import { writeFileSync } from "node:fs";

const pass = process.env.DD_PASS!;
const results: Record<string, number[]> = {};
const record = (key: string, ms: number) => (results[key] ??= []).push(ms);

async function signIn(page: Page) {
  await page.goto("/signin");
  await page.getByLabel("User name").fill("admin");
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Drydock", level: 1, exact: true })).toBeVisible();
}

// A page is usable when its content is there: its heading, and nothing still loading.
const usable = (heading: string, content: (p: Page) => Promise<void>) => async (p: Page) => {
  await p.getByRole("heading", { name: heading, level: 1, exact: true }).waitFor();
  await content(p);
  await p.locator(".loading").first().waitFor({ state: "detached" });
};
const pages: [string, string, (p: Page) => Promise<void>][] = [
  ["home", "/", usable("Drydock", (p) => p.getByRole("heading", { name: "In progress" }).waitFor())],
  [
    "repositories",
    "/repositories",
    usable("Repositories", (p) => p.getByRole("link", { name: process.env.DD_REPO!, exact: true }).waitFor()),
  ],
  ["runs", "/runs", usable("Runs", (p) => p.getByRole("table").waitFor())],
  ["tasks", "/tasks", usable("Tasks", (p) => p.getByRole("table").waitFor())],
];

test.afterAll(() => writeFileSync(process.env.DD_BENCH_OUT!, JSON.stringify(results)));

test("live log line latency", async ({ page }) => {
  await signIn(page);
  for (let i = 0; i < 5; i++) {
    await page.goto(`/tasks/${process.env.DD_TASK}`);
    await page.getByRole("button", { name: "Run now" }).click();
    await expect(page).toHaveURL(/\/runs\/[a-z0-9]+$/);
    // The build prints "stamp <ns since epoch>" once a second; the page notes
    // when each first appears, by the same clock.
    const seen = await page.evaluate(
      () =>
        new Promise<[number, number][]>((resolve) => {
          const out: [number, number][] = [];
          const known = new Set<string>();
          const scan = () => {
            for (const el of document.querySelectorAll(".log-line .lt")) {
              const m = /stamp (\d+)/.exec(el.textContent ?? "");
              if (m && !known.has(m[1])) {
                known.add(m[1]);
                out.push([Number(BigInt(m[1]) / 1000n) / 1000, performance.timeOrigin + performance.now()]);
              }
            }
            if (out.length >= 5) resolve(out);
          };
          new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, characterData: true });
          scan();
        }),
    );
    for (const [written, shown] of seen) record("log_line", shown - written);
    await expect(page.getByTestId("log")).toContainText("was successful", { timeout: 60_000 });
  }
});

test("first render", async ({ browser }) => {
  const signedIn = await browser.newContext();
  await signIn(await signedIn.newPage());
  const state = await signedIn.storageState();
  await signedIn.close();
  for (let round = 0; round < 5; round++) {
    for (const [name, url, ready] of pages) {
      // Cold: a new context has an empty HTTP cache (the cookie is all it keeps).
      const context = await browser.newContext({ storageState: state });
      const page = await context.newPage();
      for (const mode of ["cold", "warm"]) {
        const t0 = Date.now();
        await page.goto(url);
        await ready(page);
        record(`${name}_${mode}`, Date.now() - t0);
      }
      await context.close();
    }
  }
});

// Pictures of the main pages for the README (DD_SCREENSHOTS=dir).
test("screenshots", async ({ page }) => {
  const dir = process.env.DD_SCREENSHOTS;
  if (!dir) return;
  await page.setViewportSize({ width: 1280, height: 800 });
  await signIn(page);
  const shots: [string, string][] = [
    ["home", "/"],
    ["repository", `/repositories/${process.env.DD_REPO}?tag=1`],
    ["runs", "/runs"],
    ["task", `/tasks/${process.env.DD_TASK}`],
    ["graph", `/graph?ref=${encodeURIComponent("bench/base:1")}`],
  ];
  for (const [name, url] of shots) {
    await page.goto(url);
    await page.waitForLoadState("networkidle");
    await page.screenshot({ path: `${dir}/${name}.png` });
  }
  const runs = await page.evaluate(() => fetch("/api/v1/runs?top=1").then((r) => r.json()));
  await page.goto(`/runs/${runs.runs[0].runId}`);
  await expect(page.getByTestId("log")).toContainText("was successful");
  await page.screenshot({ path: `${dir}/run.png` });
});
