/* progress.c — what a person watching a long run sees. On a terminal, one line
 * redrawn in place:
 *   epoch 2/10 [#########.........] 210/469  loss 0.4312  acc 84.2%  5120 samples/s  ETA 1:02
 * Elsewhere (a log file, CI) the same fields as a plain line every 10 s. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "sm_cli.h"
#include "sm_common.h"

struct sm_progress {
    FILE *stream;
    int tty, quiet;
    int epoch, epochs;
    long batches, samples_before, samples_total;
    double start, last_print;
    long last_batch;
};

sm_progress *sm_progress_new(FILE *stream, int quiet) {
    sm_progress *p = sm_xcalloc(1, sizeof *p);
    p->stream = stream;
    p->tty = isatty(fileno(stream)) && getenv("TERM") && !getenv("CI");
    p->quiet = quiet || sm_cli_rank() != 0;
    return p;
}

void sm_progress_begin(sm_progress *p, int epoch, int epochs, long batches, long samples_before,
                       long samples_total) {
    p->epoch = epoch;
    p->epochs = epochs;
    p->batches = batches;
    p->samples_before = samples_before;
    p->samples_total = samples_total;
    p->start = p->last_print = sm_wall_seconds();
    p->last_batch = 0;
}

static void format_time(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void sm_progress_update(sm_progress *p, long batch, double loss, double accuracy, long samples) {
    if (p->quiet) return;
    double now = sm_wall_seconds(), elapsed = now - p->start;
    int final = batch == p->batches;
    if (!p->tty && !final && now - p->last_print < 10.0) return;
    if (p->tty && !final && now - p->last_print < 0.1) return;
    p->last_print = now;
    double rate = elapsed > 0 ? samples / elapsed : 0.0;
    /* ETA for the whole run: the rest of this epoch plus the epochs after it */
    double left = (double)(p->samples_total - p->samples_before - samples);
    char eta[32];
    format_time(eta, sizeof eta, rate > 0 ? left / rate : 0.0);
    char figures[96] = ""; /* loss and accuracy when the caller knows them */
    if (!isnan(loss)) snprintf(figures, sizeof figures, "  loss %.4f  acc %5.1f%%", loss, 100.0 * accuracy);
    if (p->tty) {
        char bar[21];
        int filled = (int)(20.0 * batch / (p->batches ? p->batches : 1));
        for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
        bar[20] = 0;
        fprintf(p->stream, "\r\033[Kepoch %d/%d [%s] %ld/%ld%s  %.0f samples/s  ETA %s",
                p->epoch + 1, p->epochs, bar, batch, p->batches, figures, rate, eta);
    } else {
        fprintf(p->stream, "epoch %d/%d batch %ld/%ld%s %.0f samples/s ETA %s\n",
                p->epoch + 1, p->epochs, batch, p->batches, figures, rate, eta);
    }
    fflush(p->stream);
}

void sm_progress_end(sm_progress *p) {
    if (!p->quiet && p->tty) fputs("\n", p->stream);
}

void sm_progress_free(sm_progress *p) { free(p); }
