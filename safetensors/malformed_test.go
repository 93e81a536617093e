package safetensors

import (
	"encoding/binary"
	"strings"
	"testing"
)

func pad8(h string) string { return h + strings.Repeat(" ", (8-len(h)%8)%8) }

func TestMalformed(t *testing.T) {
	f32 := func(name, offs, shape string) string {
		return `"` + name + `":{"dtype":"F32","shape":` + shape + `,"data_offsets":` + offs + `}`
	}
	lenOnly := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	cases := []struct {
		name string
		file []byte
		want []string // substrings of the error
	}{
		{"empty file", nil, []string{"too short"}},
		{"7 bytes", []byte("1234567"), []string{"too short"}},
		{"header past EOF", append(lenOnly(100), "{}"...), []string{"header length 100", "past the end"}},
		{"absurd header", append(lenOnly(1<<40), "{}"...), []string{"exceeds"}},
		{"max uint64 header", append(lenOnly(^uint64(0)), "{}"...), []string{"exceeds"}},
		{"invalid utf8", rawFile("{\"\xff\":1}", nil), []string{"UTF-8"}},
		{"not json", rawFile("{nope", nil), []string{"not valid JSON"}},
		{"truncated json", rawFile(`{"a":{"dtype":"F32"`, nil), []string{"not valid JSON"}},
		{"array header", rawFile(`[1,2]`, nil), []string{"not a JSON object"}},
		{"string header", rawFile(`"x"`, nil), []string{"not a JSON object"}},
		{"trailing garbage", rawFile(`{} {}`, nil), []string{"after the JSON object"}},
		{"duplicate key", rawFile(pad8(`{`+f32("a", "[0,4]", "[1]")+`,`+f32("a", "[0,4]", "[1]")+`}`), make([]byte, 4)), []string{`"a" twice`}},
		{"entry not object", rawFile(`{"a":[1,2]}`, nil), []string{`tensor "a"`, "not a JSON object"}},
		{"entry is number", rawFile(`{"a":3}`, nil), []string{`tensor "a"`, "not a JSON object"}},
		{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`tensor "a"`, `"dtype"`}},
		{"missing offsets", rawFile(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), []string{`tensor "a"`, `"data_offsets"`}},
		{"dtype not string", rawFile(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`tensor "a"`, "dtype"}},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`tensor "a"`, `unknown dtype "F12"`}},
		{"lowercase dtype", rawFile(`{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`unknown dtype "f32"`}},
		{"negative dim", rawFile(`{`+f32("a", "[0,4]", "[-1]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "shape", "negative"}},
		{"fractional dim", rawFile(`{`+f32("a", "[0,4]", "[1.5]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "shape", "1.5"}},
		{"shape not array", rawFile(`{`+f32("a", "[0,4]", `"1"`)+`}`, make([]byte, 4)), []string{`tensor "a"`, "shape", "not a JSON array"}},
		{"huge dim", rawFile(`{`+f32("a", "[0,4]", "[99999999999999999999]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "too large"}},
		{"product overflow", rawFile(`{`+f32("a", "[0,4]", "[4294967296,4294967296]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "overflows|too large"}},
		{"bytes overflow", rawFile(`{`+f32("a", "[0,4]", "[4611686018427387904]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "overflows|too large"}},
		{"offsets one number", rawFile(`{`+f32("a", "[4]", "[1]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "[begin, end]"}},
		{"offsets three numbers", rawFile(`{`+f32("a", "[0,4,8]", "[1]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "[begin, end]"}},
		{"offsets negative", rawFile(`{`+f32("a", "[-4,0]", "[1]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "negative"}},
		{"begin > end", rawFile(`{`+f32("a", "[4,0]", "[1]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "begin > end"}},
		{"end beyond data", rawFile(`{`+f32("a", "[0,8]", "[2]")+`}`, make([]byte, 4)), []string{`tensor "a"`, "beyond the data section"}},
		{"size mismatch", rawFile(`{`+f32("a", "[0,8]", "[1]")+`}`, make([]byte, 8)), []string{`tensor "a"`, "needs 4"}},
		{"overlap", rawFile(pad8(`{`+f32("a", "[0,8]", "[2]")+`,`+f32("b", "[4,12]", "[2]")+`}`), make([]byte, 12)), []string{`tensor "b"`, "overlap", `"a"`}},
		{"same range twice", rawFile(pad8(`{`+f32("a", "[0,4]", "[1]")+`,`+f32("b", "[0,4]", "[1]")+`}`), make([]byte, 4)), []string{"overlap"}},
		{"zero-size inside another", rawFile(pad8(`{`+f32("a", "[0,8]", "[2]")+`,`+f32("z", "[4,4]", "[0]")+`}`), make([]byte, 8)), []string{`tensor "z"`, "overlap"}},
		{"gap at start", rawFile(`{`+f32("a", "[4,8]", "[1]")+`}`, make([]byte, 8)), []string{`tensor "a"`, "gaps are not allowed"}},
		{"gap between", rawFile(pad8(`{`+f32("a", "[0,4]", "[1]")+`,`+f32("b", "[8,12]", "[1]")+`}`), make([]byte, 12)), []string{`tensor "b"`, `after tensor "a"`, "gaps"}},
		{"trailing bytes", rawFile(`{`+f32("a", "[0,4]", "[1]")+`}`, make([]byte, 6)), []string{"2 trailing bytes"}},
		{"data but no tensors", rawFile(`{}`, make([]byte, 4)), []string{"4 trailing bytes"}},
		{"metadata not object", rawFile(`{"__metadata__":[1]}`, nil), []string{`"__metadata__"`, "object of strings"}},
		{"metadata non-string", rawFile(`{"__metadata__":{"k":1}}`, nil), []string{`"__metadata__"`, `"k"`, "not a string"}},
		{"metadata twice", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), []string{`"__metadata__" twice`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeBytes(t, "bad.safetensors", c.file)
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, p) {
				t.Errorf("error does not name the file: %s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range c.want {
				if !containsAny(msg, strings.Split(w, "|")) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestAcceptedVariants(t *testing.T) {
	for name, hdr := range map[string]string{
		"leading space":      ` {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		"unknown entry keys": `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":true}}`,
		"null metadata":      `{"__metadata__":null,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		"unpadded header":    `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := mustOpen(t, writeBytes(t, "ok.safetensors", rawFile(hdr, make([]byte, 4))))
			if _, _, err := f.Float32("a"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenNotRegular(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Fatal("opened a directory")
	}
	if _, err := Open("/nonexistent/x.safetensors"); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.safetensors") {
		t.Fatalf("error %v", err)
	}
}

// containsAny: 32-bit platforms reject huge dimensions before the product
// check, so some cases accept either wording.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
