/* sm_comm.h — the MPI world of spikemesh: every rank is one physical core of a
 * mesh_w x mesh_h mesh; logical cores (LCs) are routed to cores by a placement.
 *
 * Messages between LCs go through a mailbox: a sender hands a payload to
 * sm_comm_send; the receiving rank keeps it, keyed by (kind, round, mb, src LC,
 * dst LC), until the op that needs it takes it with sm_comm_take. Between LCs
 * of the same core the payload is handed over by pointer (no copy, no bytes
 * counted). Between cores it travels as one MPI message (header + payload) sent
 * with MPI_Isend; the sender never blocks.
 *
 * Accounting (per epoch, sender side): payload bytes and messages per (core,
 * core) and payload bytes per (LC, LC). Headers (SM_MSG_HEADER_BYTES each) are
 * not counted, so the figures equal the analytic count from the partition.
 *
 * Virtual NoC clock: each rank keeps an emulated time `clock`. Compute advances
 * it (sm_comm_advance); a message carries its send time and arrives at
 * send + hops*hop_latency + bytes/link_bandwidth (XY routing: Manhattan hops);
 * taking it moves the clock to max(clock, arrival), and the difference is
 * recorded as time spent waiting (for a message's transit, or for its sender
 * to produce it). A shadow clock runs the same ops with free links; the gap
 * between the two is the time communication costs the chip.
 */
#ifndef SM_COMM_H
#define SM_COMM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "sm_model.h"

/* Check an MPI call; on failure print MPI_Error_string, file and line, and abort the job. */
#define SM_MPI(call)                                                                   \
    do {                                                                               \
        int sm_mpi_rc_ = (call);                                                       \
        if (sm_mpi_rc_ != MPI_SUCCESS) sm_mpi_die(sm_mpi_rc_, #call, __FILE__, __LINE__); \
    } while (0)
void sm_mpi_die(int code, const char *call, const char *file, int line);

enum { SM_MSG_SPIKES = 1, SM_MSG_GRAD = 2 };
enum { SM_MSG_HEADER_BYTES = 48 };

typedef struct sm_msg {
    int kind, round, mb, src_lc, dst_lc;
    double arrival;          /* emulated arrival time */
    double arrival_free;     /* the same on a chip with free links (the shadow clock) */
    size_t bytes;            /* payload bytes */
    void *payload;
    int remote;              /* came from another core (spikes are then bit-packed) */
    void *block;             /* what to free with the message (header + payload), or NULL */
    struct sm_msg *next;
} sm_msg;

typedef struct {
    MPI_Comm comm;
    int rank, size;
    int mesh_w, mesh_h;
    double hop_latency, link_bandwidth;
    int n_lcs;
    int32_t *lc_core;        /* [n_lcs] the placement */
    /* traffic of the current epoch (sender side) */
    double *core_bytes;      /* [size][size] */
    double *core_messages;   /* [size][size] */
    double *lc_bytes;        /* [n_lcs][n_lcs] */
    /* virtual clock, and a shadow clock that ignores link latency and bandwidth:
     * communication share = 1 - shadow / clock at the end of an epoch */
    double clock, clock_free, compute_seconds, wait_seconds;
    /* sends made during the current op, released by sm_comm_end_op */
    int in_op, n_queued, cap_queued;
    struct sm_queued_send *queued;
    /* mailbox and sends in flight */
    sm_msg *inbox;
    int n_pending, cap_pending;
    MPI_Request *pending;
    void **pending_buf;
} sm_comm;

/* Set up the world on comm for a chip and n_lcs LCs. The mesh must have at
 * least as many cores as there are ranks (SM_EINPUT otherwise). */
int sm_comm_init(sm_comm *c, MPI_Comm comm, const sm_chip_params *chip, int n_lcs);
void sm_comm_free(sm_comm *c);

/* Mesh coordinates of a rank (row-major) and the XY-routing hop count. */
void sm_comm_coords(const sm_comm *c, int rank, int *x, int *y);
int sm_comm_hops(const sm_comm *c, int a, int b);

/* Install a placement lc -> core (each in [0, size)). SM_EINPUT naming the LC otherwise. */
int sm_comm_set_placement(sm_comm *c, const int32_t *lc_core);
static inline int sm_comm_owns(const sm_comm *c, int lc) { return c->lc_core[lc] == c->rank; }

/* A payload buffer of `bytes` with room for the message header in front, so
 * that sm_comm_send can ship it without a copy. Not zeroed. */
void *sm_comm_payload(size_t bytes);

/* Send `bytes` of payload from src_lc (an LC of this rank) to dst_lc.
 * give_ownership = 1: payload came from sm_comm_payload and now belongs to the
 *   comm (sent as is, or handed to a co-located receiver, who frees it).
 * give_ownership = 0: payload is the sender's own memory; a co-located
 *   receiver gets the pointer itself (it must stay valid until taken), a
 *   remote one a copy. */
void sm_comm_send(sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc,
                  void *payload, size_t bytes, int give_ownership);

/* The message (kind, round, mb, src, dst) if it has arrived, removed from the
 * mailbox (free it with sm_msg_free), else NULL. Advances the clock to its
 * arrival time. */
sm_msg *sm_comm_take(sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc);
/* Is it there? (Does not take it.) */
int sm_comm_has(const sm_comm *c, int kind, int round, int mb, int src_lc, int dst_lc);
void sm_msg_free(sm_msg *msg);

/* Move every message that has arrived into the mailbox; with `wait`, block
 * until at least one has. Also retires completed sends. */
void sm_comm_poll(sm_comm *c, int wait);
/* Complete every send in flight (end of an epoch). */
void sm_comm_flush(sm_comm *c);

/* Advance the clock by `seconds` of compute. */
void sm_comm_advance(sm_comm *c, double seconds);

/* Bracket one op: sends made between the two calls are held back and leave
 * when the op ends, stamped with its end time (clock + seconds), as they would
 * on a chip, where a result exists only once the op that computes it is done. */
void sm_comm_begin_op(sm_comm *c);
void sm_comm_end_op(sm_comm *c, double seconds);
/* Zero the clock and the traffic counters (start of an epoch). */
void sm_comm_reset_epoch(sm_comm *c);

/* Spikes (0/1 floats) to bits and back: bit i of the stream is bits[i/8] >> (i%8) & 1. */
size_t sm_spike_bytes(size_t n);
void sm_pack_spikes(uint8_t *bits, const float *spk, size_t n);
void sm_unpack_spikes(float *spk, const uint8_t *bits, size_t n);

#endif
