// Package dataset loads folders of images for training and evaluation.
package dataset

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Image is one decoded file.
type Image struct {
	Name  string // file name without its folder
	Path  string
	Image image.Image
}

// imageExts are the file endings treated as images.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff"}

// IsImageFile reports whether a path's ending names an image format.
func IsImageFile(path string) bool {
	return slices.Contains(imageExts, strings.ToLower(filepath.Ext(path)))
}

// List returns the image files in dir, sorted by name.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && IsImageFile(e.Name()) {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("list images: no image files in %s", dir)
	}
	return paths, nil
}

// Open decodes one image file, applying its EXIF orientation. A file whose
// header declares more than imageio.DefaultMaxPixels pixels is refused
// before its pixels are allocated.
func Open(path string) (Image, error) {
	img, err := decodeFile(path)
	if err != nil {
		return Image{}, fmt.Errorf("open image %s: %w", path, err)
	}
	return Image{Name: filepath.Base(path), Path: path, Image: img}, nil
}

// LoadDir decodes every image file in dir, sorted by name.
func LoadDir(dir string) ([]Image, error) {
	paths, err := List(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(paths))
	for _, p := range paths {
		img, err := Open(p)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}
