package gemm

// packB copies columns j..j+w of op(B), steps p0..p0+kb of k, into dst as kb
// rows of nr floats, padding the columns past w with zeros.
func packB(dst []float32, transB bool, b []float32, ldb, p0, kb, j, w, nr int) {
	if !transB {
		for q := 0; q < kb; q++ {
			d := dst[q*nr : q*nr+nr]
			o := (p0+q)*ldb + j
			copy(d, b[o:o+w])
			clear(d[w:])
		}
		return
	}
	for jj := 0; jj < w; jj++ {
		o := (j+jj)*ldb + p0
		for q, v := range b[o : o+kb] {
			dst[q*nr+jj] = v
		}
	}
	if w < nr {
		for q := 0; q < kb; q++ {
			clear(dst[q*nr+w : q*nr+nr])
		}
	}
}

// packEdge copies rows i..i+rows of op(A), steps p0..p0+kb of k, into dst as
// row-major rows of kb floats, and zeros the rest of dst.
func packEdge(dst []float32, transA bool, a []float32, lda, p0, kb, i, rows int) {
	clear(dst[rows*kb:])
	for r := 0; r < rows; r++ {
		d := dst[r*kb : (r+1)*kb]
		if !transA {
			o := (i+r)*lda + p0
			copy(d, a[o:o+kb])
			continue
		}
		for q := range d {
			d[q] = a[(p0+q)*lda+i+r]
		}
	}
}
