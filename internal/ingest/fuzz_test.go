package ingest

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// FuzzPost sends arbitrary bodies, content types and waits to POST
// /v1/images: every answer is one the API describes, and every error has
// a JSON body naming the problem.
func FuzzPost(f *testing.F) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08" +
		"\x00\x00\x00\x00W\xdd\x52\xf8")
	mp, mpCT := []byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"+
		string(png)+"\r\n--b--\r\n"), "multipart/form-data; boundary=b"
	f.Add("image/png", png, "")
	f.Add(mpCT, mp, "10ms")
	f.Add("image/gif", []byte("GIF89a"), "wait")
	f.Add("multipart/form-data", []byte("--"), "-1s")
	f.Fuzz(func(t *testing.T, ct string, body []byte, wait string) {
		a := &API{Publisher: &Publisher{Producer: &echoProducer{},
			Topics: pipeline.TopicsFor("x"), MaxBytes: 4096, MaxPixels: 10000},
			MaxWait: 10 * time.Millisecond}
		req := httptest.NewRequest("POST", "/v1/images?wait="+url.QueryEscape(wait),
			bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rr := httptest.NewRecorder()
		a.Handler().ServeHTTP(rr, req)
		switch rr.Code {
		case 200, 202:
		case 400, 413, 415:
			var eb ErrorBody
			if err := json.Unmarshal(rr.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Errorf("%d with body %q", rr.Code, rr.Body)
			}
		default:
			t.Errorf("status %d (%s), not one the API describes for this", rr.Code, rr.Body)
		}
	})
}
