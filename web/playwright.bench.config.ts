// The dashboard's benchmark (bench/dashboard/run.sh starts the server).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "bench",
  testMatch: "**/*.bench.ts",
  timeout: 300_000,
  workers: 1,
  reporter: [["list"]],
  use: {
    baseURL: process.env.DD_URL,
    launchOptions: { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] },
  },
});
