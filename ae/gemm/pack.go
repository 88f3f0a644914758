package gemm

// packBT copies columns j..j+w of op(B) = Bᵀ, steps p0..p0+kb of k, into
// dst as kb rows of nr floats, padding the columns past w with zeros.
func packBT(dst []float32, b []float32, ldb, p0, kb, j, w, nr int) {
	// Four columns of op(B) (rows of the stored B) at a time, so that each
	// step writes four adjacent floats.
	jj := 0
	for ; jj+4 <= w; jj += 4 {
		o := (j+jj)*ldb + p0
		r0 := b[o : o+kb]
		r1 := b[o+ldb : o+ldb+kb]
		r2 := b[o+2*ldb : o+2*ldb+kb]
		r3 := b[o+3*ldb : o+3*ldb+kb]
		for q := range r0 {
			d := dst[q*nr+jj : q*nr+jj+4 : q*nr+jj+4]
			d[0], d[1], d[2], d[3] = r0[q], r1[q], r2[q], r3[q]
		}
	}
	for ; jj < w; jj++ {
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
