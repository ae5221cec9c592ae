// prom2json's text-format path, as a test oracle: for each file named on the command line (or
// stdin when none), parse it with prom2json.ParseReader (expfmt.TextParser underneath), convert
// with prom2json.NewFamily and print json.Marshal of the families exactly as prom2json's main
// does, one line per input. The families are sorted by name: prom2json emits them in Go's random
// map order. An input Go rejects prints "ERROR <message>" on its line instead.
//
// Built offline against Debian's sources (golang-github-prometheus-prom2json-dev and
// golang-github-prometheus-common-dev): GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prom2json"
)

func convert(in io.Reader) string {
	ch := make(chan *dto.MetricFamily, 1024)
	errc := make(chan error, 1)
	go func() { errc <- prom2json.ParseReader(in, ch) }()
	result := []*prom2json.Family{}
	for mf := range ch {
		result = append(result, prom2json.NewFamily(mf))
	}
	if err := <-errc; err != nil {
		return "ERROR " + strings.ReplaceAll(err.Error(), "\n", "\\n")
	}
	sort.Slice(result, func(i, j int) bool { return result[i].Name < result[j].Name })
	jsonText, err := json.Marshal(result)
	if err != nil {
		return "ERROR " + err.Error()
	}
	return string(jsonText)
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if len(os.Args) == 1 {
		fmt.Fprintln(out, convert(os.Stdin))
		return
	}
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(out, "ERROR "+err.Error())
			continue
		}
		fmt.Fprintln(out, convert(f))
		f.Close()
	}
}
