// Package nginxtest runs a real nginx (Debian's package, installed by
// hack/test-deps.sh) as a child process of a test, configured as a gRPC
// ingress: it accepts plaintext HTTP/2 (h2c) from the test's gRPC clients and
// proxies each location to a backend with grpc_pass, over mTLS with a client
// certificate, verification against given roots and an expected server name,
// or over plaintext, from a chosen local source address. Its configuration,
// pid file, logs and temporary files live in the test's temporary folder; the
// process stops when the test ends. It serves the ingress tests; nothing else
// in Weft imports it.
package nginxtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Config is one nginx server block.
type Config struct {
	// Listen is the host:port nginx accepts h2c on, e.g. "127.0.9.1:8443".
	// Port 0, or an empty Listen (127.0.0.1:0), picks a free port.
	Listen string
	// Locations are proxied in order of nginx's prefix matching; at least one.
	Locations []Location
}

// Location proxies requests whose path starts with Path (a gRPC path is
// /package.Service/Method) to one backend.
type Location struct {
	// Path is the location's prefix; "/" when empty.
	Path string
	// Backend is the upstream's ip:port.
	Backend string
	// Bind is the local IP nginx connects to Backend from (grpc_bind); the
	// system chooses when empty.
	Bind string
	// TLS makes the upstream connection grpcs://; nil is plaintext grpc://.
	TLS *UpstreamTLS
}

// UpstreamTLS is how nginx speaks TLS to a backend. The PEM blocks are written
// into the temporary folder for nginx to read.
type UpstreamTLS struct {
	// CertPEM and KeyPEM are the client certificate (chain) nginx presents;
	// none when empty.
	CertPEM, KeyPEM []byte
	// TrustedCAPEM are the roots the backend's certificate must chain to
	// (grpc_ssl_verify on); the backend goes unverified when empty.
	TrustedCAPEM []byte
	// ServerName is sent as SNI and, with TrustedCAPEM, must be a DNS name in
	// the backend's certificate (grpc_ssl_name). When empty nginx uses the host
	// of Backend, an IP, for both.
	ServerName string
}

// Nginx is a running nginx.
type Nginx struct {
	// Addr is the host:port nginx listens on.
	Addr string
	// Dir is the prefix folder holding nginx.conf, logs and temporary files.
	Dir string

	errorLog, accessLog string
}

// ErrorLog returns what nginx has written to its error log so far.
func (n *Nginx) ErrorLog() string { return readFile(n.errorLog) }

// AccessLog returns nginx's access log so far: one line per request with the
// client, the status, the upstream's address and status, and the grpc-status
// trailer sent.
func (n *Nginx) AccessLog() string { return readFile(n.accessLog) }

// Start writes cfg as an nginx.conf into a temporary folder, starts nginx in
// the foreground as a single process, and returns once its listen address
// accepts connections. nginx is stopped when the test ends; if the test failed,
// its error and access logs are printed.
func Start(t testing.TB, cfg Config) *Nginx {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Locations) == 0 {
		t.Fatal("nginxtest: no locations")
	}
	addr, err := listenAddr(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := &Nginx{
		Addr:      addr,
		Dir:       dir,
		errorLog:  filepath.Join(dir, "error.log"),
		accessLog: filepath.Join(dir, "access.log"),
	}
	conf, err := n.render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", n.errorLog)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("nginxtest: starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-exited:
			t.Logf("nginxtest: nginx on %s had exited: %v", n.Addr, err)
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("nginxtest: nginx on %s, %s:\n%s", n.Addr, confPath, conf)
			t.Logf("nginxtest: output:\n%s", out.String())
			t.Logf("nginxtest: error log:\n%s", n.ErrorLog())
			t.Logf("nginxtest: access log:\n%s", n.AccessLog())
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("nginxtest: nginx exited while starting (%v); output:\n%s\nerror log:\n%s", err, out.String(), n.ErrorLog())
		default:
		}
		// nginx writes its pid file once it has bound its listen sockets (it
		// exits if it cannot), so a connection accepted before that is someone
		// else's listener on the same port.
		err := errors.New("no pid file yet")
		if pid := strings.TrimSpace(readFile(filepath.Join(dir, "nginx.pid"))); pid == strconv.Itoa(cmd.Process.Pid) {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginxtest: nginx does not accept connections on %s: %v; error log:\n%s", addr, err, n.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeAddr returns ip:port with a port on ip that was free a moment ago.
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	addr, err := listenAddr(net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// binary finds nginx on PATH or where Debian puts it (/usr/sbin is not on
// every user's PATH).
func binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginxtest: nginx is not installed; run `make test-deps` as root (or apt-get install --no-install-recommends nginx)")
}

// listenAddr resolves port 0 (or an empty address) to a port free right now.
func listenAddr(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("nginxtest: listen address %q: %v", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("nginxtest: finding a free port on %s: %v", host, err)
	}
	defer l.Close()
	return net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), nil
}

// location is a Location as the template sees it, with its PEM blocks as files.
type location struct {
	Location
	Scheme                    string
	CertFile, KeyFile, CAFile string
}

func (n *Nginx) render(cfg Config) ([]byte, error) {
	var locs []location
	for i, l := range cfg.Locations {
		if l.Path == "" {
			l.Path = "/"
		}
		if l.Backend == "" {
			return nil, fmt.Errorf("nginxtest: location %s has no backend", l.Path)
		}
		loc := location{Location: l, Scheme: "grpc"}
		if l.TLS != nil {
			loc.Scheme = "grpcs"
			write := func(name string, pem []byte) (string, error) {
				if len(pem) == 0 {
					return "", nil
				}
				p := filepath.Join(n.Dir, fmt.Sprintf("location%d-%s", i, name))
				return p, os.WriteFile(p, pem, 0o600)
			}
			var err error
			if (len(l.TLS.CertPEM) == 0) != (len(l.TLS.KeyPEM) == 0) {
				return nil, fmt.Errorf("nginxtest: location %s needs both CertPEM and KeyPEM or neither", l.Path)
			}
			if loc.CertFile, err = write("cert.pem", l.TLS.CertPEM); err != nil {
				return nil, err
			}
			if loc.KeyFile, err = write("key.pem", l.TLS.KeyPEM); err != nil {
				return nil, err
			}
			if loc.CAFile, err = write("ca.pem", l.TLS.TrustedCAPEM); err != nil {
				return nil, err
			}
		}
		locs = append(locs, loc)
	}
	var b bytes.Buffer
	err := confTemplate.Execute(&b, struct {
		Dir, ErrorLog, AccessLog, Listen string
		Locations                        []location
	}{n.Dir, n.errorLog, n.accessLog, n.Addr, locs})
	return b.Bytes(), err
}

// confTemplate is nginx.conf for nginx 1.22 (`listen ... http2`; the separate
// `http2 on` is 1.25+). nginx runs as one foreground process so that killing
// it leaves nothing behind; every path it writes is in Dir.
//
// TLS sessions are not resumed: locations with the same backend address share
// one implicit upstream and so its saved session, and a backend that resumes a
// session keeps the client certificate of the handshake that made it. With
// reuse, a location without a client certificate (or with another one) would
// pass as the identity of an earlier location; without it, every connection
// shows the backend the certificate its location names.
var confTemplate = template.Must(template.New("nginx.conf").Parse(`daemon off;
master_process off;
pid "{{.Dir}}/nginx.pid";
lock_file "{{.Dir}}/nginx.lock";
error_log "{{.ErrorLog}}" info;

events {
    worker_connections 256;
}

http {
    log_format grpc '$remote_addr "$request" $status upstream=$upstream_addr '
                    'upstream_status=$upstream_status grpc_status=$sent_trailer_grpc_status';
    access_log "{{.AccessLog}}" grpc;
    client_body_temp_path "{{.Dir}}/client_body";
    proxy_temp_path "{{.Dir}}/proxy";
    fastcgi_temp_path "{{.Dir}}/fastcgi";
    uwsgi_temp_path "{{.Dir}}/uwsgi";
    scgi_temp_path "{{.Dir}}/scgi";

    server {
        listen {{.Listen}} http2;
{{range .Locations}}
        location {{.Path}} {
            grpc_pass {{.Scheme}}://{{.Backend}};
{{- if .Bind}}
            grpc_bind {{.Bind}};
{{- end}}
{{- if .TLS}}
            grpc_ssl_protocols TLSv1.2 TLSv1.3;
            grpc_ssl_session_reuse off;
{{- if .CertFile}}
            grpc_ssl_certificate "{{.CertFile}}";
            grpc_ssl_certificate_key "{{.KeyFile}}";
{{- end}}
{{- if .CAFile}}
            grpc_ssl_trusted_certificate "{{.CAFile}}";
            grpc_ssl_verify on;
            grpc_ssl_verify_depth 4;
{{- end}}
{{- if .TLS.ServerName}}
            grpc_ssl_name {{.TLS.ServerName}};
            grpc_ssl_server_name on;
{{- end}}
{{- end}}
        }
{{end}}
    }
}
`))

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
