// ANSI colour (SGR) sequences of a log line into styled runs of text. The
// text stays text: the caller renders each run as a text node.
export interface Run {
  text: string;
  classes: string;
}

const ESC = /\x1b\[([0-9;]*)m/g;

export function parseAnsi(line: string, state: { fg?: number; bold?: boolean } = {}): Run[] {
  const runs: Run[] = [];
  let last = 0;
  const push = (text: string) => {
    if (!text) return;
    const classes = [state.fg !== undefined ? `fg${state.fg}` : "", state.bold ? "bold" : ""]
      .filter(Boolean)
      .join(" ");
    runs.push({ text, classes });
  };
  for (const m of line.matchAll(ESC)) {
    push(line.slice(last, m.index));
    last = (m.index ?? 0) + m[0].length;
    for (const code of (m[1] || "0").split(";").map(Number)) {
      if (code === 0) {
        state.fg = undefined;
        state.bold = false;
      } else if (code === 1) state.bold = true;
      else if (code === 22) state.bold = false;
      else if (code >= 30 && code <= 37) state.fg = code - 30;
      else if (code >= 90 && code <= 97) state.fg = code - 90 + 8;
      else if (code === 39) state.fg = undefined;
    }
  }
  // Other escape sequences (cursor moves) are dropped, not shown as garbage.
  push(line.slice(last).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""));
  return runs;
}
