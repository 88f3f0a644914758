package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/disintegration/imaging"

	"github.com/cleanframe/cleanframe/internal/imageio"
)

// decodeFile decodes an image file of any format registered with package
// image (imaging adds BMP and TIFF) after checking its header against
// imageio.DefaultMaxPixels, counted in 64 bits, and turns it upright with
// imageio's EXIF reader, which, unlike imaging's, finds EXIF that is not
// the first APP1 segment.
func decodeFile(path string) (image.Image, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a folder; give the image files in it (such as %s)",
			path, filepath.Join(path, "*.png"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// The formats ingest takes go through the same checks as ingest (size,
	// animation, EXIF orientation); others (BMP, TIFF) through imaging.
	if imageio.Supported(imageio.Sniff(data)) {
		img, _, err := imageio.Decode(data, imageio.DefaultMaxPixels)
		return img, err
	}
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		n := int64(cfg.Width) * int64(cfg.Height)
		if n > imageio.DefaultMaxPixels {
			return nil, &imageio.TooLargeError{Width: cfg.Width, Height: cfg.Height,
				MaxPixels: imageio.DefaultMaxPixels}
		}
		if n <= 0 {
			return nil, fmt.Errorf("%s image of %dx%d", format, cfg.Width, cfg.Height)
		}
	}
	img, err := imaging.Decode(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return nil, fmt.Errorf("%w: not PNG, JPEG, GIF, BMP or TIFF, the formats read here", err)
	}
	if err != nil {
		return nil, err
	}
	return imageio.Orient(img, imageio.Orientation(data)), nil
}
