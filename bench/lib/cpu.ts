/**
 * CPU accounting from /proc (Linux), used to tell whether the load generator or
 * the server was the bottleneck. On other platforms every figure is `null`.
 */
import { readdirSync, readFileSync } from "node:fs";

// USER_HZ is 100 on every Linux architecture Node supports.
export const JIFFIES_PER_SECOND = 100;
const TICKS_PER_SECOND = JIFFIES_PER_SECOND;

function readStat(pid: number): { ppid: number; ticks: number } | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    const ppid = Number(fields[1]);
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ppid) && Number.isFinite(ticks) ? { ppid, ticks } : null;
  } catch {
    return null;
  }
}

/** CPU seconds used so far by `pid` and all its live descendants, or null if unreadable. */
export function treeCpuSeconds(pid: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const entry of entries) {
    const p = Number(entry);
    if (!Number.isInteger(p)) continue;
    const stat = readStat(p);
    if (!stat) continue;
    ticks.set(p, stat.ticks);
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(p);
    else children.set(stat.ppid, [p]);
  }
  if (!ticks.has(pid)) return null;
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    total += ticks.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total / TICKS_PER_SECOND;
}

/** Machine-wide busy and total jiffies (all cores), from the first line of /proc/stat. */
export function machineJiffies(): { busy: number; total: number; irq: number } | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest* are already inside user/nice)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait, irq: irq + softirq };
  } catch {
    return null;
  }
}

/** Machine-wide busy % (of all cores) over `ms` milliseconds, or null. */
export async function sampleMachineBusyPct(ms: number): Promise<number | null> {
  const before = machineJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const after = machineJiffies();
  if (!before || !after || after.total <= before.total) return null;
  return Math.round(((after.busy - before.busy) / (after.total - before.total)) * 1000) / 10;
}
