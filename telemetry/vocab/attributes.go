package vocab

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Attribute is an attribute the command sets: its key, its type, and what
// carries it.
type Attribute struct {
	Key  attribute.Key
	Type attribute.Type
	// Time says the string is an RFC 3339 time, which queries read as a
	// datetime.
	Time bool
	// Resource says it is an attribute of the resource, which every span
	// of a run carries; else the spans named in Spans carry it (on their
	// Event, when set). No span: it is reserved, and no run sets it yet.
	Resource bool
	Spans    []string
	Event    string
	// Semconv says it is a key of the semantic conventions 1.37, which
	// Axiom keeps in a column of its own; Stable, that its stability there
	// is stable: an attribute of development stability may move between
	// that column and the custom map as Axiom's mapping changes, so
	// queries read it in both places.
	Semconv bool
	Stable  bool
	// Note says what the command puts in a semantic convention, whose
	// meaning is the convention's. The doc comments of this package's
	// constants say what the command's own attributes mean.
	Note string
}

// The spans that carry a deploy; what discovery found; what changed (the
// diff works it out).
var (
	deploySpans    = []string{SpanRun, SpanDeliver}
	discoverySpans = []string{SpanRun, SpanDiscover, SpanDeliver}
	changeSpans    = []string{SpanRun, SpanDeliver, SpanDiff}
)

// Attributes are the attributes the command sets, semantic conventions
// first. The dashboard's, the fleet view's and the monitors' queries read
// only these.
var Attributes = []Attribute{
	{Key: semconv.ServiceNameKey, Type: attribute.STRING, Resource: true, Semconv: true, Stable: true, Note: "`axiom-deploy-annotation`, unless `OTEL_SERVICE_NAME` says otherwise"},
	{Key: semconv.ServiceVersionKey, Type: attribute.STRING, Resource: true, Semconv: true, Stable: true, Note: "the command's version"},
	{Key: semconv.HostNameKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "the host (`--hostname`, else the short host name)"},
	{Key: semconv.HostIDKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "the machine id, where readable"},
	{Key: semconv.HostArchKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "`amd64`, `arm64`, …"},
	{Key: semconv.OSTypeKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "`linux`, `darwin`"},
	{Key: semconv.OSNameKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "`NixOS`, `macOS`"},
	{Key: semconv.OSVersionKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "os-release's `VERSION_ID`, macOS's product version"},
	{Key: semconv.DeploymentEnvironmentNameKey, Type: attribute.STRING, Resource: true, Semconv: true, Note: "`--environment`, where given"},

	{Key: semconv.HostNameKey, Type: attribute.STRING, Spans: discoverySpans, Semconv: true, Note: "the host deployed"},
	{Key: semconv.UserNameKey, Type: attribute.STRING, Spans: discoverySpans, Semconv: true, Note: "the user whose Home Manager generation is deployed (`nix.scope` `home-manager` only)"},
	{Key: semconv.DeploymentIDKey, Type: attribute.STRING, Spans: []string{SpanRun, SpanDeliver, SpanRollout}, Semconv: true, Note: "one deploy of one host: the same at its record and every delivery; on a flush, what the host runs"},
	{Key: semconv.DeploymentNameKey, Type: attribute.STRING, Spans: []string{SpanRun, SpanDeliver, SpanRollout}, Semconv: true, Note: "`web-1 gen 42`; a rollout's title"},
	{Key: semconv.DeploymentStatusKey, Type: attribute.STRING, Spans: deploySpans, Semconv: true, Note: "NixOS: `failed` when the switch left units failed that were not before, `succeeded` when not; unset when unknown (`deploy.health`)"},
	{Key: semconv.VCSRefHeadRevisionKey, Type: attribute.STRING, Spans: []string{SpanRun, SpanDiscover, SpanDeliver, SpanRollout}, Semconv: true, Note: "the configuration's revision, without `-dirty`"},
	{Key: semconv.VCSRepositoryURLFullKey, Type: attribute.STRING, Spans: []string{SpanRun, SpanDiscover, SpanDeliver, SpanRollout}, Semconv: true, Note: "`--repository-url`"},
	{Key: semconv.ProcessExitCodeKey, Type: attribute.INT64, Spans: []string{SpanRollout}, Semconv: true, Note: "the rollout command's exit status"},

	{Key: DeployMode, Type: attribute.STRING, Spans: []string{SpanRun, SpanRollout}},
	{Key: DeployOutcome, Type: attribute.STRING, Spans: []string{SpanRun, SpanDeliver, SpanRollout}},
	{Key: DeployDryRun, Type: attribute.BOOL, Spans: []string{SpanRun}},
	{Key: DeployForce, Type: attribute.BOOL, Spans: []string{SpanRun}},
	{Key: DeploySpooled, Type: attribute.INT64, Spans: []string{SpanRun}},
	{Key: DeployTime, Type: attribute.STRING, Time: true, Spans: deploySpans},
	{Key: DeployDirty, Type: attribute.BOOL, Spans: []string{SpanRun, SpanDiscover, SpanDeliver, SpanRollout}},
	{Key: DeployCommand, Type: attribute.STRING, Spans: []string{SpanRollout}},
	{Key: DeployResult, Type: attribute.STRING, Spans: []string{SpanRollout}},
	{Key: DeployFailedUnits, Type: attribute.STRING, Spans: deploySpans},
	{Key: DeployAlreadyFailedUnits, Type: attribute.STRING, Spans: deploySpans},
	{Key: DeployHealth, Type: attribute.STRING, Spans: deploySpans},
	{Key: DeployCommitTime, Type: attribute.STRING, Time: true, Spans: []string{SpanRun, SpanDeliver, SpanRollout}},
	{Key: DeployLeadTime, Type: attribute.FLOAT64, Spans: []string{SpanRun, SpanDeliver, SpanRollout}},
	{Key: DeployTimeToRestore, Type: attribute.FLOAT64, Spans: deploySpans},

	{Key: NixStorePath, Type: attribute.STRING, Spans: []string{SpanRun, SpanDiscover, SpanDeliver, SpanDiff}},
	{Key: NixGeneration, Type: attribute.INT64, Spans: discoverySpans},
	{Key: NixScope, Type: attribute.STRING, Spans: discoverySpans},
	{Key: NixPlatform, Type: attribute.STRING, Spans: discoverySpans},
	{Key: NixLabel, Type: attribute.STRING, Spans: discoverySpans},
	{Key: NixPreviousStorePath, Type: attribute.STRING, Spans: []string{SpanRun, SpanDiscover, SpanDeliver, SpanDiff}},
	{Key: NixRollback, Type: attribute.BOOL, Spans: discoverySpans},
	{Key: NixTestActivation, Type: attribute.BOOL, Spans: discoverySpans},
	{Key: NixChangesCount, Type: attribute.INT64, Spans: changeSpans},
	{Key: NixChangesUpgrades, Type: attribute.INT64, Spans: changeSpans},
	{Key: NixChangesDowngrades, Type: attribute.INT64, Spans: changeSpans},
	{Key: NixChangesAdded, Type: attribute.INT64, Spans: changeSpans},
	{Key: NixChangesRemoved, Type: attribute.INT64, Spans: changeSpans},
	{Key: NixChangesEventsDropped, Type: attribute.INT64, Spans: []string{SpanDiff}},
	{Key: NixClosureSizeBefore, Type: attribute.INT64, Spans: changeSpans},
	{Key: NixClosureSizeAfter, Type: attribute.INT64, Spans: changeSpans},

	{Key: AxiomAnnotationID, Type: attribute.STRING, Spans: []string{SpanRun, SpanDeliver, SpanRollout}},
	{Key: AxiomAnnotationTitle, Type: attribute.STRING, Spans: deploySpans},
	{Key: AxiomAnnotationAttempts, Type: attribute.INT64, Spans: []string{SpanDeliver}},
	{Key: AxiomAnnotationFound, Type: attribute.BOOL, Spans: []string{SpanDeliver}},

	{Key: PackageName, Type: attribute.STRING, Spans: []string{SpanDiff}, Event: EventPackageChange},
	{Key: PackageBefore, Type: attribute.STRINGSLICE, Spans: []string{SpanDiff}, Event: EventPackageChange},
	{Key: PackageAfter, Type: attribute.STRINGSLICE, Spans: []string{SpanDiff}, Event: EventPackageChange},
	{Key: PackageChange, Type: attribute.STRING, Spans: []string{SpanDiff}, Event: EventPackageChange},
}

// Beside are the keys of the semantic conventions that the spans beside
// ours carry: otelhttp's HTTP client spans and the Axiom SDK's spans, and
// the exceptions recorded on them. Axiom keeps each in a column of its own.
var Beside = []attribute.Key{
	semconv.TelemetrySDKNameKey, semconv.TelemetrySDKLanguageKey, semconv.TelemetrySDKVersionKey,
	semconv.HTTPRequestMethodKey, semconv.HTTPResponseStatusCodeKey,
	semconv.HTTPRequestBodySizeKey, semconv.HTTPResponseBodySizeKey,
	semconv.URLFullKey, semconv.URLSchemeKey, semconv.ServerAddressKey, semconv.ServerPortKey,
	semconv.NetworkProtocolVersionKey, semconv.NetworkPeerAddressKey, semconv.NetworkPeerPortKey,
	semconv.UserAgentOriginalKey, semconv.ErrorTypeKey,
	semconv.ExceptionMessageKey, semconv.ExceptionTypeKey,
}

// Lookup is the attribute of the resource (resource true) or of a span with
// this key; ok is false when the command sets none.
func Lookup(key attribute.Key, resource bool) (a Attribute, ok bool) {
	for _, a := range Attributes {
		if a.Key == key && a.Resource == resource && a.Event == "" {
			return a, true
		}
	}
	return Attribute{}, false
}
