package wsgate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// fuzzClaims gives checkJSONObject a shape with names at several depths.
type fuzzClaims struct {
	jwt.RegisteredClaims
	Role  string `json:"role"`
	Plan  string
	Inner struct {
		Name string `json:"name"`
	} `json:"inner"`
	List []struct {
		ID string `json:"id"`
	} `json:"list"`
	Any map[string]any `json:"any"`
}

// referenceCheck is checkJSONObject written plainly on encoding/json's
// tokenizer: it reports whether data, valid JSON, holds a duplicate name
// in some object or a name that encoding/json would fold onto a field of
// shape it does not spell exactly.
func referenceCheck(t *testing.T, data []byte, shape *jsonShape) (problem bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object bool
		shape  *jsonShape
		names  map[string]bool
		name   string
		inName bool
	}
	var stack []frame
	push := func(tok json.Token, s *jsonShape) {
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, shape: s, names: map[string]bool{}, inName: true})
		case json.Delim('['):
			stack = append(stack, frame{shape: s})
		}
	}
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("valid JSON, but: %v", err)
	}
	push(tok, shape)
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("valid JSON, but: %v", err)
		}
		f := &stack[len(stack)-1]
		if tok == json.Delim('}') || tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if f.object && f.inName {
			name := tok.(string)
			if f.names[name] {
				problem = true
			}
			f.names[name] = true
			if f.shape != nil && f.shape.fields != nil {
				if _, exact := f.shape.fields[name]; !exact {
					for known := range f.shape.fields {
						if strings.EqualFold(known, name) {
							problem = true
						}
					}
				}
			}
			f.name, f.inName = name, false
			continue
		}
		var child *jsonShape
		if f.object {
			child = f.shape.child(f.name)
			f.inName = true
		} else {
			child = f.shape.elements()
		}
		push(tok, child)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("valid JSON, but data after it: %v", err)
	}
	return problem
}

func FuzzCheckJSONObject(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"sub":"a"}`, `{"sub":"a","SUB":"b"}`, `{"ſub":1}`, `{"\u0073ub":1,"sub":2}`,
		`{"role":1,"Role":2}`, `{"plan":1}`, `{"Plan":1}`, `{"inner":{"name":1,"NAME":2}}`,
		`{"list":[{"id":1},{"Id":2}]}`, `{"any":{"a":1,"a":2}}`, `{"any":{"a":1,"A":2}}`,
		`{"a":[1,{"b":[{"c":1,"c":2}]}]}`, `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`,
		`{"exp":1e300}`, `{"exp":"1"}`, `{"k\u212a":1}`, "{\"s\xffb\":1,\"s\xfeb\":2}", `{"a" : [ ] , "b" : { } }`,
		`[]`, `{"a":1}x`, `{"a":}`, `{"a":1,}`, `{"a":"\"}"}`,
	} {
		f.Add([]byte(seed))
	}
	shape := claimsShape(reflect.TypeFor[fuzzClaims]())
	f.Fuzz(func(t *testing.T, data []byte) {
		var tops []string
		err := checkJSONObject(data, shape, func(name string, v jsonValue) error {
			tops = append(tops, name)
			return nil
		})
		var top map[string]json.RawMessage
		if !json.Valid(data) || json.Unmarshal(data, &top) != nil {
			return // encoding/json refuses it whatever checkJSONObject said
		}
		problem := referenceCheck(t, data, shape)
		switch {
		case problem && err == nil:
			t.Fatalf("%q: accepted; the reference finds a duplicate or misspelt name", data)
		case !problem && err != nil:
			t.Fatalf("%q: refused (%v); the reference finds nothing wrong", data, err)
		case err != nil && !errors.Is(err, errDuplicateName) && !errors.Is(err, errNameCase):
			t.Fatalf("%q: valid JSON refused as %v", data, err)
		case err == nil && len(tops) != len(top):
			t.Fatalf("%q: top called for %q, want each of %d members", data, tops, len(top))
		}
	})
}

func FuzzFoldName(f *testing.F) {
	f.Add("sub", "SUB")
	f.Add("sub", "ſub")
	f.Add("kid", "\u212aid")
	f.Add("İat", "iat")
	f.Add("s\xffb", "s\xfeb")
	shape := claimsShape(reflect.TypeFor[fuzzClaims]())
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := foldName(a) == foldName(b), strings.EqualFold(a, b); got != want {
			t.Fatalf("foldName(%q) == foldName(%q) is %v, strings.EqualFold %v", a, b, got, want)
		}
		_, exact := shape.fields[a]
		if got, want := shape.misspells(a), !exact && shape.folded[foldName(a)]; got != want {
			t.Fatalf("misspells(%q) = %v, want %v", a, got, want)
		}
	})
}
