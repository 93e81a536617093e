//go:build amd64 && !purego

package vec

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestConstTable checks that consts_amd64.h names the rows of vconsts in the
// order of vconstNames, and that every row holds its value 16 times.
func TestConstTable(t *testing.T) {
	b, err := os.ReadFile("consts_amd64.h")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "#define" {
			continue
		}
		name := strings.TrimPrefix(f[1], "C_")
		off, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f[2], "·vconsts+"), "(SB)"))
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		if off%64 != 0 || off/64 >= len(vconstNames) || vconstNames[off/64] != name {
			t.Fatalf("%s at offset %d does not match vconstNames", name, off)
		}
		seen++
	}
	if seen != len(vconstNames) {
		t.Fatalf("header defines %d constants, table has %d", seen, len(vconstNames))
	}
	vals := vconstValues()
	for i, name := range vconstNames {
		for _, v := range vconsts[i] {
			if v != vals[name] {
				t.Fatalf("row %s not filled", name)
			}
		}
	}
}
