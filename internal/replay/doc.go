// Package replay runs recorded or synthetic inputs through one or more
// models side by side and scores them, for `denoiser replay`: teams replay
// a range of a topic through a candidate model before they trust it.
//
// # Inputs and references
//
// [Items] yields the images: [KafkaItems] reads offset ranges of a topic
// ([ResolveRanges] turns offsets and times into ranges) with plain
// partition readers, so no consumer group is joined, created or moved;
// [DirItems] reads a folder. The clean reference of an image comes from a
// [Reference] ([TopicReference] joins a clean topic by id,
// [DirReference] matches file names), or the replay is synthetic
// (Config.Sigmas): each item is a clean image corrupted once per sigma with
// the noise of evaluate.NoiseRand(seed, item index), as `denoiser eval`
// does, so the per-sigma mean PSNR equals eval's on the same folder.
//
// # Metrics
//
// For every image and model: PSNR in dB (evaluate.PSNR, output rounded to
// 8 bits), SSIM ([SSIM], Wang et al. 2004, on 8-bit values) and the
// seconds the model took. The noisy input's PSNR is taken before rounding,
// as eval does, and its SSIM on the rounded image. Aggregates are means
// over images; latency also gets nearest-rank percentiles.
//
// # Memory
//
// Items are decoded one at a time and dropped once scored. The replay keeps
// only the per-image numbers (about 100 bytes per image and model); the
// best, median and worst images are chosen from those numbers at the end,
// and only they are read again to cut the crops of the HTML page. With two
// models that is about 200 bytes of heap per image (measured in
// TestReplayMemoryPerImage): some 200 MB for a million records.
//
// # Re-rendering
//
// [Render] rebuilds the HTML of a finished report from its JSON: it reads
// the three highlighted images again and runs the models on them only, so
// a report can be re-rendered (or rendered by a newer build) without
// replaying the range. The models are checked against the report's
// SHA-256.
//
// # Determinism
//
// Items are read in a fixed order (partition, then offset; or file name),
// groups are sorted by sigma, ties are broken by position, and no clock is
// written unless asked (Config.GeneratedAt). The one measured quantity is
// latency: with Config.Latency off every seconds field is 0 and two runs
// over the same inputs and models write identical JSON and HTML bytes.
//
// # JSON schema, version 1
//
// The report ([Report]) is one object. Numbers that are not finite (the
// +Inf PSNR of an exact reconstruction) and metrics that do not exist
// (PSNR and SSIM without a reference) are null.
//
//	schema_version    1
//	generated_at      RFC 3339 time, only when asked for
//	source            kind ("images" or "kafka"), images_dir, topic,
//	                  ranges [{partition, start, end}] (offsets, end
//	                  exclusive), reference ("synthetic", "dir:PATH",
//	                  "topic:NAME" or "none")
//	settings          sigmas, seed, blind, stride, latency_measured,
//	                  crop_size, ranked_by
//	models            [{label, name, version, source, sha256}]; every
//	                  per-model array below is in this order
//	images            images scored
//	failed            inputs that could not be scored
//	noisy             {psnr_db, ssim} mean of the noisy inputs, or null
//	summary           per model: {model, images, psnr_db, ssim, gain_db
//	                  (psnr_db less the noisy mean), seconds {mean, p50,
//	                  p90, p99, max, total}}
//	by_sigma          per noise level, ascending, unknown (sigma null)
//	                  last: {sigma, images, noisy, models [{model, psnr_db,
//	                  ssim}]}
//	highlights        [{rank ("best", "median", "worst"), image (index
//	                  into per_image), id, psnr_db}], ranked by the first
//	                  model's PSNR; empty without a reference
//	per_image         in replay order: {index, id, partition, offset
//	                  (Kafka only), sigma (null when unknown), width,
//	                  height, channels, noisy {psnr_db, ssim} or null,
//	                  models [{psnr_db, ssim, seconds}]}
//	errors            the first failures: {index, id, partition, offset,
//	                  error}
//
// BUG: registry versions can be replayed only while their manifest is on
// the models topic; compaction keeps the latest manifest of each model
// name, so older versions must be given as files.
package replay
