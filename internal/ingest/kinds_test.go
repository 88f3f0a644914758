package ingest

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/cleanframe/cleanframe/internal/imageio/imagetest"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestUploadEveryKind posts every kind of input of imagetest; -v prints the
// status each got. Ingest reads headers only, so a file broken after a good
// header is accepted here and dead-lettered by the denoiser.
func TestUploadEveryKind(t *testing.T) {
	want := map[imagetest.Want][]int{
		imagetest.Decodes:     {202},
		imagetest.Malformed:   {400, 202},
		imagetest.Unsupported: {415},
		imagetest.TooLarge:    {413},
	}
	for _, k := range imagetest.Kinds() {
		p := &Publisher{Producer: &fakeProducer{}, Topics: pipeline.TopicsFor("x"),
			MaxBytes: 1 << 20}
		req := httptest.NewRequest("POST", "/v1/images", bytes.NewReader(k.Data))
		req.Header.Set("Content-Type", "image/png") // what a careless client sends
		rr := httptest.NewRecorder()
		Handler(p, nil).ServeHTTP(rr, req)
		t.Logf("| %s | %d | %s |", k.Name, rr.Code, bytes.TrimSpace(rr.Body.Bytes()))
		ok := k.Name == "empty" && rr.Code == 400 // an empty body is a bad request
		for _, s := range want[k.Want] {
			ok = ok || rr.Code == s
		}
		if !ok {
			t.Errorf("%s: status %d, want one of %v", k.Name, rr.Code, want[k.Want])
		}
	}
}
