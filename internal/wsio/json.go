package wsio

import (
	"encoding/json"
	"unicode/utf8"
)

// AppendString appends s to b as a JSON string: as it is between quotes
// when it has nothing to escape (an event name, almost always; HTML
// characters are left as they are, which JSON allows), else as
// json.Marshal writes it. It saves json.Marshal's allocation in the
// common case.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
