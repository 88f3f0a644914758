package dataset

import (
	"errors"
	"os"
	"path/filepath"
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
