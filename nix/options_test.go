package nix_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/reference"
)

// optionDoc is one option as nix/tests/eval.nix lists it with docs = true.
type optionDoc struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Description string   `json:"description"`
	Visible     bool     `json:"visible"`
	ReadOnly    bool     `json:"readOnly"`
	Default     *literal `json:"default"`
	Example     *literal `json:"example"`
}

// literal is a default or an example: a plain value, or the text of a
// lib.literalExpression or lib.literalMD.
type literal struct {
	Type  string `json:"_type"`
	Text  string `json:"text"`
	Value any    `json:"value"`
}

// platform is a module the reference describes, as eval.nix names it and
// as the reference does.
type platform struct{ arg, label string }

var optionPlatforms = []platform{{"nixos", "NixOS"}, {"darwin", "nix-darwin"}, {"home-manager", "Home Manager"}}

// TestModuleOptionsNix keeps docs/module-options.md what the modules
// declare: every option of the NixOS, nix-darwin and Home Manager modules
// with its type, default, example and description, as their evaluation
// gives them, and the renamed options.
func TestModuleOptionsNix(t *testing.T) {
	docs := map[string][]optionDoc{}
	for _, p := range optionPlatforms {
		var list []optionDoc
		evalModule(t, p.arg, nil, &list, "--arg", "docs", "true")
		docs[p.label] = list
	}
	options, renamed := renderOptions(t, docs)
	file := reference.File(t, "docs/module-options.md")
	reference.Check(t, file, "module-options", options)
	reference.Check(t, file, "renamed-options", renamed)
}

// Options that differ between platforms say how, each under the platforms
// it holds for; one that some lack says where it is.
func TestRenderOptionsByPlatform(t *testing.T) {
	value := func(v any) *literal { return &literal{Type: "value", Value: v} }
	common := optionDoc{Name: "o.shared", Type: "boolean", Description: "Shared.", Visible: true, Default: value(true)}
	differs := optionDoc{Name: "o.file", Type: "string", Description: "A file.", Visible: true, Default: value("/run/x")}
	onlyHome := optionDoc{Name: "o.revision", Type: "null or string", Description: "A revision.", Visible: true, Default: value(nil)}
	alias := optionDoc{Name: "o.old", Type: "unspecified value", Description: "Alias of {option}`o.file`."}
	home := differs
	home.Default = &literal{Type: "literalExpression", Text: `"${config.xdg.configHome}/x"`}
	options, renamed := renderOptions(t, map[string][]optionDoc{
		"NixOS":        {common, differs, alias},
		"nix-darwin":   {common, differs, alias},
		"Home Manager": {common, home, onlyHome},
	})
	for _, want := range []string{
		"### `o.shared`\n\nShared.\n\n- Type: `boolean`\n- Default: `true`\n",
		"- Default: `\"/run/x\"` (NixOS, nix-darwin); `\"${config.xdg.configHome}/x\"` (Home Manager)\n",
		"### `o.revision`\n\nHome Manager only.\n\nA revision.\n",
	} {
		if !strings.Contains(options, want) {
			t.Errorf("the reference lacks %q:\n%s", want, options)
		}
	}
	if want := "| `o.old` | `o.file` | NixOS, nix-darwin |\n"; !strings.Contains(renamed, want) {
		t.Errorf("renamed options lack %q:\n%s", want, renamed)
	}
}

// renderOptions is the reference of the visible options, and the table of
// the renamed ones, of each platform's option list.
func renderOptions(t *testing.T, docs map[string][]optionDoc) (options, renamed string) {
	t.Helper()
	byName := map[string]map[string]optionDoc{}
	for label, list := range docs {
		for _, o := range list {
			if byName[o.Name] == nil {
				byName[o.Name] = map[string]optionDoc{}
			}
			byName[o.Name][label] = o
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)

	var b, r strings.Builder
	r.WriteString("| option | now | on |\n| --- | --- | --- |\n")
	for _, name := range names {
		of := byName[name]
		labels := platformsOf(of)
		first := of[labels[0]]
		if !first.Visible {
			target := aliasOf.FindStringSubmatch(first.Description)
			if target == nil {
				t.Fatalf("%s is hidden but no renamed option: %q", name, first.Description)
			}
			fmt.Fprintf(&r, "| `%s` | `%s` | %s |\n", name, target[1], strings.Join(labels, ", "))
			continue
		}
		fmt.Fprintf(&b, "### `%s`\n\n", name)
		if len(labels) < len(optionPlatforms) {
			fmt.Fprintf(&b, "%s only.\n\n", strings.Join(labels, ", "))
		}
		descriptions := grouped(of, labels, func(o optionDoc) string { return markdown(o.Description) })
		for _, g := range descriptions {
			if len(descriptions) > 1 {
				fmt.Fprintf(&b, "**%s:** ", strings.Join(g.labels, ", "))
			}
			b.WriteString(g.text + "\n\n")
		}
		field := func(title string, f func(o optionDoc) string) {
			gs := grouped(of, labels, f)
			if len(gs) == 1 && gs[0].text == "" {
				return
			}
			parts := make([]string, len(gs))
			for i, g := range gs {
				parts[i] = g.text
				if len(gs) > 1 {
					parts[i] = cmpOr(g.text, "none") + " (" + strings.Join(g.labels, ", ") + ")"
				}
			}
			fmt.Fprintf(&b, "- %s: %s\n", title, strings.Join(parts, "; "))
		}
		field("Type", func(o optionDoc) string { return "`" + o.Type + "`" })
		field("Default", func(o optionDoc) string { return renderLiteral(t, o.Default) })
		field("Example", func(o optionDoc) string { return renderLiteral(t, o.Example) })
		field("Read only", func(o optionDoc) string {
			if o.ReadOnly {
				return "yes"
			}
			return ""
		})
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n"), r.String()
}

var aliasOf = regexp.MustCompile("^Alias of \\{option\\}`([^`]+)`\\.$")

func cmpOr(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// platformsOf are the platforms, in the reference's order, that have an
// option.
func platformsOf(of map[string]optionDoc) []string {
	var labels []string
	for _, p := range optionPlatforms {
		if _, ok := of[p.label]; ok {
			labels = append(labels, p.label)
		}
	}
	return labels
}

type group struct {
	text   string
	labels []string
}

// grouped is what f says of an option on each platform, the platforms that
// agree together, in the reference's order.
func grouped(of map[string]optionDoc, labels []string, f func(optionDoc) string) []group {
	var gs []group
	for _, l := range labels {
		text := f(of[l])
		i := slices.IndexFunc(gs, func(g group) bool { return g.text == text })
		if i < 0 {
			gs = append(gs, group{text: text})
			i = len(gs) - 1
		}
		gs[i].labels = append(gs[i].labels, l)
	}
	return gs
}

var optionRole = regexp.MustCompile("\\{option\\}(`[^`]+`)")

// markdown is a description as plain markdown: nixpkgs' {option} role is
// the option's name in code.
func markdown(s string) string {
	return strings.TrimSpace(optionRole.ReplaceAllString(s, "$1"))
}

// renderLiteral is a default or example as the manual shows it: a Nix
// expression in code, or markdown.
func renderLiteral(t *testing.T, l *literal) string {
	t.Helper()
	if l == nil {
		return ""
	}
	switch l.Type {
	case "literalMD":
		return markdown(l.Text)
	case "literalExpression":
		return "`" + l.Text + "`"
	case "value":
		return "`" + nixValue(t, l.Value) + "`"
	}
	t.Fatalf("unknown literal %q", l.Type)
	return ""
}

// nixValue writes a JSON value as a Nix expression.
func nixValue(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return "null"
	case bool, float64, json.Number:
		return fmt.Sprint(v)
	case string:
		return nixString(v)
	case []any:
		var b bytes.Buffer
		b.WriteString("[ ")
		for _, e := range v {
			b.WriteString(nixValue(t, e) + " ")
		}
		return b.String() + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b bytes.Buffer
		b.WriteString("{ ")
		for _, k := range keys {
			if !nixIdentifier.MatchString(k) {
				k = nixString(k)
			}
			fmt.Fprintf(&b, "%s = %s; ", k, nixValue(t, v[k]))
		}
		return b.String() + "}"
	}
	t.Fatalf("no Nix expression for %T", v)
	return ""
}

var nixIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "${", `\${`)
	return `"` + r.Replace(s) + `"`
}
