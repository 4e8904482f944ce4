package xds_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/weft-mesh/weft/pkg/xds"
)

// With TCP_USER_TIMEOUT set (gRPC sets it from the keepalive timeout), a TCP
// keepalive probe lost once closes the connection, so the ADS listener's
// connections must carry none.
func TestListenAcceptsWithoutTCPKeepalive(t *testing.T) {
	lis, err := xds.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	client, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		on, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil {
		t.Fatal(err)
	}
	if sockErr != nil {
		t.Fatal(sockErr)
	}
	if on != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted ADS connection, want 0", on)
	}
}
