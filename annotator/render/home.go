package render

import (
	"github.com/bdsqqq/axiom-deploy-annotation/internal/text"
	"github.com/bdsqqq/axiom-deploy-annotation/nixinfo"
)

// A user's Home Manager generation is told apart from its host's system
// wherever a deploy is named: "alice@laptop hm gen 12 (abc1234)" beside
// "laptop gen 42 (abc1234)".

// homeManager says whether g is a user's Home Manager generation.
func homeManager(g *nixinfo.Generation) bool {
	return g.DeployScope() == nixinfo.HomeManager
}

// Who is whose deploy it is: the host, or the user at the host whose Home
// Manager generation it is.
func Who(g *nixinfo.Generation) string {
	if homeManager(g) {
		return g.User + "@" + g.Hostname
	}
	return g.Hostname
}

// deployer is how a title names whose deploy it is: "web-1", or
// "alice@laptop hm".
func deployer(g *nixinfo.Generation) string {
	w := text.Truncate(text.Line(Who(g)), maxField)
	if homeManager(g) {
		w += " hm"
	}
	return w
}

// subject is how a description names whose deploy it is: "web-1", or
// "alice@laptop Home Manager".
func subject(g *nixinfo.Generation) string {
	w := text.Truncate(text.Line(Who(g)), maxField)
	if homeManager(g) {
		w += " Home Manager"
	}
	return w
}

// platformName names what the label is the version of.
func platformName(g *nixinfo.Generation) string {
	switch {
	case homeManager(g):
		return "Home Manager"
	case g.Platform == nixinfo.Darwin:
		return "nix-darwin"
	}
	return "NixOS"
}

// storePathLabel names the store path a description gives.
func storePathLabel(g *nixinfo.Generation) string {
	if homeManager(g) {
		return "Generation"
	}
	return "System"
}
