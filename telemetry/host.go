package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/bounded"
)

// system is what the resource says about the machine: its files (rooted
// at /), its GOOS and GOARCH, and on darwin ioreg's output.
type system struct {
	fsys   fs.FS
	goos   string
	goarch string
	ioreg  func(ctx context.Context) ([]byte, error)
}

// maxHostFile bounds what is read of a file or a command that describes
// the machine: a few hundred bytes each.
const maxHostFile = 64 << 10

func runIoreg(ctx context.Context) ([]byte, error) {
	return bounded.Output(bounded.Command(ctx, "ioreg", "-rd1", "-c", "IOPlatformExpertDevice"), maxHostFile)
}

// attributes are host.id, host.arch, os.type, os.name and os.version, each
// where known. The SDK's detectors would do this, but declare a newer
// schema than 1.37.
func (s system) attributes(ctx context.Context) []attribute.KeyValue {
	var kv []attribute.KeyValue
	if id := s.hostID(ctx); id != "" {
		kv = append(kv, semconv.HostID(id))
	}
	kv = append(kv, hostArch(s.goarch), semconv.OSTypeKey.String(s.goos))
	name, version := s.osNameVersion()
	if name != "" {
		kv = append(kv, semconv.OSName(name))
	}
	if version != "" {
		kv = append(kv, semconv.OSVersion(version))
	}
	return kv
}

// hostArch maps GOARCH to the values semantic conventions name; others
// pass as they are.
func hostArch(goarch string) attribute.KeyValue {
	switch goarch {
	case "amd64":
		return semconv.HostArchAMD64
	case "arm64":
		return semconv.HostArchARM64
	case "arm":
		return semconv.HostArchARM32
	case "386":
		return semconv.HostArchX86
	case "ppc64", "ppc64le":
		return semconv.HostArchPPC64
	case "s390x":
		return semconv.HostArchS390x
	}
	return semconv.HostArchKey.String(goarch)
}

var ioregUUID = regexp.MustCompile(`"IOPlatformUUID" = "([^"]+)"`)

func (s system) hostID(ctx context.Context) string {
	switch s.goos {
	case "linux":
		for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
			if b, err := bounded.ReadFS(s.fsys, p, maxHostFile); err == nil {
				if id := strings.TrimSpace(string(b)); id != "" {
					return id
				}
			}
		}
	case "darwin":
		if s.ioreg == nil {
			return ""
		}
		if out, err := s.ioreg(ctx); err == nil {
			if m := ioregUUID.FindSubmatch(out); m != nil {
				return string(m[1])
			}
		}
	}
	return ""
}

func (s system) osNameVersion() (name, version string) {
	switch s.goos {
	case "darwin":
		b, err := bounded.ReadFS(s.fsys, "System/Library/CoreServices/SystemVersion.plist", maxHostFile)
		if err != nil {
			return "macOS", ""
		}
		return "macOS", plistString(b, "ProductVersion")
	case "linux":
		var rel map[string]string
		for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
			if b, err := bounded.ReadFS(s.fsys, p, maxHostFile); err == nil {
				rel = osRelease(b)
				break
			}
		}
		name = rel["NAME"]
		if _, err := fs.Stat(s.fsys, "etc/NIXOS"); err == nil || rel["ID"] == "nixos" {
			name = "NixOS"
		}
		return name, rel["VERSION_ID"]
	}
	return "", ""
}

// osRelease reads os-release(5): KEY=value lines, values optionally
// quoted with shell escapes.
func osRelease(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			if v[0] == '"' {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				} else {
					v = v[1 : len(v)-1]
				}
			} else {
				v = v[1 : len(v)-1]
			}
		}
		m[k] = v
	}
	return m
}

// plistString is the string that follows <key>key</key> in a property
// list.
func plistString(b []byte, key string) string {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var last string
	inKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "string" && last == key {
				var v string
				if dec.DecodeElement(&v, &t) != nil {
					return ""
				}
				return strings.TrimSpace(v)
			}
			inKey = t.Name.Local == "key"
			if !inKey {
				last = ""
			}
		case xml.CharData:
			if inKey {
				last = strings.TrimSpace(string(t))
			}
		case xml.EndElement:
			inKey = false
		}
	}
}
