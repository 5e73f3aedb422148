package main

import (
	"fmt"
	"image"
	_ "image/gif" // screenshots come in every format
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Bounds on a QR image, checked from its header before it is decoded, so
// that a crafted file cannot take the memory of a huge bitmap.
const (
	maxImageFile = 20 << 20
	maxImageSide = 8192
)

// decodeQR reads the text of the QR code in the image file path (PNG, JPEG
// or GIF), as the phone's camera would.
func decodeQR(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("app: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(io.LimitReader(f, maxImageFile))
	if err != nil {
		return "", fmt.Errorf("app: %s: not an image: %w", path, err)
	}
	if cfg.Width > maxImageSide || cfg.Height > maxImageSide {
		return "", fmt.Errorf("app: %s: image of %dx%d is too large", path, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("app: %s: %w", path, err)
	}
	img, _, err := image.Decode(io.LimitReader(f, maxImageFile))
	if err != nil {
		return "", fmt.Errorf("app: %s: %w", path, err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("app: %s: %w", path, err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		// The image saved from the login page is the code alone, which
		// the reader's pure-barcode mode reads where its finder-pattern
		// search, made for photographs, now and then does not.
		pure := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
		if res, err = qrcode.NewQRCodeReader().Decode(bmp, pure); err != nil {
			return "", fmt.Errorf("app: %s: no QR code found: %w", path, err)
		}
	}
	return res.GetText(), nil
}
