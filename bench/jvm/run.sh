#!/usr/bin/env bash
# Side-by-side JVM capture benchmarks on one JVM with ~400 MB of live heap:
#   1. triage jvm heapdump (end to end) vs jcmd GC.heap_dump + cp   (plain .hprof)
#   2. triage jvm heapdump (.hprof.zst) vs jcmd GC.heap_dump + zstd -T0 -3
#   3. triage's peak RSS during a dump and copy (/usr/bin/time %M)
#   4. triage jvm histogram vs jattach <pid> inspectheap vs jcmd <pid> GC.class_histogram
# Usage: bench/jvm/run.sh [path/to/triage]   (default: target/release/triage; build it first with
#        cargo build --release -p triage). Needs java, javac, jcmd, jattach, hyperfine, zstd.
# Output goes to stdout; paste it into bench/jvm/RESULTS.md with the date.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
triage="$(realpath "${1:-target/release/triage}")"
runs="${RUNS:-5}"
for tool in java javac jcmd jattach hyperfine zstd "$triage"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

work="$(mktemp -d /tmp/triage-bench-jvm.XXXXXX)"
out="$work/out"
mkdir -p "$out"
fifo="$work/stdin"
mkfifo "$fifo"
cleanup() {
    exec 9>&- 2>/dev/null || true
    [[ -n "${jvm_pid:-}" ]] && kill "$jvm_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

javac -d "$work" "$here/BenchHeap.java"
java -Xms1g -Xmx1g -XX:+UseG1GC -cp "$work" BenchHeap 1700000 <"$fifo" >"$work/jvm.out" &
jvm_pid=$!
exec 9>"$fifo" # keep the JVM's stdin open until we exit
for _ in $(seq 1 120); do grep -q ready "$work/jvm.out" 2>/dev/null && break; sleep 0.5; done
grep -q ready "$work/jvm.out" || { echo "JVM did not start" >&2; exit 1; }

echo "## Machine"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) CPUs; $(awk '/MemTotal/ {print int($2/1024) " MiB RAM"}' /proc/meminfo)"
java -version 2>&1 | head -1
echo "triage: $triage"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## The JVM"
jcmd "$jvm_pid" GC.heap_info | head -1
jcmd "$jvm_pid" GC.class_histogram | tail -1
echo

echo "## 1. Heap dump, plain .hprof: triage end to end vs jcmd GC.heap_dump + cp"
hyperfine --runs "$runs" --warmup 1 --export-markdown "$work/dump.md" \
    --prepare "rm -f $out/* /tmp/bench-jcmd.hprof" \
    -n "triage jvm heapdump --out x.hprof" "$triage jvm heapdump pid:$jvm_pid --out $out/t.hprof" \
    -n "jcmd GC.heap_dump + cp" "jcmd $jvm_pid GC.heap_dump /tmp/bench-jcmd.hprof >/dev/null && cp /tmp/bench-jcmd.hprof $out/j.hprof && rm /tmp/bench-jcmd.hprof" \
    >/dev/null
cat "$work/dump.md"
echo
ls -l "$out" | awk 'NR>1 {print "size of " $9 ": " $5 " bytes"}'
echo

echo "## 2. Heap dump, zstd: triage (.hprof.zst, multithreaded zstd -3) vs jcmd GC.heap_dump + zstd -T0 -3"
hyperfine --runs "$runs" --warmup 1 --export-markdown "$work/dumpz.md" \
    --prepare "rm -f $out/* /tmp/bench-jcmd.hprof" \
    -n "triage jvm heapdump --out x.hprof.zst" "$triage jvm heapdump pid:$jvm_pid --out $out/t.hprof.zst" \
    -n "jcmd GC.heap_dump + zstd -T0 -3" "jcmd $jvm_pid GC.heap_dump /tmp/bench-jcmd.hprof >/dev/null && zstd -q -T0 -3 /tmp/bench-jcmd.hprof -o $out/j.hprof.zst && rm /tmp/bench-jcmd.hprof" \
    >/dev/null
cat "$work/dumpz.md"
echo
ls -l "$out" | awk 'NR>1 {print "size of " $9 ": " $5 " bytes"}'
echo

echo "## 3. Peak RSS and CPU time of the copy step (/usr/bin/time; the JVM's own dump time is excluded from CPU)"
fmt="%e s wall, %U s user, %S s sys, peak RSS %M KiB"
for target in t.hprof t.hprof.zst; do
    rm -f "$out"/*
    /usr/bin/time -f "$fmt" -o "$work/time" "$triage" jvm heapdump "pid:$jvm_pid" --out "$out/$target" --json >"$work/report.json"
    echo "triage jvm heapdump --out $target: $(cat "$work/time"); $(grep -E '"(dump|copy)_ms"' "$work/report.json" | tr -d ' \n')"
done
rm -f "$out"/*
jcmd "$jvm_pid" GC.heap_dump /tmp/bench-jcmd.hprof >/dev/null
/usr/bin/time -f "$fmt" -o "$work/time" cp /tmp/bench-jcmd.hprof "$out/j.hprof"
echo "cp of the jcmd dump: $(cat "$work/time")"
/usr/bin/time -f "$fmt" -o "$work/time" zstd -q -T0 -3 /tmp/bench-jcmd.hprof -o "$out/j.hprof.zst"
echo "zstd -T0 -3 of the jcmd dump: $(cat "$work/time")"
rm -f /tmp/bench-jcmd.hprof "$out"/*
echo

echo "## 4. Class histogram (live, full GC each time)"
hyperfine --runs $((runs * 2)) --warmup 1 --export-markdown "$work/histo.md" \
    -n "triage jvm histogram" "$triage jvm histogram pid:$jvm_pid" \
    -n "jattach inspectheap" "jattach $jvm_pid inspectheap" \
    -n "jcmd GC.class_histogram" "jcmd $jvm_pid GC.class_histogram" \
    >/dev/null
cat "$work/histo.md"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
