// End-to-end tests of the dashboard in Debian's Chromium (browsers cannot be
// downloaded here), against a `drydock serve` that tests/integration/dashboard.sh
// starts and describes in the environment (DD_URL, DD_PASS, …).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests",
  timeout: 120_000,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: process.env.DD_URL,
    launchOptions: { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] },
    trace: "off",
  },
});
