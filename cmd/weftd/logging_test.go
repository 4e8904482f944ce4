package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// TestLibraryLogsShareWeftdsLogger: controller-runtime's and client-go's
// (klog's) lines come out of weftd's logger, in its format and at its level.
//
// controller-runtime takes its logger once per process, so the test runs in a
// process of its own: another test of this package may have set it first.
func TestLibraryLogsShareWeftdsLogger(t *testing.T) {
	if os.Getenv("WEFT_LOGGING_TEST_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryLogsShareWeftdsLogger$", "-test.count=1")
		cmd.Env = append(os.Environ(), "WEFT_LOGGING_TEST_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	var out bytes.Buffer
	level := new(slog.LevelVar)
	logger, err := newLogger(&out, logFormatJSON, level)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("from weftd")
	ctrllog.Log.WithName("cache").Info("from controller-runtime", "kind", "Pod")
	klog.InfoS("from client-go", "lease", "osm-system/weftd-leader")
	klog.Flush()
	level.Set(slog.LevelWarn)
	ctrllog.Log.Info("dropped at warn level")

	var parts []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		part, _ := m["part"].(string)
		parts = append(parts, part+": "+m["msg"].(string))
	}
	want := []string{": from weftd", "controller-runtime: from controller-runtime", "client-go: from client-go"}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q\n%s", parts, want, out.String())
	}
	if _, err := newLogger(&out, "yaml", level); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("an unknown format: %v", err)
	}
}
