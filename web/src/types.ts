// The API's records, as far as the dashboard reads them (docs/api.md).
export interface OutputImage {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
}
export interface RunRecord {
  runId: string;
  status: string;
  runType: string;
  task: string;
  trigger?: string;
  createTime: string;
  startTime?: string;
  finishTime?: string;
  outputImages?: OutputImage[];
  source?: { url?: string; commit?: string; branch?: string };
  runErrorMessage?: string;
  agent?: string;
  waitingFor?: string;
  timerTrigger?: { timerTriggerName: string; scheduleOccurrence: string };
  imageUpdateTrigger?: { images?: { registry?: string; repository?: string; tag?: string; digest?: string }[] };
  sourceTrigger?: { commitId?: string; branch?: string; providerType?: string; eventType?: string };
  queuedBy?: string;
  patch?: {
    kind: "rebase" | "rebuild";
    baseImage: string;
    oldBaseDigest?: string;
    newBaseDigest?: string;
    reasons: string[];
    milliseconds: number;
  };
  dependencies?: { "runtime-dependency"?: { repository?: string; tag?: string; digest?: string } }[];
}
export interface Task {
  name: string;
  status?: string;
  enabled?: boolean;
  platform?: { os: string; architecture: string };
  timers?: { name: string; schedule: string; enabled: boolean }[];
  sourceTriggers?: { name: string; enabled: boolean; sourceRepository?: { repositoryUrl?: string } }[];
  baseImageTrigger?: { name: string; enabled: boolean; baseImageTriggerType?: string };
  dependencies?: { kind?: string; registry?: string; repository?: string; tag?: string; digest?: string }[];
}
export const kFinal = new Set(["Succeeded", "Failed", "Canceled", "Error", "Timeout"]);
