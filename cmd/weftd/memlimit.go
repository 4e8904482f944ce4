package main

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of its container's memory limit weftd gives
// Go's collector as a soft limit (GOMEMLIMIT), leaving the rest for what the
// runtime does not count (a pod's page cache, say).
const memoryLimitShare = 0.9

// applyMemoryLimit sets Go's soft memory limit from the memory limit of
// weftd's cgroup, unless GOMEMLIMIT is set. Without it the collector lets
// the heap grow to twice what survived the last collection, so a burst (a
// connect storm, a change every proxy must receive) is killed at the
// container's limit although half of what it holds is garbage; with it, the
// collector runs more often as the heap nears the limit instead.
func applyMemoryLimit(logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return
	}
	limit, err := cgroupMemoryLimit("/sys/fs/cgroup", self)
	if err != nil {
		logger.Warn("reading the cgroup's memory limit; Go's collector has none", "error", err)
		return
	}
	if limit <= 0 {
		return
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	logger.Info("Go's soft memory limit set from the container's", "containerLimitBytes", limit, "goMemLimitBytes", soft)
}

// noLimit is where a cgroup v1 limit means none (the largest page-aligned
// int64); cgroup v2 says "max".
const noLimit = 1 << 62

// cgroupMemoryLimit returns the memory limit of the cgroup that
// /proc/self/cgroup's content names, read under root (cgroup v2's
// memory.max, or v1's memory.limit_in_bytes), or 0 when there is none.
func cgroupMemoryLimit(root string, procSelfCgroup []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(procSelfCgroup))
	var v1, v2 string
	found1, found2 := false, false
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, found2 = parts[2], true
		case hasController(parts[1], "memory"):
			v1, found1 = parts[2], true
		}
	}
	if found1 {
		// A container usually sees its own cgroup at the hierarchy's root.
		return readLimit(filepath.Join(root, "memory"), v1, "memory.limit_in_bytes")
	}
	if found2 {
		return readLimit(root, v2, "memory.max")
	}
	return 0, nil
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads file in dir/path, or in dir when the path is not mounted
// there (a cgroup namespace shows the container's cgroup as the root).
func readLimit(dir, path, file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, path, file))
	if errors.Is(err, os.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(dir, file))
	}
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n >= noLimit {
		return 0, nil
	}
	return n, nil
}
