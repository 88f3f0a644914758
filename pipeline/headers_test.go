package pipeline

import (
	"testing"
	"time"
)

func TestParseSigma(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"25", 25, false}, {" 12.5 ", 12.5, false}, {"0", 0, false},
		{"-1", 0, true}, {"256", 0, true}, {"NaN", 0, true}, {"", 0, true}, {"x", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSigma([]byte(tt.in))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseSigma(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want,
				tt.wantErr)
		}
	}
}

func TestParseIDAndOffsets(t *testing.T) {
	ids := []struct {
		in string
		ok bool
	}{{"abc-1_2.3:4/5", true}, {"", false}, {"a b", false}, {"é", false}}
	for _, tt := range ids {
		if _, err := ParseID([]byte(tt.in)); (err == nil) != tt.ok {
			t.Errorf("ParseID(%q) error %v, want ok %v", tt.in, err, tt.ok)
		}
	}
	if p, err := ParsePartition([]byte("3")); p != 3 || err != nil {
		t.Errorf("ParsePartition(3) = %d, %v", p, err)
	}
	if _, err := ParsePartition([]byte("-3")); err == nil {
		t.Error("ParsePartition(-3) accepted")
	}
	if o, err := ParseOffset([]byte("9000000000")); o != 9e9 || err != nil {
		t.Errorf("ParseOffset(9e9) = %d, %v", o, err)
	}
	if _, err := ParseOffset([]byte("1e3")); err == nil {
		t.Error("ParseOffset(1e3) accepted")
	}
}

func TestTimeHeaderRoundTrip(t *testing.T) {
	in := time.Date(2026, 12, 4, 16, 0, 0, 123456789, time.FixedZone("x", 3600))
	got, err := ParseTime([]byte(FormatTime(in)))
	if err != nil || !got.Equal(in) {
		t.Errorf("ParseTime(FormatTime(%v)) = %v, %v", in, got, err)
	}
	if _, err := ParseTime([]byte("yesterday")); err == nil {
		t.Error("ParseTime(yesterday) accepted")
	}
}

func TestRecordHeaders(t *testing.T) {
	var r Record
	r.SetHeader(HeaderID, "a")
	r.SetHeader(HeaderSource, "s")
	r.SetHeader(HeaderID, "b")
	if got := r.HeaderString(HeaderID); got != "b" || len(r.Headers) != 2 {
		t.Errorf("after SetHeader twice: %q with %d headers, want b with 2", got, len(r.Headers))
	}
	if _, ok := r.Header(HeaderError); ok {
		t.Error("Header reported an absent header as present")
	}
}
