/* comm.c — mailbox messaging, traffic accounting and the virtual NoC clock
 * (see sm_comm.h). */
#include "sm_comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"

/* On the wire: this header, then the payload. */
typedef struct {
    int32_t kind, round, mb, src_lc, dst_lc, pad;
    double send_time, send_time_free;
    uint64_t bytes;
} wire_header;
_Static_assert(sizeof(wire_header) == SM_MSG_HEADER_BYTES, "header size");

enum { TAG_LC = 7 };

struct sm_queued_send {
    int kind, round, mb, src_lc, dst_lc, give_ownership;
    void *payload;
    size_t bytes;
};

void sm_mpi_die(int code, const char *call, const char *file, int line) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0, rank = -1;
    MPI_Error_string(code, text, &len);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "spikemesh: rank %d: %s failed at %s:%d: %s\n", rank, call, file, line, text);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int sm_comm_init(sm_comm *c, MPI_Comm comm, const sm_chip_params *chip, int n_lcs) {
    memset(c, 0, sizeof *c);
    c->comm = comm;
    SM_MPI(MPI_Comm_rank(comm, &c->rank));
    SM_MPI(MPI_Comm_size(comm, &c->size));
    c->mesh_w = chip->mesh_w;
    c->mesh_h = chip->mesh_h;
    if ((long)c->mesh_w * c->mesh_h < c->size)
        return sm_error("chip.mesh_w x chip.mesh_h = %d x %d = %d cores, but the job has %d MPI "
                        "ranks (one rank per core): enlarge the mesh or use fewer ranks",
                        c->mesh_w, c->mesh_h, c->mesh_w * c->mesh_h, c->size);
    c->hop_latency = chip->hop_latency;
    c->link_bandwidth = chip->link_bandwidth;
    c->n_lcs = n_lcs;
    c->lc_core = sm_xcalloc((size_t)n_lcs, sizeof(int32_t));
    c->core_bytes = sm_xcalloc((size_t)c->size * c->size, sizeof(double));
    c->core_messages = sm_xcalloc((size_t)c->size * c->size, sizeof(double));
    c->lc_bytes = sm_xcalloc((size_t)n_lcs * n_lcs, sizeof(double));
    return SM_OK;
}

void sm_comm_free(sm_comm *c) {
    if (!c->lc_core) return;
    sm_comm_flush(c);
    while (c->inbox) {
        sm_msg *next = c->inbox->next;
        sm_msg_free(c->inbox);
        c->inbox = next;
    }
    free(c->lc_core);
    free(c->core_bytes);
    free(c->core_messages);
    free(c->lc_bytes);
    free(c->pending);
    free(c->pending_buf);
    free(c->queued);
    memset(c, 0, sizeof *c);
}

void sm_comm_coords(const sm_comm *c, int rank, int *x, int *y) {
    *x = rank % c->mesh_w;
    *y = rank / c->mesh_w;
}

int sm_comm_hops(const sm_comm *c, int a, int b) {
    int ax, ay, bx, by;
    sm_comm_coords(c, a, &ax, &ay);
    sm_comm_coords(c, b, &bx, &by);
    return abs(ax - bx) + abs(ay - by);
}

int sm_comm_set_placement(sm_comm *c, const int32_t *lc_core) {
    for (int i = 0; i < c->n_lcs; i++)
        if (lc_core[i] < 0 || lc_core[i] >= c->size)
            return sm_error("placement: LC %d is placed on core %d, but the job has cores 0..%d "
                            "(one per MPI rank)", i, lc_core[i], c->size - 1);
    memcpy(c->lc_core, lc_core, sizeof(int32_t) * (size_t)c->n_lcs);
    return SM_OK;
}

static void mailbox_add(sm_comm *c, sm_msg *msg) {
    /* append, so that equal keys (never expected) would be taken in order */
    sm_msg **at = &c->inbox;
    while (*at) at = &(*at)->next;
    msg->next = NULL;
    *at = msg;
}

static double arrival_time(const sm_comm *c, int from, int to, double send, size_t bytes) {
    return send + sm_comm_hops(c, from, to) * c->hop_latency + (double)bytes / c->link_bandwidth;
}

static void retire_sends(sm_comm *c, int wait_all) {
    int i = 0;
    while (i < c->n_pending) {
        int done = 0;
        if (wait_all) {
            SM_MPI(MPI_Wait(&c->pending[i], MPI_STATUS_IGNORE));
            done = 1;
        } else {
            SM_MPI(MPI_Test(&c->pending[i], &done, MPI_STATUS_IGNORE));
        }
        if (done) {
            free(c->pending_buf[i]);
            c->pending[i] = c->pending[c->n_pending - 1];
            c->pending_buf[i] = c->pending_buf[c->n_pending - 1];
            c->n_pending--;
        } else {
            i++;
        }
    }
}

void *sm_comm_payload(size_t bytes) {
    char *buf = sm_xmalloc(sizeof(wire_header) + bytes);
    return buf + sizeof(wire_header);
}

static void *base_of(void *payload) { return (char *)payload - sizeof(wire_header); }

static void send_now(sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc,
                     void *payload, size_t bytes, int give_ownership) {
    const int to = c->lc_core[dst_lc];
    if (to == c->rank) { /* same core: hand over the pointer, no bytes counted */
        sm_msg *msg = sm_xcalloc(1, sizeof *msg);
        *msg = (sm_msg){kind, round, mb, src_lc, dst_lc, c->clock, c->clock_free, bytes, payload, 0,
                        give_ownership ? base_of(payload) : NULL, NULL};
        mailbox_add(c, msg);
        return;
    }
    char *buf;
    if (give_ownership) {
        buf = base_of(payload);
    } else {
        buf = sm_xmalloc(sizeof(wire_header) + bytes);
        memcpy(buf + sizeof(wire_header), payload, bytes);
    }
    wire_header h = {kind, round, mb, src_lc, dst_lc, 0, c->clock, c->clock_free, bytes};
    memcpy(buf, &h, sizeof h);
    if (c->n_pending == c->cap_pending) {
        c->cap_pending = c->cap_pending ? 2 * c->cap_pending : 64;
        c->pending = sm_xrealloc(c->pending, sizeof(MPI_Request) * (size_t)c->cap_pending);
        c->pending_buf = sm_xrealloc(c->pending_buf, sizeof(void *) * (size_t)c->cap_pending);
    }
    SM_MPI(MPI_Isend(buf, (int)(sizeof h + bytes), MPI_BYTE, to, TAG_LC, c->comm,
                     &c->pending[c->n_pending]));
    c->pending_buf[c->n_pending++] = buf;
    c->core_bytes[(size_t)c->rank * c->size + to] += (double)bytes;
    c->core_messages[(size_t)c->rank * c->size + to] += 1.0;
    c->lc_bytes[(size_t)src_lc * c->n_lcs + dst_lc] += (double)bytes;
}

void sm_comm_send(sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc,
                  void *payload, size_t bytes, int give_ownership) {
    if (!c->in_op) {
        send_now(c, kind, round, mb, src_lc, dst_lc, payload, bytes, give_ownership);
        return;
    }
    if (c->n_queued == c->cap_queued) {
        c->cap_queued = c->cap_queued ? 2 * c->cap_queued : 16;
        c->queued = sm_xrealloc(c->queued, sizeof *c->queued * (size_t)c->cap_queued);
    }
    c->queued[c->n_queued++] = (struct sm_queued_send){kind, round, mb, src_lc, dst_lc,
                                                       give_ownership, payload, bytes};
}

void sm_comm_begin_op(sm_comm *c) { c->in_op = 1; }

void sm_comm_end_op(sm_comm *c, double seconds) {
    sm_comm_advance(c, seconds);
    c->in_op = 0;
    for (int i = 0; i < c->n_queued; i++) {
        struct sm_queued_send *q = &c->queued[i];
        send_now(c, q->kind, q->round, q->mb, q->src_lc, q->dst_lc, q->payload, q->bytes,
                 q->give_ownership);
    }
    c->n_queued = 0;
}

/* Receive one message that MPI_Iprobe/MPI_Probe reported. */
static void receive_one(sm_comm *c, MPI_Status *st) {
    int count;
    SM_MPI(MPI_Get_count(st, MPI_BYTE, &count));
    char *buf = sm_xmalloc((size_t)count);
    SM_MPI(MPI_Recv(buf, count, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG, c->comm, MPI_STATUS_IGNORE));
    wire_header h;
    memcpy(&h, buf, sizeof h);
    sm_msg *msg = sm_xcalloc(1, sizeof *msg);
    *msg = (sm_msg){h.kind, h.round, h.mb, h.src_lc, h.dst_lc,
                    arrival_time(c, st->MPI_SOURCE, c->rank, h.send_time, (size_t)h.bytes),
                    h.send_time_free, (size_t)h.bytes, buf + sizeof h, 1, buf, NULL};
    mailbox_add(c, msg);
}

void sm_comm_poll(sm_comm *c, int wait) {
    retire_sends(c, 0);
    for (;;) {
        int flag = 0;
        MPI_Status st;
        SM_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_LC, c->comm, &flag, &st));
        if (!flag) break;
        receive_one(c, &st);
        wait = 0;
    }
    if (wait) {
        /* Blocking probe: MPI progresses our own sends in flight meanwhile, and an
         * oversubscribed Open MPI yields the core instead of spinning. */
        MPI_Status st;
        SM_MPI(MPI_Probe(MPI_ANY_SOURCE, TAG_LC, c->comm, &st));
        receive_one(c, &st);
    }
}

void sm_comm_flush(sm_comm *c) { retire_sends(c, 1); }

static sm_msg **find(sm_comm *c, int kind, int round, int mb, int src, int dst) {
    for (sm_msg **at = &c->inbox; *at; at = &(*at)->next) {
        sm_msg *m = *at;
        if (m->kind == kind && m->round == round && m->mb == mb && m->src_lc == src && m->dst_lc == dst)
            return at;
    }
    return NULL;
}

int sm_comm_has(const sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc) {
    return find((sm_comm *)c, kind, round, mb, src_lc, dst_lc) != NULL;
}

sm_msg *sm_comm_take(sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc) {
    sm_msg **at = find(c, kind, round, mb, src_lc, dst_lc);
    if (!at) return NULL;
    sm_msg *msg = *at;
    *at = msg->next;
    msg->next = NULL;
    if (msg->arrival > c->clock) {
        c->wait_seconds += msg->arrival - c->clock;
        c->clock = msg->arrival;
    }
    if (msg->arrival_free > c->clock_free) c->clock_free = msg->arrival_free;
    return msg;
}

void sm_msg_free(sm_msg *msg) {
    if (!msg) return;
    free(msg->block);
    free(msg);
}

void sm_comm_advance(sm_comm *c, double seconds) {
    c->clock += seconds;
    c->clock_free += seconds;
    c->compute_seconds += seconds;
}

void sm_comm_reset_epoch(sm_comm *c) {
    c->clock = c->clock_free = c->compute_seconds = c->wait_seconds = 0.0;
    memset(c->core_bytes, 0, sizeof(double) * (size_t)c->size * c->size);
    memset(c->core_messages, 0, sizeof(double) * (size_t)c->size * c->size);
    memset(c->lc_bytes, 0, sizeof(double) * (size_t)c->n_lcs * c->n_lcs);
}

size_t sm_spike_bytes(size_t n) { return (n + 7) / 8; }

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(SM_NO_CLONES)
#include <immintrin.h>
/* Sixteen spikes to two bytes with one compare into a mask register. */
__attribute__((target("avx512f"))) static void pack_avx512(uint8_t *bits, const float *spk, size_t blocks) {
    const __m512 zero = _mm512_setzero_ps();
    for (size_t b = 0; b < blocks; b++) {
        __mmask16 k = _mm512_cmp_ps_mask(_mm512_loadu_ps(spk + 16 * b), zero, _CMP_NEQ_UQ);
        memcpy(bits + 2 * b, &k, 2); /* bit i of the mask is spike i: little-endian bytes */
    }
}
#define HAVE_PACK_AVX512 1
#endif

void sm_pack_spikes(uint8_t *bits, const float *spk, size_t n) {
    size_t full = n / 8, done = 0;
#ifdef HAVE_PACK_AVX512
    if (__builtin_cpu_supports("avx512f")) { /* the same bits, 16 at a time */
        pack_avx512(bits, spk, n / 16);
        done = n / 16 * 2;
    }
#endif
    for (size_t b = done; b < full; b++) { /* eight spikes to one byte, branch-free */
        const float *s = spk + 8 * b;
        bits[b] = (uint8_t)((s[0] != 0.0f) | (s[1] != 0.0f) << 1 | (s[2] != 0.0f) << 2 |
                            (s[3] != 0.0f) << 3 | (s[4] != 0.0f) << 4 | (s[5] != 0.0f) << 5 |
                            (s[6] != 0.0f) << 6 | (s[7] != 0.0f) << 7);
    }
    if (n % 8) {
        uint8_t last = 0;
        for (size_t i = 8 * full; i < n; i++) last |= (uint8_t)((spk[i] != 0.0f) << (i & 7));
        bits[full] = last;
    }
}

/* The eight 0/1 floats of every byte value, built once. */
static float unpack_table[256][8];
static int unpack_ready;

static void build_unpack_table(void) {
    for (int v = 0; v < 256; v++)
        for (int k = 0; k < 8; k++) unpack_table[v][k] = (float)((v >> k) & 1);
    unpack_ready = 1;
}

void sm_unpack_spikes(float *spk, const uint8_t *bits, size_t n) {
    if (!unpack_ready) build_unpack_table(); /* idempotent: a race writes the same values */
    size_t full = n / 8;
    for (size_t b = 0; b < full; b++) memcpy(spk + 8 * b, unpack_table[bits[b]], sizeof(float) * 8);
    for (size_t i = 8 * full; i < n; i++) spk[i] = (float)((bits[i >> 3] >> (i & 7)) & 1u);
}
