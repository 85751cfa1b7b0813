package vocab

import semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

// ScopeAPL is the APL expression for whose deploy a span speaks of, as
// nix.scope says it: spans from before the key was set are the system's.
func ScopeAPL() string {
	s := APL(NixScope)
	return "iff(isempty(" + s + "), " + Quote(ScopeSystem) + ", " + s + ")"
}

// DeployerAPL is the APL expression for whose deploys a span speaks of:
// its host, or "alice@laptop (hm)" for a user's Home Manager generations
// there. Queries that group by it never let a host's Home Manager deploys
// stand for, or hide, its system's.
func DeployerAPL() string {
	host := ResourceAPL(semconv.HostNameKey)
	return "iff(" + APL(NixScope) + " == " + Quote(ScopeHomeManager) + ", strcat(" + APL(semconv.UserNameKey) + ", '@', " + host + ", ' (hm)'), " + host + ")"
}
