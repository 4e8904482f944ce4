package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/testenv"
)

// TestBinariesRun builds weft and weftd as `make build` does and runs their
// most basic commands.
func TestBinariesRun(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"weft", "weftd"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, name), "./cmd/"+name)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "weft version prints the version", args: []string{"weft", "version"}, want: "weft dev (commit unknown)"},
		{name: "weftd --help lists its flags", args: []string{"weftd", "--help"}, want: "--mesh-namespace"},
		{name: "weftd version prints the version", args: []string{"weftd", "version"}, want: "weftd dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(filepath.Join(bin, tt.args[0]), tt.args[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("%s printed:\n%s\nwant it to contain %q", strings.Join(tt.args, " "), out, tt.want)
			}
		})
	}
}
