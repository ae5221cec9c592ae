#!/bin/sh
# The node agent's budget on this machine:
#  1. idle overhead of `triage agent` watching every cgroup of the node, with CGROUPS (default 200)
#     extra v1 memory cgroups each holding a process and a memory limit (so each has its eventfd
#     thresholds, OOM notification and samples): CPU share of one core over MEASURE seconds
#     (utime+stime from /proc/<pid>/stat) and resident memory (VmRSS, VmHWM);
#  2. trigger-to-dump-start latency: RUNS times, a JVM growing 50 MB/s in a 256 MB v1 memory cgroup
#     until the kernel kills it, with the agent's record of the time from the notification/sample
#     that fired to the heap-dump command being sent, the dump time, and whether the JVM was still
#     alive when its dump was complete.
# Usage: bench/agent/run.sh   (root; v1 memory cgroups; java; builds the release binary first,
#        or TRIAGE=path/to/triage bench/agent/run.sh to use one already built)
set -eu
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root (creates memory cgroups)" >&2; exit 1; }
bin="${TRIAGE:-}"
if [ -z "$bin" ]; then
  cargo build --release -p triage >&2
  bin="${CARGO_TARGET_DIR:-target}/release/triage"
fi
CGROUPS="${CGROUPS:-200}"
MEASURE="${MEASURE:-60}"
RUNS="${RUNS:-5}"
MEM=/sys/fs/cgroup/memory
tag="triage-bench-$$"
work=$(mktemp -d "${CARGO_TARGET_DIR:-$PWD/target}/agent-bench.XXXXXX")
cleanup() {
  for d in "$MEM"/$tag-*; do
    [ -d "$d" ] || continue
    for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for d in "$MEM"/$tag-*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(ls /proc | grep -c '^[0-9]') processes"
echo "# binary: $bin ($("$bin" --version))"

# 1. Idle overhead.
i=0
while [ "$i" -lt "$CGROUPS" ]; do
  d="$MEM/$tag-idle-$i"
  mkdir "$d"
  echo $((512 << 20)) > "$d/memory.limit_in_bytes"
  sh -c "echo \$\$ > $d/cgroup.procs; exec sleep 3600" &
  i=$((i + 1))
done
sleep 1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" -q agent --listen "127.0.0.1:$port" --spool "$work/spool" --no-snapshot \
  --exit-after $((MEASURE + 30))s > /dev/null &
agent=$!
sleep 15   # discovery, first samples, registrations
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$MEASURE"
c1=$(cpu); t1=$(date +%s.%N)
watched=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^triage_agent_watched_cgroups /{print $2}')
rss=$(awk '/^VmRSS/{print $2}' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$agent/status")
kill -TERM "$agent"; wait "$agent" 2>/dev/null || true
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$watched" "$rss" "$hwm" <<'PY'
import sys
c0, c1, t0, t1, ticks = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
watched, rss, hwm = sys.argv[6], int(sys.argv[7]), int(sys.argv[8])
cpu_s = (c1 - c0) / ticks
print(f"idle: {watched} cgroups watched; CPU {cpu_s:.2f} s over {t1 - t0:.1f} s = {100 * cpu_s / (t1 - t0):.3f} % of one core; RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)")
PY
for d in "$MEM"/$tag-idle-*; do for p in $(cat "$d/cgroup.procs"); do kill -9 "$p" 2>/dev/null || true; done; done
sleep 0.5
for d in "$MEM"/$tag-idle-*; do rmdir "$d" 2>/dev/null || true; done

# 2. Trigger-to-dump-start latency.
javac -d "$work/classes" bench/agent/Grow.java
r=1
while [ "$r" -le "$RUNS" ]; do
  d="$MEM/$tag-oom-$r"
  mkdir "$d"
  echo $((256 << 20)) > "$d/memory.limit_in_bytes"
  "$bin" -q agent --listen off --out "$work/captures-$r" --cgroup-prefix "/$tag-oom-$r" \
    --dump-dir "$work" --discovery-interval 200ms --sample-interval 1s \
    --min-free 1GiB --min-free-share 0% \
    --exit-after 60s > "$work/records-$r.jsonl" &
  agent=$!
  sleep 1
  sh -c "echo \$\$ > $d/cgroup.procs; exec java -Xmx1g -XX:+UseSerialGC -cp $work/classes Grow 16 20" > /dev/null 2>&1 || true
  oom=$(awk '/^oom_kill /{print $2}' "$d/memory.oom_control")
  sleep 2
  kill -TERM "$agent"; wait "$agent" 2>/dev/null || true
  python3 - "$work/records-$r.jsonl" "$r" "$oom" <<'PY'
import json, sys
path, run, oom = sys.argv[1], sys.argv[2], sys.argv[3]
records = [json.loads(l) for l in open(path) if l.strip()]
for rec in records:
    for d in rec["heap_dumps"]:
        print(f"run {run}: reason {rec['reason']}, trigger->dump start {d['trigger_to_dump_start_us']} us, "
              f"dump written {d['dump_ms']} ms ({d['dump_bytes'] / 2**20:.0f} MiB, {d['output_bytes'] / 2**20:.1f} MiB zstd), "
              f"JVM alive at dump end: {d['target_alive_after']}, OOM kills then: {d['oom_kills_after']}, after: {oom}, "
              f"snapshot: {'yes' if rec.get('snapshot') else 'no'}, errors: {rec['errors']}")
    if not rec["heap_dumps"]:
        print(f"run {run}: reason {rec['reason']}, no heap dump: {rec['errors']}")
if not records:
    print(f"run {run}: no capture")
PY
  rmdir "$d" 2>/dev/null || true
  r=$((r + 1))
done
