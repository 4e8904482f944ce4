package v1alpha1

// Status values the control plane writes to a policy's status.currentStatus.
const (
	StatusCommitted = "committed"
	StatusRejected  = "rejected"
)

// PolicyStatus is what the control plane last concluded about a policy.
type PolicyStatus struct {
	// CurrentStatus is "committed" when the policy is in force, "rejected" when it
	// was skipped.
	// +optional
	CurrentStatus string `json:"currentStatus,omitempty"`
	// Reason explains CurrentStatus.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// PortSpec is a port and the protocol spoken on it.
type PortSpec struct {
	// Number is the port number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Number int `json:"number"`
	// Protocol is the protocol on the port.
	Protocol string `json:"protocol"`
}

// Protocols a policy port may name.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	ProtocolTCP   = "tcp"
	ProtocolGRPC  = "grpc"
	// ProtocolTCPServerFirst is TCP where the server speaks first (MySQL,
	// PostgreSQL...), in Egress ports.
	ProtocolTCPServerFirst = "tcp-server-first"
)
