/* sm_data.h — data sets in memory, and the order in which a run visits them.
 *
 * Every reader fills an sm_dataset. Static images are stored as float pixels in
 * [0, 1], sample-major ([n][C*H*W], (C,H,W) order). Event data (spikes) are
 * already binned into T steps and stored as one bit-set per sample: for sample
 * i, step t and unit u, the spike is bit ((t*units + u)) of events[i].
 *
 * Readers return SM_OK, or SM_EINPUT with a message naming the file and what
 * was expected (truncated, bad magic, missing dataset, wrong size ...), or
 * SM_EFAIL for I/O errors. On error *out is left empty (safe to free).
 * No MPI here: this library is usable alone.
 */
#ifndef SM_DATA_H
#define SM_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n;              /* number of samples */
    int c, h, w;        /* static images: channels, height, width (events: 1, 1, units) */
    int T;              /* 0 for static images; steps per sample for event data */
    int n_classes;      /* 1 + the largest label */
    float *x;           /* static: [n][c*h*w] in [0,1], owned; NULL for events and bytes */
    uint8_t *bytes;     /* static images of 8-bit pixels (IDX): [n][c*h*w], owned, the pixel
                           value is bytes / 255.0f (a quarter of x's memory); x is then NULL */
    uint8_t *events;    /* events: [n][ceil(T*units/8)] bits, owned; NULL for static */
    int32_t *y;         /* [n] labels in [0, n_classes), owned */
} sm_dataset;

/* Values per sample: c*h*w (static) or units = w (events). */
static inline int sm_dataset_dim(const sm_dataset *d) { return d->c * d->h * d->w; }

/* Value j of static sample i, whichever way it is stored. */
static inline float sm_dataset_value(const sm_dataset *d, int i, int j) {
    size_t k = (size_t)i * (size_t)sm_dataset_dim(d) + (size_t)j;
    return d->bytes ? d->bytes[k] / 255.0f : d->x[k];
}

/* Event data: bytes per sample, ceil(T*units/8), and one spike. Bit k = t*units + u
 * of a sample lives in byte k/8 at bit k%8 (least significant bit first). */
static inline size_t sm_dataset_event_bytes(const sm_dataset *d) {
    return ((size_t)d->T * (size_t)sm_dataset_dim(d) + 7) / 8;
}
static inline int sm_dataset_event(const sm_dataset *d, int i, int t, int u) {
    size_t k = (size_t)t * (size_t)sm_dataset_dim(d) + (size_t)u;
    return (d->events[(size_t)i * sm_dataset_event_bytes(d) + k / 8] >> (k % 8)) & 1;
}

/* IDX files (MNIST layout) as gzip or raw: images magic 0x00000803 [n][rows][cols]
 * uint8, labels magic 0x00000801 [n] uint8. limit > 0 keeps the first `limit`
 * samples. Pixels are divided by 255. */
int sm_idx_load(sm_dataset *out, const char *images_path, const char *labels_path, int limit);

/* A PNG folder: root/<class>/<file>.png, classes in sorted name order get labels
 * 0, 1, ...; files in sorted name order. Gray or RGB(A) (alpha dropped; 16-bit
 * scaled to 8). want_c is 1 (RGB converted to gray by ITU-R 601 luma) or 3 (gray
 * replicated). Images whose size differs from want_h x want_w are resized
 * (bilinear) when `resize` is non-zero, else rejected with a message naming the
 * file and both sizes. limit > 0 keeps at most `limit` images in total. */
int sm_png_folder_load(sm_dataset *out, const char *root, int want_c, int want_h, int want_w,
                       int resize, int limit);

/* HDF5 spike events in the Spiking Heidelberg Digits layout: /spikes/times
 * (vlen float, seconds), /spikes/units (vlen uint16), /labels [n]. Events are
 * binned into T steps over [0, t_max) seconds (later events dropped); `units`
 * is the number of input units (700 for SHD); a unit index >= units is an
 * error naming the sample. limit > 0 keeps the first `limit` samples. */
int sm_shd_load(sm_dataset *out, const char *path, int T, double t_max, int units, int limit);

/* A learnable synthetic set for tests: each class has a fixed random prototype
 * image in [0,1]; a sample is its class prototype plus noise, clamped to [0,1].
 * Fully determined by seed. T > 0 makes event data instead (each unit spikes
 * with probability from the prototype at each step). */
void sm_synthetic(sm_dataset *out, int n, int c, int h, int w, int T, int n_classes,
                  uint64_t seed);

void sm_dataset_free(sm_dataset *d);

/* Deterministic split: `fraction` of the samples (chosen by a seeded
 * permutation) go to *second, the rest to *first; both are deep copies. */
void sm_dataset_split(const sm_dataset *all, double fraction, uint64_t seed,
                      sm_dataset *first, sm_dataset *second);

/* order[i] = i, then a Fisher-Yates shuffle driven by the counter-based RNG
 * keyed by (seed, epoch): the same on every rank and after a resume. */
void sm_shuffle(int32_t *order, int n, uint64_t seed, uint64_t epoch);

/* Copy samples order[start .. start+B) (clipped at n; returns the count copied).
 * Static: x gets [B][dim] pixels. Events: x gets [T][B][units] 0/1 floats.
 * y gets [B] labels. order may be NULL for the identity order. */
int sm_gather_batch(const sm_dataset *d, const int32_t *order, int start, int B,
                    float *x, int32_t *y);

#endif
