package images

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDockerfiles keeps build/*.Dockerfile, which CI cannot build (no engine),
// in step with the images Build makes.
func TestDockerfiles(t *testing.T) {
	for _, name := range []string{"weftd", "weft-init"} {
		b, err := selected([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile("../../build/" + name + ".Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		df := string(data)
		entry := BinDir + "/" + name
		user := fmt.Sprintf("%d:%d", b[0].UID, b[0].UID)
		want := []string{
			"CGO_ENABLED=0", "-trimpath", "./cmd/" + name,
			"FROM scratch",
			fmt.Sprintf("COPY --from=build --chown=%s --chmod=0755 /out/%s %s\n", user, name, entry),
			"ENV " + pathEnv + "\n",
			"USER " + user + "\n",
			`ENTRYPOINT ["` + entry + `"]`,
		}
		for k, v := range Labels(b[0], "$VERSION", "$REVISION") {
			want = append(want, fmt.Sprintf("%s=%q", k, v))
		}
		for _, w := range want {
			if !strings.Contains(df, w) {
				t.Errorf("build/%s.Dockerfile lacks %s", name, w)
			}
		}
	}
}
