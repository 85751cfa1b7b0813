package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/statedir"
)

// A run that must not wait on the network (recording a deploy while the
// switch waits) writes its spans to a spool directory instead, as the OTLP
// request that would have carried them; a later run sends them with its
// own. So a deploy's trace is whole, with the record run's real times,
// however late it reaches the collector.

// The spool is the directory traces/ in the state directory, reached
// through statedir, which follows no link: a traces/ that is a link is
// refused, not sent from nor tidied. Writers hold its lock shared while
// they write, so that the run tidying up after stopped writers (holding it
// exclusively) never takes a file being written.

// traceDir is the trace spool's name in the state directory; traceLock
// the name of its lock.
const (
	traceDir  = "traces"
	traceLock = "lock"
)

// maxSpooledTraces bounds the trace spool: past it the oldest are dropped.
const maxSpooledTraces = 200

// maxTraceFile bounds one spooled export.
const maxTraceFile = 4 << 20

// spoolClient is an otlptrace.Client that writes each export to a file of
// the trace spool in the state directory stateDir.
type spoolClient struct {
	stateDir string
	log      *slog.Logger
}

func (spoolClient) Start(context.Context) error { return nil }
func (spoolClient) Stop(context.Context) error  { return nil }

func (c spoolClient) UploadTraces(ctx context.Context, rs []*tracepb.ResourceSpans) error {
	b, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	if err != nil {
		return err
	}
	state, err := statedir.Open(c.stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		// A record that ended before recording anything (not a NixOS
		// system) makes no state directory for its spans.
		c.log.Debug("spans not kept: no state directory", "dir", c.stateDir)
		return nil
	}
	if err != nil {
		return err
	}
	defer state.Close()
	dir, err := state.Sub(traceDir, true)
	if err != nil {
		return err
	}
	defer dir.Close()
	l, err := dir.Lock(ctx, traceLock, statedir.Shared, nil)
	if err != nil {
		return fmt.Errorf("trace spool %s: %w", dir.Path(), err)
	}
	defer l.Release()
	if err := dir.WriteFile(fmt.Sprintf("%020d.pb", time.Now().UnixNano()), b, true); err != nil {
		return err
	}
	files, _ := spooledTraces(dir)
	for _, old := range files[:max(0, len(files)-maxSpooledTraces)] {
		dir.Remove(old)
	}
	return nil
}

// spoolExporter is a span exporter that writes to the trace spool of the
// state directory stateDir instead of sending.
func spoolExporter(stateDir string, log *slog.Logger) sdktrace.SpanExporter {
	return otlptrace.NewUnstarted(spoolClient{stateDir, log})
}

// spooledTraces lists the names of the spool's exports, oldest first.
func spooledTraces(dir *statedir.Dir) ([]string, error) {
	des, err := dir.ReadDir()
	if err != nil {
		return nil, err
	}
	var files []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), ".pb") && !strings.HasPrefix(de.Name(), ".") {
			files = append(files, de.Name())
		}
	}
	slices.Sort(files)
	return files, nil
}

// openSpool opens the trace spool of the state directory stateDir; nil
// when there is none.
func openSpool(stateDir string) (*statedir.Dir, error) {
	state, err := statedir.Open(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer state.Close()
	dir, err := state.Sub(traceDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return dir, err
}

// sendSpooled sends the spooled exports through client, oldest first, each
// removed once sent. It stops at the first that fails to send, and sets
// aside a file that is not an export. It returns how many it sent.
func sendSpooled(ctx context.Context, stateDir string, client otlptrace.Client, log *slog.Logger) (int, error) {
	dir, err := openSpool(stateDir)
	if err != nil || dir == nil {
		if err != nil {
			err = fmt.Errorf("spooled traces not sent: %w", err)
		}
		return 0, err
	}
	defer dir.Close()
	tidy(dir, log)
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
		// Claim the file, so that two runs never send it both; its time
		// becomes the claim's, which tidy measures.
		claimed := fmt.Sprintf(".sending-%d-%s", os.Getpid(), name)
		if dir.Touch(name) != nil || dir.Rename(name, claimed) != nil {
			continue
		}
		req, err := readExport(dir, claimed)
		if err != nil {
			log.Warn("spooled trace unreadable, set aside", "file", dir.Join(name), "err", err)
			dir.Rename(claimed, name+".corrupt")
			continue
		}
		if err := client.UploadTraces(ctx, req.ResourceSpans); err != nil {
			dir.Rename(claimed, name)
			return sent, err
		}
		dir.Remove(claimed)
		sent++
	}
	return sent, nil
}

func readExport(dir *statedir.Dir, name string) (*coltracepb.ExportTraceServiceRequest, error) {
	b, err := dir.ReadFile(name, maxTraceFile)
	if err != nil {
		return nil, err
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// claimTimeout is how long a claimed export may wait, from its claim,
// before another run takes it back: its sender stopped before it could
// send or return it.
const claimTimeout = 10 * time.Minute

// tidy returns to the spool the exports that a stopped run claimed, and
// removes the temporary files that a run stopped while writing left
// behind: those only while no writer holds the spool's lock.
func tidy(dir *statedir.Dir, log *slog.Logger) {
	if l, err := dir.TryLock(traceLock, statedir.Exclusive); err == nil {
		if n := dir.RemoveTemporary(); n > 0 {
			log.Debug("temporary files of a stopped run removed", "dir", dir.Path(), "files", n)
		}
		l.Release()
	}
	des, err := dir.ReadDir()
	if err != nil {
		return
	}
	for _, de := range des {
		name, ok := strings.CutPrefix(de.Name(), ".sending-")
		if !ok {
			continue
		}
		_, orig, ok := strings.Cut(name, "-")
		if fi, err := dir.Lstat(de.Name()); ok && err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > claimTimeout {
			dir.Rename(de.Name(), orig)
		}
	}
}
