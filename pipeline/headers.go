package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names shared by every cleanframe service (see DESIGN.md). Ours are
// lower case with a cf- prefix; the trace context uses W3C names.
const (
	// HeaderID carries the image or sample id, the same as the record key.
	HeaderID = "cf-id"
	// HeaderContentType is the MIME type of the value, e.g. image/png.
	HeaderContentType = "content-type"
	// HeaderSource names where the image came from (http, file name, ...).
	HeaderSource = "cf-source"
	// HeaderNoiseSigma is the Gaussian noise sigma on a 0-255 scale, when the
	// sender knows it.
	HeaderNoiseSigma = "cf-noise-sigma"
	// HeaderModelVersion is the version of the model that made an output.
	HeaderModelVersion = "cf-model-version"
	// HeaderIngestedAt is when ingest accepted the image, RFC 3339 with
	// nanoseconds, UTC.
	HeaderIngestedAt = "cf-ingested-at"
	// HeaderError carries a human-readable error on a failure record.
	HeaderError = "cf-error"
	// HeaderTraceparent is the W3C trace context parent.
	HeaderTraceparent = "traceparent"
	// HeaderTracestate is the W3C trace context state.
	HeaderTracestate = "tracestate"
)

// Dead-letter headers, set on every record of the deadletter topic next to
// the original record's key, value and headers.
const (
	// HeaderDLReason says why the record was rejected.
	HeaderDLReason = "cf-dl-reason"
	// HeaderDLStage names the step that rejected it (decode, denoise, ...).
	HeaderDLStage = "cf-dl-stage"
	// HeaderDLTopic is the topic the original record was read from.
	HeaderDLTopic = "cf-dl-source-topic"
	// HeaderDLPartition is the original record's partition.
	HeaderDLPartition = "cf-dl-source-partition"
	// HeaderDLOffset is the original record's offset.
	HeaderDLOffset = "cf-dl-source-offset"
	// HeaderDLTime is when the record was dead-lettered, RFC 3339, UTC.
	HeaderDLTime = "cf-dl-time"
)

// FormatTime formats t as the time headers carry it.
func FormatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// ParseTime parses a time header written by [FormatTime].
func ParseTime(v []byte) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time header %q: %w", v, err)
	}
	return t, nil
}

// ParseSigma parses a cf-noise-sigma header: a finite number in [0, 255].
func ParseSigma(v []byte) (float64, error) {
	s, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64)
	if err != nil {
		return 0, fmt.Errorf("parse noise sigma %q: %w", v, err)
	}
	if !(s >= 0 && s <= 255) {
		return 0, fmt.Errorf("parse noise sigma %q: want a number in [0, 255]", v)
	}
	return s, nil
}

// ParsePartition parses a partition header: a non-negative int32.
func ParsePartition(v []byte) (int, error) {
	p, err := strconv.ParseInt(string(v), 10, 32)
	if err != nil || p < 0 {
		return 0, fmt.Errorf("parse partition %q: want a non-negative integer", v)
	}
	return int(p), nil
}

// ParseOffset parses an offset header: a non-negative int64.
func ParseOffset(v []byte) (int64, error) {
	o, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || o < 0 {
		return 0, fmt.Errorf("parse offset %q: want a non-negative integer", v)
	}
	return o, nil
}

// ParseID checks an image id header or key: 1 to 128 bytes of letters,
// digits and -_.:/ so that ids are safe in file names once / is replaced.
func ParseID(v []byte) (string, error) {
	if len(v) == 0 || len(v) > 128 {
		return "", fmt.Errorf("parse id %q: want 1 to 128 bytes", v)
	}
	for _, c := range v {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-_.:/", c) >= 0
		if !ok {
			return "", fmt.Errorf("parse id %q: byte %q not allowed", v, c)
		}
	}
	// An id is a URL path segment of the API: no slashes and no dot segments.
	for _, seg := range strings.Split(string(v), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("parse id %q: empty, '.' or '..' path segments are "+
				"not allowed", v)
		}
	}
	return string(v), nil
}
