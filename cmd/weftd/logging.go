package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Log formats --log-format takes.
const (
	logFormatText = "text"
	logFormatJSON = "json"
)

// newLogger is weftd's one logger: text or JSON lines on w, at level, which
// the MeshConfig moves. The libraries weftd uses (controller-runtime,
// client-go and its leader election) log through it too, so their lines
// share its format and level instead of going to klog's own output, or
// nowhere.
func newLogger(w io.Writer, format string, level *slog.LevelVar) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case logFormatText:
		h = slog.NewTextHandler(w, opts)
	case logFormatJSON:
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want %s or %s", format, logFormatText, logFormatJSON)
	}
	logger := slog.New(h)
	ctrllog.SetLogger(logr.FromSlogHandler(h.WithAttrs([]slog.Attr{slog.String("part", "controller-runtime")})))
	klog.SetSlogLogger(logger.With("part", "client-go"))
	return logger, nil
}
