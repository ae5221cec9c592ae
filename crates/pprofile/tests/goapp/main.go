// goapp is a small Go service written for triage's tests: it serves net/http/pprof and a hand-written
// Prometheus /metrics page (tricky label values on purpose, no client library), burns some CPU in a
// few distinct functions, allocates, parks many goroutines on a channel (a "leak"), and contends on
// a mutex and a channel so block and mutex profiles have data.
//
// Usage: goapp [-addr 127.0.0.1:0] [-leak 1000] [-lifetime 5m]
// It prints "listening on HOST:PORT" on stdout once it accepts connections and exits by itself after
// -lifetime so a crashed test never leaves it behind.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	requests  int64
	sink      [][]byte
	sinkMu    sync.Mutex
	never     = make(chan struct{})
	hashSink  [32]byte
	sortSink  int
	fibSink   int
	contended sync.Mutex
)

// parkedOnChannel is where the leaked goroutines wait forever.
func parkedOnChannel(id int) {
	<-never
	fmt.Println("unreachable", id)
}

// waitingInSelect is a second, smaller group of parked goroutines with a different stack.
func waitingInSelect() {
	select {
	case <-never:
	case <-time.After(24 * time.Hour):
	}
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func cpuHash(buf []byte) {
	for i := 0; i < 2000; i++ {
		hashSink = sha256.Sum256(buf)
		buf[i%len(buf)] ^= hashSink[0]
	}
}

func cpuSort(n int) {
	values := make([]int, n)
	for i := range values {
		values[i] = (i * 7919) % n
	}
	sort.Ints(values)
	sortSink += values[n/2]
}

func cpuFib() { fibSink += fib(24) }

// burnCPU runs the CPU-heavy functions in turn with a pause in between, so the process uses about
// half a core.
func burnCPU() {
	buf := make([]byte, 4096)
	for {
		start := time.Now()
		for time.Since(start) < 20*time.Millisecond {
			cpuHash(buf)
			cpuSort(20000)
			cpuFib()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allocate keeps a bounded ring of buffers alive (in-use heap) and churns short-lived ones.
func allocate() {
	i := 0
	for {
		keep := make([]byte, 64*1024)
		sinkMu.Lock()
		if len(sink) < 200 {
			sink = append(sink, keep)
		} else {
			sink[i%len(sink)] = keep
		}
		sinkMu.Unlock()
		for j := 0; j < 50; j++ {
			_ = strings.Repeat("x", 1024+j)
		}
		i++
		time.Sleep(5 * time.Millisecond)
	}
}

// contend makes goroutines fight over one mutex and an unbuffered channel.
func contend() {
	ch := make(chan int)
	go func() {
		for v := range ch {
			time.Sleep(time.Millisecond)
			_ = v
		}
	}()
	for w := 0; w < 4; w++ {
		go func() {
			for {
				contended.Lock()
				time.Sleep(200 * time.Microsecond)
				contended.Unlock()
				ch <- 1
			}
		}()
	}
}

// metrics writes the exposition text by hand: label values with backslashes, quotes, newlines,
// commas, equals signs and braces; HELP text with escapes; NaN and infinities; a histogram and a
// summary; a sample with a timestamp.
func metrics(w http.ResponseWriter, r *http.Request) {
	n := atomic.AddInt64(&requests, 1)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "# HELP goapp_requests_total Requests served, including this one.\n")
	fmt.Fprintf(w, "# TYPE goapp_requests_total counter\n")
	fmt.Fprintf(w, "goapp_requests_total{path=\"/metrics\"} %d\n", n)
	fmt.Fprintf(w, "# HELP goapp_tricky_labels Label values that break naive parsers: a backslash \\\\ and a newline \\n in HELP.\n")
	fmt.Fprintf(w, "# TYPE goapp_tricky_labels gauge\n")
	fmt.Fprintf(w, "goapp_tricky_labels{path=\"C:\\\\temp\\\\x\",quote=\"say \\\"hi\\\"\"} 1\n")
	fmt.Fprintf(w, "goapp_tricky_labels{list=\"a,b=c\",brace=\"}{\",newline=\"line1\\nline2\"} 2\n")
	fmt.Fprintf(w, "goapp_tricky_labels{empty=\"\",unicode=\"caf\u00e9 \u2603\"} -3.5e-3\n")
	fmt.Fprintf(w, "# HELP goapp_special_values Non-finite values.\n")
	fmt.Fprintf(w, "# TYPE goapp_special_values gauge\n")
	fmt.Fprintf(w, "goapp_special_values{kind=\"nan\"} NaN\n")
	fmt.Fprintf(w, "goapp_special_values{kind=\"pinf\"} +Inf\n")
	fmt.Fprintf(w, "goapp_special_values{kind=\"ninf\"} -Inf\n")
	fmt.Fprintf(w, "goapp_special_values{kind=\"ts\"} 42 1700000000000\n")
	fmt.Fprintf(w, "# HELP goapp_request_seconds Request latency.\n")
	fmt.Fprintf(w, "# TYPE goapp_request_seconds histogram\n")
	cum := 0
	for i, le := range []string{"0.005", "0.01", "0.1", "1", "+Inf"} {
		cum += (i + 1) * 3
		fmt.Fprintf(w, "goapp_request_seconds_bucket{handler=\"a\\\"b\",le=\"%s\"} %d\n", le, cum)
	}
	fmt.Fprintf(w, "goapp_request_seconds_sum{handler=\"a\\\"b\"} 1.25\n")
	fmt.Fprintf(w, "goapp_request_seconds_count{handler=\"a\\\"b\"} %d\n", cum)
	fmt.Fprintf(w, "# HELP goapp_gc_pause_seconds GC pauses.\n")
	fmt.Fprintf(w, "# TYPE goapp_gc_pause_seconds summary\n")
	fmt.Fprintf(w, "goapp_gc_pause_seconds{quantile=\"0.5\"} %g\n", float64(m.PauseNs[0])/1e9)
	fmt.Fprintf(w, "goapp_gc_pause_seconds{quantile=\"0.99\"} %g\n", math.NaN())
	fmt.Fprintf(w, "goapp_gc_pause_seconds_sum %g\n", float64(m.PauseTotalNs)/1e9)
	fmt.Fprintf(w, "goapp_gc_pause_seconds_count %d\n", m.NumGC)
	fmt.Fprintf(w, "# TYPE goapp_goroutines gauge\n")
	fmt.Fprintf(w, "goapp_goroutines %d\n", runtime.NumGoroutine())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	leak := flag.Int("leak", 1000, "goroutines parked on a channel")
	lifetime := flag.Duration("lifetime", 5*time.Minute, "exit after this long")
	flag.Parse()

	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)

	for i := 0; i < *leak; i++ {
		go parkedOnChannel(i)
	}
	for i := 0; i < 25; i++ {
		go waitingInSelect()
	}
	go burnCPU()
	go allocate()
	contend()

	http.HandleFunc("/metrics", metrics)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goapp:", err)
		os.Exit(1)
	}
	go func() {
		time.Sleep(*lifetime)
		os.Exit(0)
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "goapp:", err)
		os.Exit(1)
	}
}
