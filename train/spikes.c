/* spikes.c — spike matrices as bits.
 *
 * A spike matrix [R, N] of 0/1 values is stored as rows of 64-bit words: row r
 * in words [r·W, (r+1)·W) with W = sm_spike_words(N) = ceil(N/64), spike n of
 * a row in bit n % 64 of word n / 64, the bits past N zero. An eighth of a byte
 * per spike where a float takes four, and the event kernels find a row's
 * spikes with one count-trailing-zeros per spike.
 *
 * Messages between LCs carry a block [R, n] packed contiguously instead (bit
 * k = r·n + j in byte k/8, least significant first: comm's sm_pack_spikes);
 * sm_spikes_put_block puts such a block into columns of a matrix.
 */
#include "sm_kernels.h"

#include <string.h>

#include "sm_common.h"

SM_VECTOR_CLONES
int sm_spikes_pack(uint64_t *bits, const float *x, int R, int N) {
    const int W = sm_spike_words(N);
    int binary = 1;
    for (int r = 0; r < R; r++) {
        const float *row = x + (size_t)r * N;
        uint64_t *out = bits + (size_t)r * W;
        for (int w = 0; w < W; w++) {
            const int n0 = 64 * w, n1 = N - n0 < 64 ? N : n0 + 64;
            uint64_t word = 0;
            for (int n = n0; n < n1; n++) {
                word |= (uint64_t)(row[n] != 0.0f) << (n - n0);
                binary &= row[n] == 0.0f || row[n] == 1.0f;
            }
            out[w] = word;
        }
    }
    return binary;
}

SM_VECTOR_CLONES
void sm_spikes_unpack(float *x, const uint64_t *bits, int R, int N) {
    const int W = sm_spike_words(N);
    for (int r = 0; r < R; r++) {
        const uint64_t *row = bits + (size_t)r * W;
        float *out = x + (size_t)r * N;
        for (int n = 0; n < N; n++) out[n] = (float)((row[n >> 6] >> (n & 63)) & 1u);
    }
}

size_t sm_spikes_count(const uint64_t *bits, int R, int N) {
    const size_t words = (size_t)R * sm_spike_words(N);
    size_t count = 0;
    for (size_t i = 0; i < words; i++) count += (size_t)__builtin_popcountll(bits[i]);
    return count;
}

/* `count` (1..64) bits of the byte array src starting at bit `pos`, as the low
 * bits of a word; src holds `nbytes` bytes and is never read past them. */
static uint64_t get_bits(const uint8_t *src, size_t nbytes, size_t pos, int count) {
    const size_t byte = pos >> 3;
    const int shift = (int)(pos & 7);
    uint64_t lo = 0, hi = 0;
    size_t avail = nbytes - byte;
    memcpy(&lo, src + byte, avail < 8 ? avail : 8);
    if (shift && count > 64 - shift && avail > 8) hi = src[byte + 8];
    uint64_t v = shift ? (lo >> shift) | (hi << (64 - shift)) : lo;
    return count == 64 ? v : v & ((UINT64_C(1) << count) - 1);
}

void sm_spikes_put_block(uint64_t *dst, int N, int off, const uint8_t *src, int n, int R) {
    const int W = sm_spike_words(N);
    const size_t nbytes = ((size_t)R * n + 7) / 8;
    for (int r = 0; r < R; r++) {
        uint64_t *row = dst + (size_t)r * W;
        size_t pos = (size_t)r * n;
        for (int j = 0; j < n;) {
            const int col = off + j, w = col >> 6, at = col & 63;
            int take = 64 - at;
            if (take > n - j) take = n - j;
            const uint64_t v = get_bits(src, nbytes, pos + (size_t)j, take);
            const uint64_t mask = take == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << take) - 1) << at;
            row[w] = (row[w] & ~mask) | (v << at);
            j += take;
        }
    }
}

void sm_spikes_or_columns(uint64_t *dst, int N, int off, const float *x, int n, int R) {
    const int W = sm_spike_words(N);
    for (int r = 0; r < R; r++) {
        uint64_t *row = dst + (size_t)r * W;
        const float *src = x + (size_t)r * n;
        for (int j = 0; j < n; j++) row[(off + j) >> 6] |= (uint64_t)(src[j] != 0.0f) << ((off + j) & 63);
    }
}
