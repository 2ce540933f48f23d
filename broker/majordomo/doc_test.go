package majordomo_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// TestTypeDocs: each exported type's doc comment starts with its name, so
// that go doc shows all of it. A blank line inside the comment above a type
// cuts the part before it off the type's doc.
func TestTypeDocs(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	p := pkgs["majordomo"]
	if p == nil {
		t.Fatal("package majordomo not found")
	}
	var files []*ast.File
	for _, f := range p.Files {
		files = append(files, f)
	}
	d, err := doc.NewFromFiles(fset, files, "github.com/zmqflow/zmqflow/broker/majordomo")
	if err != nil {
		t.Fatal(err)
	}
	for _, ty := range d.Types {
		if !strings.HasPrefix(ty.Doc, ty.Name+" ") {
			first, _, _ := strings.Cut(ty.Doc, "\n")
			t.Errorf("type %s: doc starts %q, want %q", ty.Name, first, ty.Name+" ...")
		}
	}
}
