package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/atomicfile"
)

// A run that must not wait on the network (recording a deploy while the
// switch waits) writes its spans to a spool directory instead, as the OTLP
// request that would have carried them; a later run sends them with its
// own. So a deploy's trace is whole, with the record run's real times,
// however late it reaches the collector.

// maxSpooledTraces bounds the trace spool: past it the oldest are dropped.
const maxSpooledTraces = 200

// maxTraceFile bounds one spooled export.
const maxTraceFile = 4 << 20

// spoolClient is an otlptrace.Client that writes each export to a file.
type spoolClient struct{ dir string }

func (spoolClient) Start(context.Context) error { return nil }
func (spoolClient) Stop(context.Context) error  { return nil }

func (c spoolClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return err
	}
	if err := atomicfile.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if fi, err := os.Lstat(c.dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("trace spool %s is not a directory", c.dir)
	}
	name := filepath.Join(c.dir, fmt.Sprintf("%020d.pb", time.Now().UnixNano()))
	if err := atomicfile.Write(name, b, true); err != nil {
		return err
	}
	files, _ := spooledTraces(c.dir)
	for _, old := range files[:max(0, len(files)-maxSpooledTraces)] {
		os.Remove(old)
	}
	return nil
}

// spoolExporter is a span exporter that writes to dir instead of sending.
func spoolExporter(dir string) sdktrace.SpanExporter {
	return otlptrace.NewUnstarted(spoolClient{dir})
}

// spooledTraces lists the spool's exports, oldest first.
func spooledTraces(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), ".pb") && !strings.HasPrefix(de.Name(), ".") {
			files = append(files, filepath.Join(dir, de.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// sendSpooled sends the spooled exports through client, oldest first, each
// removed once sent. It stops at the first that fails to send, and sets
// aside a file that is not an export. It returns how many it sent.
func sendSpooled(ctx context.Context, dir string, client otlptrace.Client, log *slog.Logger) (int, error) {
	reclaim(dir)
	files, err := spooledTraces(dir)
	if err != nil || len(files) == 0 {
		return 0, err
	}
	if err := client.Start(ctx); err != nil {
		return 0, err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	sent := 0
	for _, name := range files {
		// Claim the file, so that two runs never send it both.
		claimed := filepath.Join(dir, fmt.Sprintf(".sending-%d-%s", os.Getpid(), filepath.Base(name)))
		if err := os.Rename(name, claimed); err != nil {
			continue
		}
		req, err := readExport(claimed)
		if err != nil {
			log.Warn("spooled trace unreadable, set aside", "file", name, "err", err)
			os.Rename(claimed, name+".corrupt")
			continue
		}
		if err := client.UploadTraces(ctx, req.ResourceSpans); err != nil {
			os.Rename(claimed, name)
			return sent, err
		}
		os.Remove(claimed)
		sent++
	}
	return sent, nil
}

func readExport(name string) (*coltracepb.ExportTraceServiceRequest, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxTraceFile {
		return nil, errors.New("not a spooled export")
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// claimTimeout is how long a claimed export may wait before another run
// takes it back: its sender stopped before it could send or return it.
const claimTimeout = 10 * time.Minute

// reclaim returns to the spool the exports that a stopped run claimed.
func reclaim(dir string) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		name, ok := strings.CutPrefix(de.Name(), ".sending-")
		if !ok {
			continue
		}
		_, orig, ok := strings.Cut(name, "-")
		if fi, err := de.Info(); ok && err == nil && time.Since(fi.ModTime()) > claimTimeout {
			os.Rename(filepath.Join(dir, de.Name()), filepath.Join(dir, orig))
		}
	}
}
