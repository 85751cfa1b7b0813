package telemetry

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"go.opentelemetry.io/otel/attribute"
)

const plist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>BuildID</key>
	<string>2F5A3E9C</string>
	<key>ProductBuildVersion</key>
	<string>23E224</string>
	<key>ProductName</key>
	<string>macOS</string>
	<key>ProductVersion</key>
	<string>14.4.1</string>
</dict>
</plist>
`

const ioregOut = `+-o J316sAP  <class IOPlatformExpertDevice, id 0x100000245, registered, matched, active, busy 0 (193361 ms), retain 39>
    {
      "IOPlatformSerialNumber" = "XYZ123"
      "IOPlatformUUID" = "8F0A3B5C-1111-2222-3333-444455556666"
    }
`

func TestSystemAttributes(t *testing.T) {
	for _, tc := range []struct {
		name string
		sys  system
		want map[string]string
	}{
		{
			name: "NixOS",
			sys: system{goos: "linux", goarch: "amd64", fsys: fstest.MapFS{
				"etc/NIXOS":      {},
				"etc/machine-id": {Data: []byte("4c0ffee0000000000000000000000001\n")},
				"etc/os-release": {Data: []byte("BUG_REPORT_URL=\"https://github.com/NixOS/nixpkgs/issues\"\nID=nixos\nNAME=NixOS\nPRETTY_NAME=\"NixOS 24.05 (Uakari)\"\nVERSION_ID=\"24.05\"\n")},
			}},
			want: map[string]string{"host.id": "4c0ffee0000000000000000000000001", "host.arch": "amd64", "os.type": "linux", "os.name": "NixOS", "os.version": "24.05"},
		},
		{
			name: "NixOS by os-release alone",
			sys: system{goos: "linux", goarch: "arm64", fsys: fstest.MapFS{
				"usr/lib/os-release": {Data: []byte("NAME='Something'\nID=nixos\nVERSION_ID=25.11\n")},
			}},
			want: map[string]string{"host.arch": "arm64", "os.type": "linux", "os.name": "NixOS", "os.version": "25.11"},
		},
		{
			name: "Debian",
			sys: system{goos: "linux", goarch: "386", fsys: fstest.MapFS{
				"var/lib/dbus/machine-id": {Data: []byte("abc\n")},
				"etc/os-release":          {Data: []byte("# comment\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n")},
			}},
			want: map[string]string{"host.id": "abc", "host.arch": "x86", "os.type": "linux", "os.name": "Debian GNU/Linux", "os.version": "12"},
		},
		{
			name: "nothing readable",
			sys:  system{goos: "linux", goarch: "riscv64", fsys: fstest.MapFS{"etc/machine-id": {Data: []byte("\n")}}},
			want: map[string]string{"host.arch": "riscv64", "os.type": "linux"},
		},
		{
			name: "macOS",
			sys: system{goos: "darwin", goarch: "arm64", fsys: fstest.MapFS{
				"System/Library/CoreServices/SystemVersion.plist": {Data: []byte(plist)},
			}, ioreg: func(context.Context) ([]byte, error) { return []byte(ioregOut), nil }},
			want: map[string]string{"host.id": "8F0A3B5C-1111-2222-3333-444455556666", "host.arch": "arm64", "os.type": "darwin", "os.name": "macOS", "os.version": "14.4.1"},
		},
		{
			name: "macOS without ioreg",
			sys: system{goos: "darwin", goarch: "amd64", fsys: fstest.MapFS{}, ioreg: func(context.Context) ([]byte, error) {
				return nil, errors.New("not found")
			}},
			want: map[string]string{"host.arch": "amd64", "os.type": "darwin", "os.name": "macOS"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, kv := range tc.sys.attributes(context.Background()) {
				if kv.Value.Type() != attribute.STRING {
					t.Errorf("%s is a %v", kv.Key, kv.Value.Type())
				}
				got[string(kv.Key)] = kv.Value.AsString()
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
