// Times Go's expfmt text parser (the one Prometheus tools and prom2json use) on one file:
// TextParser.TextToMetricFamilies over the bytes already in memory, best and median of N runs.
// Built offline from Debian's golang-github-prometheus-common-dev (see ../run.sh).
package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
)

// cpuSeconds is the user+system CPU time of the whole process (GC threads included).
func cpuSeconds() float64 {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(usage.Utime) + seconds(usage.Stime)
}

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	runs, _ := strconv.Atoi(os.Args[2])
	var times, cpus []float64
	var families, series int
	for i := 0; i < runs; i++ {
		var parser expfmt.TextParser
		start, cpuStart := time.Now(), cpuSeconds()
		result, err := parser.TextToMetricFamilies(bytes.NewReader(data))
		elapsed := time.Since(start).Seconds()
		cpus = append(cpus, cpuSeconds()-cpuStart)
		if err != nil {
			panic(err)
		}
		times = append(times, elapsed)
		families, series = len(result), 0
		for _, mf := range result {
			series += len(mf.Metric)
		}
	}
	sort.Float64s(times)
	sort.Float64s(cpus)
	mb := float64(len(data)) / 1e6
	cpu := cpus[len(cpus)/2]
	fmt.Printf("%-38s wall %7.3f s best %7.3f s median | CPU %7.2f s median %7.1f MB/s per CPU-second  (%d families, %d series)\n",
		"go expfmt TextToMetricFamilies", times[0], times[len(times)/2], cpu, mb/cpu, families, series)
}
