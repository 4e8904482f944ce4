package images

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/manifests"
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
			"CGO_ENABLED=0", "-trimpath", `-ldflags "` + stripFlags + " -X", "./cmd/" + name,
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

// TestImageNames: the images' names and `latest` tag are what the injector
// pulls by default, and the chart pulls images of these names from the same
// registry.
func TestImageNames(t *testing.T) {
	if want := DefaultRepository + "/weft-init:latest"; injector.DefaultInitContainerImage != want {
		t.Errorf("injector's init image %s, images build %s", injector.DefaultInitContainerImage, want)
	}
	c, err := manifests.Chart()
	if err != nil {
		t.Fatal(err)
	}
	image, _ := c.Values["image"].(map[string]any)
	for key, want := range map[string]any{"registry": DefaultRepository, "repository": "weftd", "initRepository": "weft-init"} {
		if image[key] != want {
			t.Errorf("chart value image.%s = %v, images build %v", key, image[key], want)
		}
	}
}
