package rules

import (
	"log/slog"
	"strings"
)

// ControlPlaneLogLevels are the values of MeshConfig
// observability.osmLogLevel, as OSM v1.2 takes them.
var ControlPlaneLogLevels = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"}

// LogLevelOff is the level that logs nothing ("disabled").
const LogLevelOff = slog.Level(1 << 10)

// ControlPlaneLogLevel maps an osmLogLevel to weftd's log level: trace and
// debug log everything, fatal and panic as error, disabled nothing. ok is
// false for any other value.
func ControlPlaneLogLevel(v string) (level slog.Level, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "trace", "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error", "fatal", "panic":
		return slog.LevelError, true
	case "disabled":
		return LogLevelOff, true
	}
	return 0, false
}
