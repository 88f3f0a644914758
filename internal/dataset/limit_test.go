package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/imageio/imagetest"
)

func TestOpenRefusesHugeHeader(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.png")
	os.WriteFile(huge, imagetest.HugePNG(100000, 100000), 0o644)
	var te *imageio.TooLargeError
	if _, err := Open(huge); !errors.As(err, &te) {
		t.Errorf("Open(huge) = %v, want a TooLargeError", err)
	}
	small := filepath.Join(dir, "small.jpg")
	os.WriteFile(small, imagetest.WithEXIF(imagetest.JPEG(imagetest.Gradient(16, 8)), 6), 0o644)
	img, err := Open(small)
	if err != nil || img.Image.Bounds().Dx() != 8 || img.Image.Bounds().Dy() != 16 {
		t.Errorf("Open(small, orientation 6) = %v, %v; want 8x16", img.Image.Bounds(), err)
	}
}

// A folder, or a file in a format not read here, gets an error that says
// what to give instead.
func TestOpenSaysWhatToGive(t *testing.T) {
	dir := t.TempDir()
	webp := filepath.Join(dir, "x.webp")
	if err := os.WriteFile(webp, []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{dir: "is a folder", webp: "PNG, JPEG, GIF"} {
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", path, err, want)
		}
	}
}
