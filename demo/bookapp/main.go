// Command bookapp plays one workload of the bookstore story as a proxyless
// gRPC workload of the mesh: it reads its xDS bootstrap from
// GRPC_XDS_BOOTSTRAP (the folder weftd writes for its pod), so its mTLS,
// authorization, routing and load balancing all come from weftd.
//
//	bookapp serve --name bookstore-v1 --listen 127.0.1.1:14001
//	bookapp call --target xds:///bookstore.bookstore.svc.cluster.local:14001 --rate 50 --duration 10s
//
// serve runs grpc.testing.TestService on an xDS server and prints
// "serving <address>" once its listener arrives (and "not-serving <error>"
// when it loses it); UnaryCall answers with the server's name, and with
// --unavailable-every n fails every nth call with UNAVAILABLE. call makes
// UnaryCall (or EmptyCall, --method empty) at a steady rate and prints one
// line per call: "<unix milliseconds> ok <server name>" or
// "<unix milliseconds> error <gRPC code> <message>".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bookapp serve|call [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "call":
		err = call(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want serve or call)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bookapp:", err)
		os.Exit(1)
	}
}

// out serialises lines on stdout, which the demo and the tests read.
var out = struct {
	sync.Mutex
	w *bufio.Writer
}{w: bufio.NewWriter(os.Stdout)}

func println(format string, args ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Fprintf(out.w, format+"\n", args...)
	out.w.Flush()
}

type bookServer struct {
	testgrpc.UnimplementedTestServiceServer
	name string
	// unavailableEvery fails every nth UnaryCall with UNAVAILABLE (0: none),
	// to show retries.
	unavailableEvery int64
	calls            atomic.Int64
}

func (s *bookServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if n := s.calls.Add(1); s.unavailableEvery > 0 && n%s.unavailableEvery == 0 {
		return nil, status.Errorf(codes.Unavailable, "%s failed call %d on purpose", s.name, n)
	}
	return &testgrpc.SimpleResponse{Hostname: s.name}, nil
}

func (s *bookServer) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	name := fs.String("name", "", "the name UnaryCall answers with")
	listen := fs.String("listen", "", "the address to serve on (the pod's IP and port)")
	unavailableEvery := fs.Int64("unavailable-every", 0, "fail every nth UnaryCall with UNAVAILABLE (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *listen == "" {
		return fmt.Errorf("serve needs --name and --listen")
	}
	// The fallback is used only when the listener carries no TLS, which
	// weftd never sends.
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	srv, err := xds.NewGRPCServer(grpc.Creds(creds), xds.ServingModeCallback(func(addr net.Addr, args xds.ServingModeChangeArgs) {
		if args.Mode == connectivity.ServingModeServing {
			println("serving %s", addr)
		} else {
			println("not-serving %s %v", addr, args.Err)
		}
	}))
	if err != nil {
		return err
	}
	testgrpc.RegisterTestServiceServer(srv, &bookServer{name: *name, unavailableEvery: *unavailableEvery})
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	return srv.Serve(lis)
}

func call(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	target := fs.String("target", "", "the xds:/// target to call")
	method := fs.String("method", "unary", "unary (UnaryCall) or empty (EmptyCall)")
	rate := fs.Int("rate", 50, "calls a second")
	duration := fs.Duration("duration", 0, "how long to call; 0: until stdin closes or a signal")
	count := fs.Int("count", 0, "stop after this many calls (0: no limit)")
	timeout := fs.Duration("timeout", 2*time.Second, "each call's deadline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*target, "xds:///") || *rate < 1 {
		return fmt.Errorf("call needs an xds:/// --target and a positive --rate")
	}
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() { // the caller ends an open-ended run by closing stdin
			_, _ = bufio.NewReader(os.Stdin).ReadString(0)
			cancel()
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		var who string
		var err error
		if *method == "empty" {
			_, err = client.EmptyCall(cctx, &testgrpc.Empty{})
			who = "-"
		} else {
			var resp *testgrpc.SimpleResponse
			resp, err = client.UnaryCall(cctx, &testgrpc.SimpleRequest{})
			who = resp.GetHostname()
		}
		cancel()
		now := time.Now().UnixMilli()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			st := status.Convert(err)
			println("%d error %s %s", now, st.Code(), strings.ReplaceAll(st.Message(), "\n", " "))
			continue
		}
		println("%d ok %s", now, who)
	}
	return nil
}
