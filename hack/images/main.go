// Command images writes Weft's image archives (see internal/images);
// `make images` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/images"
)

func main() {
	var o images.Options
	var arches, names string
	flag.StringVar(&o.Out, "out", "bin/images", "directory of the archives")
	flag.StringVar(&o.Version, "version", "dev", "the images' tag and version label")
	flag.StringVar(&o.Revision, "revision", "unknown", "the revision label (git commit)")
	flag.StringVar(&o.LDFlags, "ldflags", "", "go build -ldflags (the Makefile's version flags)")
	flag.StringVar(&arches, "arch", "amd64,arm64", "linux architectures, comma-separated")
	flag.StringVar(&names, "images", "", "images to build, comma-separated (default all)")
	flag.StringVar(&o.Repository, "repository", images.DefaultRepository, "prefix of the image names")
	flag.Parse()
	o.ModuleDir = "."
	o.Arches = strings.Split(arches, ",")
	if names != "" {
		o.Images = strings.Split(names, ",")
	}
	// SOURCE_DATE_EPOCH, the reproducible-builds convention, dates the images.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "images: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		o.Created = time.Unix(sec, 0)
	}
	o.Log = os.Stderr
	archives, err := images.Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	for _, a := range archives {
		fmt.Printf("%s\t%s\t%s\n", a.Path, strings.Join(a.Arches, ","), strings.Join(a.Tags, " "))
	}
}
