package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// imageExts are the file name extensions PublishFiles takes from a folder.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif"}

// PublishFiles publishes each file of paths, and every image file directly
// inside each folder of paths (by extension, in name order), writing
// "ID<TAB>PATH" to w for each published file. A failing file does not stop
// the others; the returned error joins every failure.
func PublishFiles(ctx context.Context, p *Publisher, clean bool, paths []string,
	w io.Writer) error {
	files, errs := expand(paths)
	for _, f := range files {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec, err := p.Publish(ctx, Image{Data: data, Source: "file:" + filepath.Base(f),
			Clean: clean})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		fmt.Fprintf(w, "%s\t%s\n", rec.Key, f)
	}
	return errors.Join(errs...)
}

// expand lists the files of paths, reading folders one level deep.
func expand(paths []string) ([]string, []error) {
	var files []string
	var errs []error
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.Type().IsRegular() && slices.Contains(imageExts, ext) {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	return files, errs
}
