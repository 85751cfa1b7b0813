package dashboard

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bdsqqq/axiom-deploy-annotation/internal/axiomcols"
	"github.com/bdsqqq/axiom-deploy-annotation/telemetry/vocab"
)

// Field is a field of an OpenTelemetry traces dataset as an APL query
// names it: a column such as _time, ['status.message'],
// ['attributes.vcs.ref.head.revision'] or ['resource.host.name'], or a key
// of a map column, ['attributes.custom']['nix.generation'].
type Field = vocab.Place

// spanAttribute is where Axiom keeps a span attribute.
func spanAttribute(key string) Field { return vocab.SpanPlace(key) }

// resourceAttribute is where Axiom keeps a resource attribute.
func resourceAttribute(key string) Field { return vocab.ResourcePlace(key) }

// Carried is the set of fields that spans carry, as Axiom stores them.
type Carried map[Field]bool

// Carry is what spans with these resource and span attribute keys give a
// traces dataset: the columns spans have, and each attribute where Axiom
// puts it.
func Carry(resourceKeys, spanKeys []string) Carried {
	c := Carried{}
	for col := range axiomcols.Fixed {
		c[Field{Column: col}] = true
	}
	for col := range axiomcols.Optional {
		c[Field{Column: col}] = true
	}
	for _, k := range resourceKeys {
		c[resourceAttribute(k)] = true
	}
	for _, k := range spanKeys {
		f := spanAttribute(k)
		c[f] = true
		if f.Key != "" {
			c[Field{Column: f.Column}] = true
		}
	}
	return c
}

// attribute is the attribute a field stands for, and whether it is a
// resource attribute; ok is false for a plain column.
func attribute(f Field) (key string, resource, ok bool) {
	switch {
	case f.Column == "attributes.custom" && f.Key != "":
		return f.Key, false, true
	case f.Column == "resource.custom" && f.Key != "":
		return f.Key, true, true
	case strings.HasPrefix(f.Column, "resource.custom."):
		return strings.TrimPrefix(f.Column, "resource.custom."), true, true
	case strings.HasPrefix(f.Column, "attributes.") && f.Column != "attributes.custom":
		return strings.TrimPrefix(f.Column, "attributes."), false, true
	case strings.HasPrefix(f.Column, "resource.") && f.Column != "resource.custom":
		return strings.TrimPrefix(f.Column, "resource."), true, true
	}
	return "", false, false
}

// Check lists what an APL query reads that the spans do not carry, one
// line each; for an attribute queried in the wrong place it says where
// Axiom keeps it. Reading an attribute in the place Axiom keeps it and in
// another as well (where one of development stability may land) is right.
func (c Carried) Check(apl string) []string {
	var bad []string
	refs := fieldRefs(apl)
	for _, f := range refs {
		if c[f] {
			continue
		}
		key, resource, ok := attribute(f)
		if ok && fallback(c, refs, key, resource) {
			continue
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: no span has this column", f))
			continue
		}
		want := spanAttribute(key)
		if resource {
			want = resourceAttribute(key)
		}
		switch {
		case want != f && c[want]:
			bad = append(bad, fmt.Sprintf("%s: Axiom keeps %s in %s", f, key, want))
		case want != f:
			bad = append(bad, fmt.Sprintf("%s: Axiom would keep %s in %s, and no span carries it", f, key, want))
		default:
			bad = append(bad, fmt.Sprintf("%s: no span carries %s", f, key))
		}
	}
	return bad
}

// fallback says whether an attribute the spans do not carry where it is
// read is one the query also reads where the spans carry it.
func fallback(c Carried, refs []Field, key string, resource bool) bool {
	want := spanAttribute(key)
	if resource {
		want = resourceAttribute(key)
	}
	return c[want] && slices.Contains(refs, want)
}

// fieldRefs parses the fields an APL query reads: bracketed names with
// their map keys (['attributes.custom']['nix.generation']), columns named
// to column_ifexists('name', …), and bare columns (_time, duration, name). It leaves out the dataset a query
// starts from, names the query defines (x = …, let x = …), functions,
// operators and literals.
func fieldRefs(apl string) []Field {
	toks := lex(apl)
	defined := map[string]bool{}
	afterJoin := func(i int) bool {
		return i > 0 && toks[i-1].kind == tIdent && (toks[i-1].text == "join" || toks[i-1].text == "lookup")
	}
	for i, t := range toks {
		if t.kind == tIdent && i+1 < len(toks) && toks[i+1].is("=") && !afterJoin(i) {
			defined[t.text] = true
		}
	}
	var out []Field
	add := func(f Field) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	table := true // the next bracketed name is a dataset
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func(s string) bool { return i+1 < len(toks) && toks[i+1].is(s) }
		switch t.kind {
		case tBracket:
			if table {
				table = false
				continue
			}
			f := Field{Column: t.text}
			if i+1 < len(toks) && toks[i+1].kind == tSubscript {
				f.Key = toks[i+1].text
				for i+1 < len(toks) && toks[i+1].kind == tSubscript {
					i++
				}
			}
			add(f)
		case tIdent:
			lw := strings.ToLower(t.text)
			switch {
			case lw == "column_ifexists" && next("(") && i+2 < len(toks) && toks[i+2].kind == tString:
				add(Field{Column: toks[i+2].text})
				i += 2
				continue
			case lw == "union" || lw == "join" || lw == "lookup":
				table = true
				continue
			case lw == "in" && next("(") && i+2 < len(toks) && toks[i+2].kind == tBracket:
				// A subquery: in (['ds'] | …).
				table = true
				i++
				continue
			case lw == "let" || afterJoin(i) || joinKinds[lw] && i > 1 && afterJoin(i-2) || i > 0 && toks[i-1].kind == tIdent && toks[i-1].text == "let":
				continue
			case keywords[lw] || next("(") || defined[t.text] || i > 0 && (toks[i-1].is("|") || toks[i-1].is("-")):
			default:
				add(Field{Column: t.text})
			}
		case tPunct:
			if t.is(";") {
				table = true
				continue
			}
			if t.is("=") || t.is("(") {
				continue
			}
		}
		table = false
	}
	return out
}

var keywords = map[string]bool{}

var joinKinds = map[string]bool{"inner": true, "innerunique": true, "leftouter": true}

func init() {
	for _, k := range strings.Fields(`let set where filter summarize extend project project-away project-keep project-rename
		project-reorder away keep rename reorder valid order sort by asc desc nulls first last take limit top count distinct
		union join lookup on inner innerunique leftouter with as and or not in has has_any has_all has_cs contains
		contains_cs notcontains startswith startswith_cs endswith endswith_cs matches regex between true false null
		mv expand make series from to step search parse getschema sample`) {
		keywords[k] = true
	}
}

type tokKind int

const (
	tIdent     tokKind = iota
	tBracket           // ['name'] where a name can stand
	tSubscript         // ['key'] after a name: a map key
	tString
	tNumber
	tPunct
)

type token struct {
	kind tokKind
	text string
}

func (t token) is(p string) bool { return t.kind == tPunct && t.text == p }

// lex splits APL into tokens: identifiers, bracketed names (a subscript
// when it follows a name, a closing bracket or parenthesis), strings,
// numbers and timespans, and punctuation. Comments are dropped.
func lex(s string) []token {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '\'' || c == '"':
			str, n := quoted(s[i:])
			toks = append(toks, token{tString, str})
			i += n
		case c == '@' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"'):
			end := strings.IndexByte(s[i+2:], s[i+1])
			if end < 0 {
				end = len(s) - i - 2
			}
			toks = append(toks, token{tString, s[i+2 : i+2+end]})
			i += end + 3
		case c == '[':
			j := i + 1
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j < len(s) && (s[j] == '\'' || s[j] == '"') {
				str, n := quoted(s[j:])
				k := j + n
				for k < len(s) && s[k] == ' ' {
					k++
				}
				if k < len(s) && s[k] == ']' {
					kind := tBracket
					if len(toks) > 0 {
						p := toks[len(toks)-1]
						if p.kind == tBracket || p.kind == tSubscript || p.is(")") || p.is("]") || p.kind == tIdent && !keywords[strings.ToLower(p.text)] {
							kind = tSubscript
						}
					}
					toks = append(toks, token{kind, str})
					i = k + 1
					continue
				}
			}
			toks = append(toks, token{tPunct, "["})
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{tIdent, s[i:j]})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] == '.' || s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{tNumber, s[i:j]})
			i = j
		default:
			p := string(c)
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "==", "!=", "<=", ">=", "=~", "!~":
					p = two
				}
			}
			toks = append(toks, token{tPunct, p})
			i += len(p)
		}
	}
	return toks
}

// quoted reads a string literal at the start of s: its text and length.
func quoted(s string) (string, int) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case q:
			return b.String(), i + 1
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), len(s)
}
