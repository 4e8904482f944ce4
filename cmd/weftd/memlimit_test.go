package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	write := func(t *testing.T, path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		self   string
		files  map[string]string
		want   int64
		errors bool
	}{
		{name: "v2 limit", self: "0::/kubepods/pod1/c1\n",
			files: map[string]string{"kubepods/pod1/c1/memory.max": "1073741824\n"}, want: 1 << 30},
		{name: "v2 no limit", self: "0::/\n", files: map[string]string{"memory.max": "max\n"}},
		{name: "v2 namespaced: the cgroup is the root", self: "0::/\n",
			files: map[string]string{"memory.max": "536870912\n"}, want: 512 << 20},
		{name: "v1 limit", self: "12:pids:/x\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n",
			files: map[string]string{"memory/process_api/abc/memory.limit_in_bytes": "2147483648\n"}, want: 2 << 30},
		{name: "v1 namespaced, at the hierarchy's root", self: "4:memory:/process_api/abc\n",
			files: map[string]string{"memory/memory.limit_in_bytes": "2147483648\n"}, want: 2 << 30},
		{name: "v1 no limit", self: "4:memory:/\n",
			files: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}},
		{name: "not mounted", self: "0::/\n"},
		{name: "garbage", self: "0::/\n", files: map[string]string{"memory.max": "lots\n"}, errors: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tc.files {
				write(t, filepath.Join(root, p), c)
			}
			got, err := cgroupMemoryLimit(root, []byte(tc.self))
			if (err != nil) != tc.errors {
				t.Fatalf("error %v, want error: %v", err, tc.errors)
			}
			if got != tc.want {
				t.Errorf("limit %d, want %d", got, tc.want)
			}
		})
	}
}
