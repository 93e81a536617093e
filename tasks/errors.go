package tasks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// FileError reports a problem at a line of an input file. Its message has the
// form "path:line: message" (line is omitted when 0).
type FileError struct {
	Path string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

func lineErr(path string, line int, format string, args ...any) error {
	return &FileError{Path: path, Line: line, Err: fmt.Errorf(format, args...)}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// eachLine calls fn for every non-empty line of path with its 1-based line
// number. The trailing "\n" / "\r\n" and a leading UTF-8 byte-order mark are
// removed; lines that are not valid UTF-8 are reported as errors. Lines have no
// length limit. The slice passed to fn is only valid during the call.
func eachLine(path string, fn func(line []byte, n int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var buf []byte
	for n := 1; ; n++ {
		buf = buf[:0]
		var rerr error
		for {
			chunk, err := r.ReadSlice('\n')
			buf = append(buf, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			rerr = err
			break
		}
		if rerr != nil && rerr != io.EOF {
			return &FileError{Path: path, Line: n, Err: rerr}
		}
		if len(buf) == 0 && rerr == io.EOF {
			return nil
		}
		line := bytes.TrimSuffix(buf, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if n == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if !utf8.Valid(line) {
			return lineErr(path, n, "invalid UTF-8")
		}
		if len(line) > 0 {
			if err := fn(line, n); err != nil {
				var fe *FileError
				if errors.As(err, &fe) {
					return err
				}
				return &FileError{Path: path, Line: n, Err: err}
			}
		}
		if rerr == io.EOF {
			return nil
		}
	}
}
