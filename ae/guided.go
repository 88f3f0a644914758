package ae

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
)

// GuidedSample is one training image for a guided model: a noisy plane, the
// guides that the model's pilot and MakeGuides make of it, the clean plane
// and the noise deviation.
type GuidedSample struct {
	Noisy, Clean Plane
	Guides       [2]Plane
	Sigma        float32
}

// GuidedSamples corrupts each clean plane perPlane times with Gaussian noise
// of a deviation drawn uniformly from smin..smax (0–255 scale) and computes
// the guide that m, a guided model, would see for it. The noise depends on
// seed and the plane's index alone. Planes smaller than m's input patch are
// skipped.
func (m *Model) GuidedSamples(ctx context.Context, clean []Plane, perPlane int,
	smin, smax float64, seed uint64) ([]GuidedSample, error) {
	if m.Pilot == nil {
		return nil, errors.New("guided samples: the model is not guided")
	}
	if perPlane < 1 || smin < 0 || smax < smin || smax > 255 {
		return nil, fmt.Errorf("guided samples: %d per plane, sigma %v..%v: want at least "+
			"one, and 0 <= min <= max <= 255", perPlane, smin, smax)
	}
	pi := m.Header.Arch.PatchIn
	var out []GuidedSample
	for i, c := range clean {
		if c.W < pi || c.H < pi {
			continue
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		for range perPlane {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			sigma := float32(smin + (smax-smin)*rng.Float64())
			noisy := Plane{W: c.W, H: c.H, Pix: make([]float32, len(c.Pix))}
			for k, v := range c.Pix {
				noisy.Pix[k] = v + sigma*float32(rng.NormFloat64())
			}
			pilot := Plane{W: c.W, H: c.H, Pix: make([]float32, len(c.Pix))}
			if err := m.Pilot.DenoisePlane(pilot, noisy, sigma, 0); err != nil {
				return out, fmt.Errorf("guided samples: %w", err)
			}
			var g [3]Plane
			for i := range g {
				g[i] = Plane{W: c.W, H: c.H, Pix: make([]float32, len(c.Pix))}
			}
			MakeGuides(g[:1], g[1:2], g[2:], []Plane{noisy}, []Plane{pilot}, []float32{sigma})
			out = append(out, GuidedSample{Noisy: noisy, Clean: c, Guides: [2]Plane{g[0], g[1]},
				Sigma: sigma})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("guided samples: no plane is at least %dx%d", pi, pi)
	}
	return out, nil
}

// fillGuided is fill for a guided model: patches of fixed noisy samples
// with their guides, flipped or rotated at random; the target is the error
// of the guides' mean, which the net learns to correct.
func (s *sampler) fillGuided(x, target []float32) {
	pi, po := s.pi, s.po
	nin := len(x) / (len(target) / (po * po))
	for r := range len(x) / nin {
		g := &s.guided[s.rng.IntN(len(s.guided))]
		w := g.Noisy.W
		x0, y0 := s.rng.IntN(w-pi+1), s.rng.IntN(g.Noisy.H-pi+1)
		idx := s.dihedral[s.rng.IntN(8)]
		row := x[r*nin : (r+1)*nin]
		g1, g2 := row[s.guideOff:s.guideOff+pi*pi], row[s.guideOff+pi*pi:]
		for i, j := range idx {
			k := (y0+j/pi)*w + x0 + j%pi
			a, b := g.Guides[0].Pix[k], g.Guides[1].Pix[k]
			row[i] = (g.Noisy.Pix[k] - 127.5) * s.inv
			g1[i], g2[i] = (a-127.5)*s.inv, (b-127.5)*s.inv
			s.noise[i] = 0.5*(a+b) - g.Clean.Pix[k]
		}
		if s.sigmaInput {
			row[pi*pi] = g.Sigma * s.inv
		}
		t := target[r*po*po : (r+1)*po*po]
		for dy := range po {
			for dx := range po {
				t[dy*po+dx] = s.noise[(dy+s.off)*pi+dx+s.off] * s.inv
			}
		}
	}
}
