package redirect

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
)

// Apply installs rules in the current network namespace with
// `iptables-restore --noflush`, which applies them in one step: either every
// rule is in place or none is.
func Apply(ctx context.Context, rules string) error {
	cmd := exec.CommandContext(ctx, "iptables-restore", "--noflush")
	cmd.Stdin = bytes.NewBufferString(rules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
