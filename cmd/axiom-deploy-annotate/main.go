// Command axiom-deploy-annotate tells Axiom about a NixOS or nix-darwin
// deploy: it annotates the chosen datasets once per deploy and traces its own
// run. See --help.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/axiomhq/axiom-go/axiom"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bdsqqq/axiom-deploy-annotation/annotator"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit statuses.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitNotNix   = 3
	exitState    = 4
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit status with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitError{code, err} }

func run(args []string, stdout, stderr io.Writer) int {
	mode := "annotate"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	c, err := parseArgs(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "axiom-deploy-annotate: %v\n", err)
		if errors.As(err, new(usageError)) {
			fmt.Fprintln(stderr, "Run axiom-deploy-annotate --help for usage.")
		}
		return exitUsage
	}
	if c.version {
		fmt.Fprintf(stdout, "axiom-deploy-annotate %s\n", version)
		return exitOK
	}
	switch mode {
	case "check-config":
		fmt.Fprintln(stdout, "config ok")
		return exitOK
	case "annotate", "flush":
	default:
		fmt.Fprintf(stderr, "axiom-deploy-annotate: unknown mode %q: want annotate, flush or check-config\n", mode)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	r := &runner{c: c, mode: mode, stdout: stdout, log: log}
	if err := r.run(); err != nil {
		var ee *exitError
		code := exitInternal
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintf(stderr, "axiom-deploy-annotate: %v\n", err)
		return code
	}
	return exitOK
}

type runner struct {
	c      config
	mode   string
	stdout io.Writer
	log    *slog.Logger
	tracer trace.Tracer
}

// exportReserve is the part of the deadline kept for exporting the trace.
func exportReserve(total time.Duration) time.Duration {
	return min(total/5, 5*time.Second)
}

func (r *runner) run() error {
	c := r.c
	deadline := time.Now().Add(time.Duration(c.Timeout))
	host := c.Hostname
	if host == "" {
		h, err := nixinfo.ShortHostname()
		if err != nil {
			return fail(exitInternal, err)
		}
		host = h
	}

	token, tokenErr := r.token()
	tracesToken := token
	if c.TracesTokenFile != "" {
		t, err := readToken(c.TracesTokenFile, r.log.Warn)
		if err != nil {
			r.log.Warn("traces token unreadable", "err", err)
		}
		tracesToken = t
	}
	tracesEndpoint := c.TracesEndpoint
	if c.dryRun {
		tracesEndpoint = ""
	}
	setupCtx, cancelSetup := context.WithDeadline(context.Background(), deadline)
	tel, err := telemetry.Setup(setupCtx, telemetry.Config{
		Endpoint: tracesEndpoint,
		Dataset:  c.TracesDataset,
		Token:    tracesToken,
		OrgID:    c.OrgID,
		Version:  version,
		Host:     host,
		Timeout:  exportReserve(time.Duration(c.Timeout)),
	}, r.log)
	cancelSetup()
	if err != nil {
		return fail(exitInternal, err)
	}
	defer func() {
		// Exporting what is left may take the reserve, never past the
		// run's deadline.
		end := time.Now().Add(exportReserve(time.Duration(c.Timeout)))
		if end.After(deadline) {
			end = deadline
		}
		ctx, cancel := context.WithDeadline(context.Background(), end)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			r.log.Warn("traces not exported", "err", err)
		}
	}()

	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-exportReserve(time.Duration(c.Timeout))))
	defer cancel()
	ctx = telemetry.FromEnvironment(ctx)
	r.tracer = tel.Tracer()
	ctx, span := r.tracer.Start(ctx, "run", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("deploy.mode", r.mode),
		semconv.HostName(host),
		attribute.Bool("deploy.dry_run", c.dryRun),
		attribute.Bool("deploy.force", c.force),
	))
	traceID := ""
	if tel.Exporting {
		traceID = span.SpanContext().TraceID().String()
	}
	out, err := r.deploy(ctx, host, token, tokenErr, traceID)
	span.SetAttributes(attribute.String("deploy.outcome", out.outcome))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if out.err != nil {
		span.SetStatus(codes.Error, out.err.Error())
	}
	span.End()
	if err == nil && out.line != "" {
		if traceID != "" {
			out.line += " trace " + traceID
		}
		fmt.Fprintln(r.stdout, out.line)
	}
	return err
}

// token finds the Axiom token: a chosen token file, else AXIOM_TOKEN, else
// the default token file.
func (r *runner) token() (string, error) {
	c := r.c
	if !c.tokenFileSet {
		if t := strings.TrimSpace(os.Getenv("AXIOM_TOKEN")); t != "" {
			return t, nil
		}
	}
	t, err := readToken(c.TokenFile, r.log.Warn)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", c.TokenFile)
	}
	return t, nil
}

type outcome struct {
	outcome string
	line    string
	err     error
}

func (r *runner) deploy(ctx context.Context, host, token string, tokenErr error, traceID string) (outcome, error) {
	c := r.c
	var store *annotator.Store
	var err error
	if c.dryRun {
		store = annotator.ReadStore(c.StateDir, r.log)
	} else {
		store, err = annotator.OpenStore(ctx, c.StateDir, r.log)
		if err != nil {
			return outcome{outcome: "error"}, fail(exitState, err)
		}
		defer store.Close()
	}

	if r.mode == "annotate" {
		last := store.LastDeployed()
		g, diff, err := r.discover(ctx, host, last.StorePath)
		if err != nil {
			return outcome{outcome: "error"}, fail(exitNotNix, err)
		}
		req := annotator.Build(annotator.Deploy{
			Generation: g,
			Diff:       diff,
			TraceID:    traceID,
			Time:       time.Now(),
		}, c.settings())

		if c.dryRun {
			changes := []nixinfo.Change{}
			if diff != nil {
				changes = diff.Changes
			}
			return outcome{outcome: "dry-run"}, r.printDryRun(req, g, changes)
		}
		if g.StorePath == last.StorePath && !c.force {
			r.log.Info("already annotated: this system is the one annotated last; --force sends anyway",
				"system", g.StorePath, "annotation", last.AnnotationID)
			res := r.flush(ctx, store, token, tokenErr)
			o := outcome{outcome: "already-annotated", line: fmt.Sprintf("already annotated: %s", last.Title), err: res.Err}
			if last.AnnotationID != "" {
				o.line += " as " + last.AnnotationID
			}
			return o, nil
		}
		entry := &annotator.Entry{StorePath: g.StorePath, Generation: g.Number, Request: *req}
		if err := store.Enqueue(entry, c.SpoolLimit); err != nil {
			return outcome{outcome: "error"}, fail(exitState, fmt.Errorf("spool: %w", err))
		}
		res := r.flush(ctx, store, token, tokenErr)
		for _, d := range res.Delivered {
			if d.Entry.ID == entry.ID {
				trace.SpanFromContext(ctx).SetAttributes(attribute.String("axiom.annotation.id", d.ID))
				return outcome{outcome: "annotated", line: fmt.Sprintf("annotated %q as %s", req.Title, d.ID)}, nil
			}
		}
		return outcome{outcome: "spooled", line: fmt.Sprintf("not delivered, spooled for the next run: %q", req.Title), err: res.Err}, nil
	}

	if c.dryRun {
		return outcome{outcome: "dry-run"}, r.printPending(store)
	}
	res := r.flush(ctx, store, token, tokenErr)
	line := fmt.Sprintf("delivered %d, %d still spooled", len(res.Delivered), res.Pending)
	if res.Err != nil {
		return outcome{outcome: "spooled", line: line, err: res.Err}, nil
	}
	return outcome{outcome: "flushed", line: line}, nil
}

// discover finds what is deployed and what changed since previous, under
// the span "discover". A failure to find the changes is a warning: the
// annotation says they are unknown.
func (r *runner) discover(ctx context.Context, host, previous string) (*nixinfo.Generation, *nixinfo.Diff, error) {
	ctx, span := r.tracer.Start(ctx, "discover")
	defer span.End()
	g, err := nixinfo.Discover(ctx, nixinfo.Options{
		CurrentSystem: r.c.CurrentSystem,
		Profile:       r.c.Profile,
		Hostname:      host,
		Previous:      previous,
		Log:           r.log,
	})
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, nil, err
	}
	span.SetAttributes(generationAttributes(g, r.c.RepositoryURL)...)
	if g.Previous == "" {
		return g, nil, nil
	}
	diff, err := nixinfo.DiffSystems(ctx, g.Previous, g.StorePath)
	if err != nil {
		r.log.Warn("package changes unknown", "previous", g.Previous, "err", err)
		span.RecordError(err)
		return g, nil, nil
	}
	recordChanges(span, diff)
	return g, diff, nil
}

func (r *runner) flush(ctx context.Context, store *annotator.Store, token string, tokenErr error) annotator.FlushResult {
	if tokenErr != nil {
		r.log.Warn("no Axiom token, nothing sent", "err", tokenErr)
		token = ""
	} else if !annotator.ValidToken(token) {
		r.log.Warn("the token is not an Axiom token (xaat-… or xapt-…), nothing sent")
		token = ""
	}
	sender, err := annotator.NewSender(annotator.SenderConfig{
		Endpoint:  r.c.APIEndpoint,
		Token:     token,
		OrgID:     r.c.OrgID,
		Transport: otelhttp.NewTransport(http.DefaultTransport),
		Retries:   2,
	}, r.log)
	if err != nil {
		r.log.Warn("nothing sent", "err", err)
		return annotator.FlushResult{Err: err}
	}
	res := annotator.Flush(ctx, store, sender, r.log)
	for _, d := range res.Delivered {
		r.log.Info("annotated", "title", d.Entry.Request.Title, "id", d.ID, "time", d.Entry.Request.Time)
	}
	if res.Err != nil {
		r.log.Warn("annotation not delivered; it stays spooled for the next run", "pending", res.Pending, "err", res.Err)
	}
	return res
}

func generationAttributes(g *nixinfo.Generation, repo string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("nix.store_path", g.StorePath),
		attribute.String("nix.platform", string(g.Platform)),
		attribute.String("nix.label", g.Label),
		attribute.String("nix.previous_store_path", g.Previous),
		attribute.Bool("nix.rollback", g.Rollback),
		attribute.Bool("vcs.dirty", g.Dirty),
	}
	if g.Number != nil {
		attrs = append(attrs, attribute.Int("nix.generation", *g.Number))
	}
	if g.Revision != "" {
		attrs = append(attrs, semconv.VCSRefHeadRevision(g.Revision))
	}
	if repo != "" {
		attrs = append(attrs, semconv.VCSRepositoryURLFull(repo))
	}
	return attrs
}

// dryRun is what --dry-run prints.
type dryRun struct {
	Annotation *axiom.AnnotationCreateRequest `json:"annotation"`
	Generation *nixinfo.Generation            `json:"generation"`
	Changes    []nixinfo.Change               `json:"changes"`
}

func (r *runner) printDryRun(req *axiom.AnnotationCreateRequest, g *nixinfo.Generation, changes []nixinfo.Change) error {
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(dryRun{Annotation: req, Generation: g, Changes: changes})
}

// printPending prints what flush would send, oldest first, as one JSON
// object: {"pending": [annotation, …]}.
func (r *runner) printPending(store *annotator.Store) error {
	entries, err := store.Pending()
	if err != nil {
		return fail(exitState, err)
	}
	pending := make([]*axiom.AnnotationCreateRequest, 0, len(entries))
	for _, e := range entries {
		pending = append(pending, &e.Request)
	}
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"pending": pending})
}

// maxChangeEvents bounds the span events listing package changes, at the
// SDK's default event limit.
const maxChangeEvents = 128

// recordChanges puts the package changes on the discovery span: counts by
// kind as attributes, and one event per change, up to maxChangeEvents.
func recordChanges(span trace.Span, d *nixinfo.Diff) {
	counts := map[nixinfo.ChangeKind]int{}
	for i, c := range d.Changes {
		counts[c.Kind()]++
		if i < maxChangeEvents {
			span.AddEvent("package.change", trace.WithAttributes(
				attribute.String("package.name", c.Name),
				attribute.StringSlice("package.before", c.Before),
				attribute.StringSlice("package.after", c.After),
				attribute.String("package.change", c.Kind().String()),
			))
		}
	}
	span.SetAttributes(
		attribute.Int("nix.changes.count", len(d.Changes)),
		attribute.Int("nix.changes.upgrades", counts[nixinfo.Upgrade]),
		attribute.Int("nix.changes.downgrades", counts[nixinfo.Downgrade]),
		attribute.Int("nix.changes.added", counts[nixinfo.Added]),
		attribute.Int("nix.changes.removed", counts[nixinfo.Removed]),
		attribute.Int("nix.changes.events_dropped", max(0, len(d.Changes)-maxChangeEvents)),
	)
	if d.SizeBefore > 0 && d.SizeAfter > 0 {
		span.SetAttributes(
			attribute.Int64("nix.closure.size_before", d.SizeBefore),
			attribute.Int64("nix.closure.size_after", d.SizeAfter),
		)
	}
}
