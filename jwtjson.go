package wsgate

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The JWT verifier reads a token's header and claims JSON once itself
// before golang-jwt decodes them with encoding/json, which matches names
// without regard to case and keeps the last of duplicate names. This file
// holds that reading: the names a claims type decodes (jsonShape) and a
// scan of a JSON object that refuses duplicate names and names that differ
// only in case from a known one (checkJSONObject).

// Causes of refusals found by checkJSONObject, kept for logs.
var (
	errNotJSONObject = fmt.Errorf("%w: not a JSON object", jwt.ErrTokenMalformed)
	errBadJSON       = fmt.Errorf("%w: malformed JSON", jwt.ErrTokenMalformed)
	errDuplicateName = fmt.Errorf("%w: a name appears twice in one JSON object", jwt.ErrTokenMalformed)
	errNameCase      = fmt.Errorf("%w: a name differs only in case from a known claim", jwt.ErrTokenMalformed)
)

// jsonShape is what encoding/json decodes a JSON value into, as far as the
// names of objects go: the fields of a struct, or the shape of the
// elements of a slice, array or map. A nil *jsonShape is a value whose
// names are not checked beyond duplicates (any, a type with its own
// UnmarshalJSON, a scalar).
type jsonShape struct {
	fields map[string]*jsonShape // a struct's JSON names, exactly as spelt
	folded map[string]bool       // foldName of every name in fields
	elem   *jsonShape            // a slice's, array's or map's elements
}

// child returns the shape of the value of the member name of an object of
// shape s.
func (s *jsonShape) child(name string) *jsonShape {
	if s == nil {
		return nil
	}
	if c, ok := s.fields[name]; ok {
		return c
	}
	return s.elem
}

// elements returns the shape of the elements of an array of shape s.
func (s *jsonShape) elements() *jsonShape {
	if s == nil {
		return nil
	}
	return s.elem
}

// misspells reports whether name is not one of s's field names but equals
// one without regard to case: encoding/json would decode it into that
// field.
func (s *jsonShape) misspells(name string) bool {
	if s == nil || s.fields == nil {
		return false
	}
	if _, exact := s.fields[name]; exact {
		return false
	}
	// ASCII names, nearly all of them, fold without allocating: their
	// fold key is their upper case (see foldName).
	var buf [64]byte
	if len(name) <= len(buf) {
		b := buf[:len(name)]
		for i := range len(name) {
			c := name[i]
			if c >= utf8.RuneSelf {
				return s.folded[foldName(name)]
			}
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b[i] = c
		}
		return s.folded[string(b)]
	}
	return s.folded[foldName(name)]
}

// addField records name unless the shape has it already.
func (s *jsonShape) addField(name string, c *jsonShape) {
	if s.fields == nil {
		s.fields, s.folded = map[string]*jsonShape{}, map[string]bool{}
	}
	if _, ok := s.fields[name]; !ok {
		s.fields[name] = c
		s.folded[foldName(name)] = true
	}
}

// registeredClaims are RFC 7519's registered claim names; their spelling is
// checked whatever the claims type holds.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// claimsShape returns the shape of the claims type t, with the registered
// claim names among its top-level names.
func claimsShape(t reflect.Type) *jsonShape {
	s := shapeOf(t, map[reflect.Type]*jsonShape{})
	if s == nil || s.fields == nil {
		s = &jsonShape{elem: s.elements()}
	}
	for _, name := range registeredClaims {
		s.addField(name, s.child(name))
	}
	return s
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// shapeOf returns the shape encoding/json gives t, following its rules for
// field names: the tag's name, or the field's; "-" skipped; unexported
// fields skipped; untagged embedded structs flattened. A type that decodes
// itself (json.Unmarshaler, encoding.TextUnmarshaler) has no shape.
func shapeOf(t reflect.Type, seen map[reflect.Type]*jsonShape) *jsonShape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if pt := reflect.PointerTo(t); pt.Implements(jsonUnmarshalerType) || pt.Implements(textUnmarshalerType) {
		return nil
	}
	if s, ok := seen[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &jsonShape{}
		seen[t] = s // before the fields, for recursive types
		addStructFields(s, t, seen, map[reflect.Type]bool{})
		return s
	case reflect.Slice, reflect.Array, reflect.Map:
		if elem := shapeOf(t.Elem(), seen); elem != nil {
			return &jsonShape{elem: elem}
		}
	}
	return nil
}

func addStructFields(s *jsonShape, t reflect.Type, seen map[reflect.Type]*jsonShape, flattening map[reflect.Type]bool) {
	if flattening[t] {
		return
	}
	flattening[t] = true
	defer delete(flattening, t)
	for i := range t.NumField() {
		sf := t.Field(i)
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous {
			if !sf.IsExported() && ft.Kind() != reflect.Struct {
				continue
			}
		} else if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if !validJSONTagName(name) {
			name = ""
		}
		if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
			addStructFields(s, ft, seen, flattening)
			continue
		}
		if name == "" {
			name = sf.Name
		}
		s.addField(name, shapeOf(sf.Type, seen))
	}
}

// validJSONTagName reports whether encoding/json uses name from a tag.
func validJSONTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// foldName maps name to a key shared by exactly the names strings.EqualFold
// calls equal, the classes encoding/json uses to match names to fields:
// every rune becomes the smallest rune of its case-folding orbit (for ASCII
// letters, the upper case).
func foldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the smallest rune of r's case-folding orbit. SimpleFold
// climbs the orbit and wraps around to its smallest rune.
func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}

// jsonValue is the start of a JSON value as checkJSONObject sees it: its
// first byte, and for a string, number or literal its text.
type jsonValue struct {
	kind byte   // '{', '[', '"', or the first byte of a number or literal
	text string // a number's or literal's text; a string's, quotes included
	// changes reports whether decoding the string changes its text (an
	// escape, or a byte that is not printable ASCII).
	changes bool
}

// isNumber reports whether v is a JSON number.
func (v jsonValue) isNumber() bool {
	return v.kind == '-' || '0' <= v.kind && v.kind <= '9'
}

// str returns the string v holds as encoding/json decodes it, and false
// when v is not a string (or not a valid one).
func (v jsonValue) str() (string, bool) {
	if v.kind != '"' || len(v.text) < 2 {
		return "", false
	}
	if !v.changes {
		return v.text[1 : len(v.text)-1], true
	}
	var s string
	if json.Unmarshal([]byte(v.text), &s) != nil {
		return "", false
	}
	return s, true
}

// maxLinearNames is how many names of one object are compared one by one
// for duplicates before a set takes over.
const maxLinearNames = 16

// checkJSONObject reads data as exactly one JSON object and refuses a name
// present twice in any object within it, and a name that differs from a
// field of the object's shape only in case. Names are compared as
// encoding/json decodes them (escapes resolved, invalid UTF-8 replaced). For
// each member of the top-level object it calls top, if not nil, with the
// member's name and the start of its value.
//
// It checks the JSON grammar only as far as it needs to find names and
// values: what it lets through, encoding/json refuses afterwards. It keeps
// its own stack, so no input makes it recurse, and its cost is linear in
// the input's length. It never allocates for an ASCII name without
// escapes.
func checkJSONObject(data []byte, shape *jsonShape, top func(name string, value jsonValue) error) error {
	return scanJSONObject(data, shape, top, false)
}

// scanJSONObject is checkJSONObject; with finiteNumbers it also refuses a
// number, at any depth, that overflows a float64: encoding/json refuses
// such a number when it decodes it into an interface value, as golang-jwt
// decodes a token's header (see JWT.readHeader).
func scanJSONObject(data []byte, shape *jsonShape, top func(name string, value jsonValue) error, finiteNumbers bool) error {
	sc := jsonScanner{src: string(data)}
	sc.space()
	if sc.peek() != '{' {
		return errNotJSONObject
	}
	sc.pos++
	type frame struct {
		object     bool
		started    bool // an element has been read
		shape      *jsonShape
		namesStart int             // this object's names are names[namesStart:]
		set        map[string]bool // all of them, past maxLinearNames
	}
	var stackBuf [8]frame
	stack := append(stackBuf[:0], frame{object: true, shape: shape})
	names := make([]string, 0, 16)
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		sc.space()
		closer := byte(']')
		if f.object {
			closer = '}'
		}
		c := sc.peek()
		switch {
		case c == closer:
			sc.pos++
			names = names[:f.namesStart]
			stack = stack[:len(stack)-1]
			continue
		case f.started:
			if c != ',' {
				return errBadJSON
			}
			sc.pos++
			sc.space()
		}
		f.started = true

		var child *jsonShape
		if f.object {
			name, ok := sc.name(data)
			if !ok {
				return errBadJSON
			}
			own := names[f.namesStart:]
			dup := f.set[name]
			if f.set == nil {
				for _, n := range own {
					if n == name {
						dup = true
						break
					}
				}
			}
			if dup {
				return fmt.Errorf("%w: %.64q", errDuplicateName, name)
			}
			names = append(names, name)
			switch {
			case f.set != nil:
				f.set[name] = true
			case len(own)+1 > maxLinearNames:
				f.set = make(map[string]bool, 2*maxLinearNames)
				for _, n := range names[f.namesStart:] {
					f.set[n] = true
				}
			}
			if f.shape.misspells(name) {
				return fmt.Errorf("%w: %.64q", errNameCase, name)
			}
			sc.space()
			if sc.peek() != ':' {
				return errBadJSON
			}
			sc.pos++
			sc.space()
			child = f.shape.child(name)
			if len(stack) == 1 && top != nil {
				if err := top(name, sc.value()); err != nil {
					return err
				}
			}
		} else {
			child = f.shape.elements()
		}

		switch sc.peek() {
		case '{':
			sc.pos++
			stack = append(stack, frame{object: true, shape: child, namesStart: len(names)})
		case '[':
			sc.pos++
			stack = append(stack, frame{shape: child, namesStart: len(names)})
		case '"':
			if _, _, ok := sc.str(); !ok {
				return errBadJSON
			}
		default:
			lit := sc.literal()
			if lit == "" {
				return errBadJSON
			}
			if finiteNumbers && (jsonValue{kind: lit[0]}).isNumber() {
				if _, err := strconv.ParseFloat(lit, 64); err != nil {
					return fmt.Errorf("%w: a number out of a float64's range", errBadJSON)
				}
			}
		}
	}
	sc.space()
	if sc.pos != len(sc.src) {
		return fmt.Errorf("%w: data after the object", jwt.ErrTokenMalformed)
	}
	return nil
}

// jsonScanner reads JSON tokens from src.
type jsonScanner struct {
	src string
	pos int
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

// space skips JSON whitespace.
func (s *jsonScanner) space() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// str reads a string at s.pos and returns its raw contents, and whether
// they hold anything encoding/json would change when it decodes them: an
// escape, or a byte that is not printable ASCII.
func (s *jsonScanner) str() (raw string, changes, ok bool) {
	if s.peek() != '"' {
		return "", false, false
	}
	start := s.pos + 1
	for i := start; i < len(s.src); i++ {
		switch c := s.src[i]; {
		case c == '"':
			s.pos = i + 1
			return s.src[start:i], changes, true
		case c == '\\':
			changes = true
			i++ // the escaped byte, never the closing quote
		case c < 0x20 || c >= utf8.RuneSelf:
			changes = true
		}
	}
	return "", false, false
}

// name reads an object member's name at s.pos, as encoding/json decodes
// it. data is the bytes src was made from.
func (s *jsonScanner) name(data []byte) (string, bool) {
	start := s.pos
	raw, changes, ok := s.str()
	if !ok || !changes {
		return raw, ok
	}
	var decoded string
	if json.Unmarshal(data[start:s.pos], &decoded) != nil {
		return "", false
	}
	return decoded, true
}

// literal reads a number, true, false or null at s.pos and returns its
// text ("" when there is none).
func (s *jsonScanner) literal() string {
	start := s.pos
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.') {
			break
		}
		s.pos++
	}
	return s.src[start:s.pos]
}

// value describes the value at s.pos without consuming it.
func (s *jsonScanner) value() jsonValue {
	v := jsonValue{kind: s.peek()}
	save := s.pos
	switch v.kind {
	case '{', '[', 0:
		return v
	case '"':
		if _, changes, ok := s.str(); ok {
			v.text, v.changes = s.src[save:s.pos], changes
		}
	default:
		v.text = s.literal()
	}
	s.pos = save
	return v
}
