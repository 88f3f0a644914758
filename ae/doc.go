// Package ae is cleanframe's dense denoising autoencoder: a stack of fully
// connected layers applied to overlapping image patches, in the line of Burger,
// Schuler and Harmeling (CVPR 2012).
//
// # Layout and ownership
//
// Every matrix is row-major float32. A batch is a matrix of rows × features:
// one image patch per row. A layer's weights W are in × out, so a layer
// computes Y = act(X·W + b) for a whole batch with one matrix multiply.
// Functions that take a destination write into it in place; the caller owns
// every buffer it passes in. A [Model] is immutable after it is built or
// loaded and safe for concurrent use; scratch space lives in per-call
// workspaces drawn from a pool.
//
// # The denoiser
//
// An image plane (0–255 scale) is cut into PatchIn×PatchIn input patches at a
// stride, mirror-padded at the borders so every pixel is covered. The network
// predicts the noise in the central PatchOut×PatchOut part of each patch
// (residual learning); the clean estimate is the noisy centre minus that
// prediction. Estimates are blended back with a Gaussian window, divided by
// the summed weights, then clamped and rounded. When the architecture asks for
// it, the noise level sigma is an extra input feature, so one model serves a
// range of noise levels; sigma comes from the caller or from a per-image
// estimate ([EstimateSigma]). Colour images go through an orthonormal
// opponent colour transform, which keeps white Gaussian noise white with the
// same sigma in each channel, and each channel is denoised as a grey plane.
//
// # Training
//
// [Trainer] minimises the squared error between the predicted and the true
// noise on clean patches corrupted with Gaussian noise, with Adam.
//
// # Model files
//
// Models are stored in one versioned binary format shared by files and Kafka
// model records; see [Decode] and [Model.MarshalBinary].
package ae
