/* picture.c — PNG pictures of placements and searches (sm_picture.h): the mesh
 * map, a traffic heatmap and cost curves, drawn on an RGB canvas in memory with
 * the 5x7 font of font5x7.c and written by libpng (8-bit RGB) to a temporary
 * file that is renamed over the target.
 *
 * Layouts (pixel sizes follow the content so that the pictures stay legible):
 *   mesh     title | grid of cores (row 0 at the top, core c at x = c % w,
 *            y = c / w), about 880 px whatever the mesh size | legend on the right.
 *            A core is a square filled on the viridis scale of its compute, with
 *            its number (and compute, memory share when there is room) and a
 *            memory bar at its bottom (dark grey, red when over core_memory).
 *            The two directed links between neighbours are arrows in the gap,
 *            side by side (E above W, S left of N): colour and width grow with
 *            the load; links without traffic are a thin grey line. A NaN in
 *            core_compute or core_memory means "no data" (e.g. a core without
 *            an MPI rank): a light grey square, no figure, no bar.
 *   heatmap  title | n x n cells (blocks of f x f summed when n > 1000), about
 *            800 px, ticks every k | log colour bar on the right, 0 = white.
 *   curves   title | cost against evaluations (log x; log y when the costs
 *            span more than 50x, e.g. an infeasible start) | legend on the right.
 * Text is drawn at scale 2 (12 x 16 px per character), titles at 3.
 */
#define _GNU_SOURCE
#include "sm_picture.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm_common.h"

/* font5x7.c: the 7 rows (bit 4 = left column) of a printable ASCII character,
 * drawn *drop rows lower (descenders). */
const uint8_t *sm_font5x7_glyph(int ch, int *drop);

typedef struct { uint8_t r, g, b; } rgb;

static const rgb WHITE = {255, 255, 255}, BLACK = {0, 0, 0}, GREY = {120, 120, 120},
                 LIGHT = {205, 205, 205}, RED = {220, 30, 30}, DARK = {60, 60, 60};

enum { TEXT = 2, TITLE = 3 }; /* font scales */
#define CHAR_W(scale) (6 * (scale))
#define CHAR_H(scale) (8 * (scale))

/* ---- canvas ------------------------------------------------------------ */

typedef struct {
    int w, h;
    uint8_t *px; /* [h][w][3] */
} canvas;

static canvas canvas_new(int w, int h) {
    canvas c = {w, h, sm_xmalloc((size_t)w * h * 3)};
    memset(c.px, 255, (size_t)w * h * 3);
    return c;
}

static inline void put(canvas *c, int x, int y, rgb col) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

/* Blend col over the pixel with coverage a in [0, 1]. */
static inline void blend(canvas *c, int x, int y, rgb col, double a) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0) return;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    p[0] = (uint8_t)lround(p[0] + (col.r - p[0]) * a);
    p[1] = (uint8_t)lround(p[1] + (col.g - p[1]) * a);
    p[2] = (uint8_t)lround(p[2] + (col.b - p[2]) * a);
}

/* Pixels [x0, x1) x [y0, y1). */
static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, rgb col) {
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) put(c, x, y, col);
}

/* A frame of thickness t inside [x0, x1) x [y0, y1). */
static void frame_rect(canvas *c, int x0, int y0, int x1, int y1, int t, rgb col) {
    fill_rect(c, x0, y0, x1, y0 + t, col);
    fill_rect(c, x0, y1 - t, x1, y1, col);
    fill_rect(c, x0, y0, x0 + t, y1, col);
    fill_rect(c, x1 - t, y0, x1, y1, col);
}

/* A horizontal and vertical line of thickness t (axis-aligned). */
static void hline(canvas *c, double x0, double x1, double y, int t, rgb col) {
    int a = (int)lround(fmin(x0, x1)), b = (int)lround(fmax(x0, x1)), yy = (int)lround(y) - t / 2;
    fill_rect(c, a - t / 2, yy, b + (t + 1) / 2, yy + t, col);
}
static void vline(canvas *c, double x, double y0, double y1, int t, rgb col) {
    int a = (int)lround(fmin(y0, y1)), b = (int)lround(fmax(y0, y1)), xx = (int)lround(x) - t / 2;
    fill_rect(c, xx, a - t / 2, xx + t, b + (t + 1) / 2, col);
}

/* Triangle (pixel centres at +0.5), anti-aliased by 4x4 samples per pixel. */
static void fill_triangle(canvas *c, const double *x, const double *y, rgb col) {
    int x0 = (int)floor(fmin(x[0], fmin(x[1], x[2]))), x1 = (int)ceil(fmax(x[0], fmax(x[1], x[2])));
    int y0 = (int)floor(fmin(y[0], fmin(y[1], y[2]))), y1 = (int)ceil(fmax(y[0], fmax(y[1], y[2])));
    double area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]);
    if (area == 0) return;
    for (int py = y0; py <= y1; py++)
        for (int px = x0; px <= x1; px++) {
            int in = 0;
            for (int s = 0; s < 16; s++) {
                double sx = px + (s % 4 + 0.5) / 4, sy = py + (s / 4 + 0.5) / 4;
                int k, ok = 1;
                for (k = 0; k < 3 && ok; k++) {
                    int j = (k + 1) % 3;
                    double e = (x[j] - x[k]) * (sy - y[k]) - (sx - x[k]) * (y[j] - y[k]);
                    ok = area > 0 ? e >= 0 : e <= 0;
                }
                in += ok;
            }
            blend(c, px, py, col, in / 16.0);
        }
}

/* ---- text --------------------------------------------------------------- */

static int text_width(const char *s, int scale) {
    int n = (int)strlen(s);
    return n ? n * CHAR_W(scale) - scale : 0; /* no gap after the last character */
}

/* Text with its top-left corner at (x, y). */
static void draw_text(canvas *c, int x, int y, const char *s, int scale, rgb col) {
    for (; *s; s++, x += CHAR_W(scale)) {
        int drop;
        const uint8_t *g = sm_font5x7_glyph((unsigned char)*s, &drop);
        for (int r = 0; r < 7; r++)
            for (int k = 0; k < 5; k++)
                if (g[r] & (0x10 >> k)) {
                    int px = x + k * scale, py = y + (r + drop) * scale;
                    fill_rect(c, px, py, px + scale, py + scale, col);
                }
    }
}

enum { LEFT, CENTRE, RIGHT };
static void draw_text_at(canvas *c, int x, int y, int align, const char *s, int scale, rgb col) {
    int w = text_width(s, scale);
    draw_text(c, align == LEFT ? x : align == CENTRE ? x - w / 2 : x - w, y, s, scale, col);
}

/* The title centred at the top; a scale that fits the width, cut with "..." if
 * even scale 2 is too wide. Returns the height it took. */
static int draw_title(canvas *c, const char *title) {
    if (!title || !*title) return 16;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", title);
    int scale = text_width(buf, TITLE) <= c->w - 20 ? TITLE : TEXT;
    int fit = (c->w - 20 + scale) / CHAR_W(scale);
    if ((int)strlen(buf) > fit && fit > 3) strcpy(buf + fit - 3, "...");
    draw_text_at(c, c->w / 2, 16, CENTRE, buf, scale, BLACK);
    return 16 + CHAR_H(scale) + 16;
}

/* "1.5 MB" style (SI, powers of 1000), bytes below 1000 as integers. */
static void fmt_bytes(char *buf, size_t n, double v) {
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    int k = 0;
    while (fabs(v) >= 999.5 && k < 6) v /= 1000, k++;
    if (k == 0) snprintf(buf, n, "%.0f B", v);
    else snprintf(buf, n, "%.3g %s", v, unit[k]);
}

/* 3 significant digits without a needless exponent: 0.0123, 45.6, 1.23e+06. */
static void fmt_num(char *buf, size_t n, double v) {
    if (v == 0) snprintf(buf, n, "0");
    else if (fabs(v) >= 1e-3 && fabs(v) < 1e5) snprintf(buf, n, "%.4g", v);
    else snprintf(buf, n, "%.2e", v);
}

/* A share in percent, with the digits that matter: 85%, 4.2%, 0.013%, 0%. */
static void fmt_percent(char *buf, size_t n, double fraction) {
    double p = 100 * fraction;
    if (p == 0 || p >= 10) snprintf(buf, n, "%.0f%%", p);
    else if (p >= 1) snprintf(buf, n, "%.1f%%", p);
    else snprintf(buf, n, "%.2g%%", p);
}

/* ---- colour scales -------------------------------------------------------- */

/* A viridis-like ramp (dark purple, blue, green, yellow): perceptually ordered,
 * readable in grey and by most colour-blind readers. t in [0, 1]. */
static rgb ramp_viridis(double t) {
    static const rgb stop[9] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},   {44, 113, 142}, {33, 144, 141},
                                {39, 173, 129}, {92, 200, 99},  {170, 220, 50},  {253, 231, 37}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double f = t * 8;
    int k = (int)f < 8 ? (int)f : 7;
    f -= k;
    rgb a = stop[k], b = stop[k + 1];
    return (rgb){(uint8_t)lround(a.r + (b.r - a.r) * f), (uint8_t)lround(a.g + (b.g - a.g) * f),
                 (uint8_t)lround(a.b + (b.b - a.b) * f)};
}

/* Link loads: light orange to dark red, apart from the cores' scale. */
static rgb ramp_heat(double t) {
    static const rgb stop[4] = {{253, 204, 138}, {252, 141, 89}, {215, 48, 31}, {127, 0, 0}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double f = t * 3;
    int k = (int)f < 3 ? (int)f : 2;
    f -= k;
    rgb a = stop[k], b = stop[k + 1];
    return (rgb){(uint8_t)lround(a.r + (b.r - a.r) * f), (uint8_t)lround(a.g + (b.g - a.g) * f),
                 (uint8_t)lround(a.b + (b.b - a.b) * f)};
}

/* Black or white, whichever reads better on `bg`. */
static rgb ink_on(rgb bg) {
    return 0.299 * bg.r + 0.587 * bg.g + 0.114 * bg.b > 140 ? BLACK : WHITE;
}

/* A horizontal colour bar [x0, x0+w) x [y0, y0+h) of ramp(0..1), framed. */
static void colour_bar(canvas *c, int x0, int y0, int w, int h, rgb (*ramp)(double)) {
    for (int x = 0; x < w; x++) fill_rect(c, x0 + x, y0, x0 + x + 1, y0 + h, ramp(w > 1 ? (double)x / (w - 1) : 1));
    frame_rect(c, x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1, 1, BLACK);
}

/* ---- PNG --------------------------------------------------------------- */

typedef struct { jmp_buf jmp; char msg[200]; } png_failure;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->msg, sizeof f->msg, "%s", msg);
    longjmp(f->jmp, 1);
}
static void on_png_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* Write rows of c to the open file fp; a libpng message in f->msg on failure. */
static int write_png_stream(FILE *fp, const canvas *c, png_failure *f) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, f, on_png_error, on_png_warning);
    if (!png) return snprintf(f->msg, sizeof f->msg, "out of memory in libpng"), -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return snprintf(f->msg, sizeof f->msg, "out of memory in libpng"), -1;
    }
    if (setjmp(f->jmp)) { /* nothing modified after setjmp is read here */
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++) png_write_row(png, c->px + (size_t)y * c->w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* Write c to path atomically: path.tmp.XXXXXX in the same directory, flushed,
 * renamed. SM_EFAIL naming the file; no temporary file is left behind. */
static int canvas_save(const canvas *c, const char *path) {
    size_t len = strlen(path);
    char *tmp = sm_xmalloc(len + 16);
    snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd >= 0) fchmod(fd, 0644); /* mkstemp makes it 0600 */
    if (fd < 0) {
        int rc = sm_fail("cannot write PNG %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        int rc = sm_fail("cannot write PNG %s: %s", path, strerror(errno));
        close(fd), unlink(tmp), free(tmp);
        return rc;
    }
    png_failure f;
    f.msg[0] = 0;
    int bad = write_png_stream(fp, c, &f);
    const char *why = bad ? f.msg : NULL;
    if (!bad && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) bad = 1, why = strerror(errno);
    if (fclose(fp) != 0 && !bad) bad = 1, why = strerror(errno);
    if (!bad && rename(tmp, path) != 0) bad = 1, why = strerror(errno);
    int rc = SM_OK;
    if (bad) {
        rc = sm_fail("cannot write PNG %s: %s", path, why && *why ? why : "libpng failed");
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* The tick step among 1, 2, 5, 10, 20, 50 ... with at least `min_px` between ticks. */
static long tick_step(double px_per_unit, double min_px) {
    for (long k = 1;; k *= 10) {
        if (k * px_per_unit >= min_px) return k;
        if (2 * k * px_per_unit >= min_px) return 2 * k;
        if (5 * k * px_per_unit >= min_px) return 5 * k;
        if (k > (1L << 40)) return k;
    }
}

/* ---- mesh map ----------------------------------------------------------- */

/* Check an optional array of k values: finite and >= 0, or NaN ("no data")
 * when nan_ok. */
static int check_values(const double *v, long k, const char *what, int nan_ok) {
    for (long i = 0; v && i < k; i++)
        if (!(nan_ok && isnan(v[i])) && (!isfinite(v[i]) || v[i] < 0))
            return sm_error("picture: %s[%ld] = %g, expected a finite number >= 0%s", what, i, v[i],
                            nan_ok ? " (or NaN: no data)" : "");
    return SM_OK;
}

/* An arrow from (x0, y0) to (x1, y1), axis-aligned, shaft width `wd`. */
static void arrow(canvas *c, double x0, double y0, double x1, double y1, double wd, rgb col) {
    double len = fabs(x1 - x0) + fabs(y1 - y0);
    if (len < 1) return;
    double ux = (x1 - x0) / len, uy = (y1 - y0) / len; /* along; (-uy, ux) across */
    double head = fmin(len * 0.45, fmax(5.0, wd * 2.2)), half = fmax(wd * 1.1, 3.0);
    double bx = x1 - ux * head, by = y1 - uy * head;   /* base of the head */
    double sx0 = fmin(x0, bx) - (uy ? wd / 2 : 0), sx1 = fmax(x0, bx) + (uy ? wd / 2 : 0);
    double sy0 = fmin(y0, by) - (ux ? wd / 2 : 0), sy1 = fmax(y0, by) + (ux ? wd / 2 : 0);
    fill_rect(c, (int)lround(sx0), (int)lround(sy0), (int)lround(sx1), (int)lround(sy1), col);
    double tx[3] = {x1, bx - uy * half, bx + uy * half}, ty[3] = {y1, by + ux * half, by - ux * half};
    fill_triangle(c, tx, ty, col);
}

int sm_picture_mesh(const char *path, const sm_mesh *mesh, const double *core_compute, const char *compute_unit,
                    const double *core_memory, const int64_t *link_loads, const char *title) {
    if (!path || !mesh) return sm_error("picture: no file name or mesh");
    int rc = sm_mesh_check(mesh);
    if (rc) return rc;
    const int W = mesh->mesh_w, H = mesh->mesh_h, cores = W * H, side = W > H ? W : H;
    if ((rc = check_values(core_compute, cores, "core_compute", 1))) return rc;
    if ((rc = check_values(core_memory, cores, "core_memory", 1))) return rc;
    for (int l = 0; link_loads && l < SM_LINK_DIRS * cores; l++)
        if (link_loads[l] < 0)
            return sm_error("picture: link_loads[%d] = %lld, expected >= 0", l, (long long)link_loads[l]);

    /* geometry: cell = square + gap; the gap holds the two arrows of a link */
    const int cell = side <= 2 ? 400 : 880 / side > 1 ? 880 / side : 1; /* 1 px per core from 880 cores on */
    const int gap = cell >= 10 ? (int)lround(cell * 0.36) : cell >= 4 ? 1 : 0, sq = cell - gap;
    const int small = sq < 34; /* no numbers inside: coordinates around the grid */
    const int legend_w = 330, title_h = 72;
    const int grid_x = small ? 24 + text_width("000", TEXT) : 24;
    const int grid_y = small ? title_h + CHAR_H(TEXT) + 8 : title_h;
    const int height = grid_y + H * cell + 24;
    canvas c = canvas_new(grid_x + W * cell + 24 + legend_w, height > 580 ? height : 580);
    draw_title(&c, title);

    double cmin = INFINITY, cmax = -INFINITY, mmax = 0; /* fmin/fmax skip NaN (no data) */
    int over = 0;
    for (int k = 0; core_compute && k < cores; k++)
        cmin = fmin(cmin, core_compute[k]), cmax = fmax(cmax, core_compute[k]);
    if (!(cmin <= cmax)) cmin = cmax = 0; /* no core has data */
    for (int k = 0; core_memory && k < cores; k++) {
        mmax = fmax(mmax, core_memory[k]);
        over += core_memory[k] > mesh->core_memory;
    }
    int64_t lmax = 0;
    for (int l = 0; link_loads && l < SM_LINK_DIRS * cores; l++)
        if (sm_mesh_link_exists(mesh, l) && link_loads[l] > lmax) lmax = link_loads[l];

    /* links first, in the gaps; the squares do not overlap them */
    const double wmax = fmax(2.0, fmin(22.0, fmin(sq * 0.16, gap * 0.36))), wmin = fmax(1.0, wmax / 5);
    for (int l = 0; link_loads && gap >= 6 && l < SM_LINK_DIRS * cores; l++) {
        if (!sm_mesh_link_exists(mesh, l)) continue;
        int core = l / SM_LINK_DIRS, dir = l % SM_LINK_DIRS, x = core % W, y = core / W;
        double cx = grid_x + x * cell + cell / 2.0, cy = grid_y + y * cell + cell / 2.0;
        double off = sq * 0.22, reach = cell / 2.0 - sq / 2.0; /* square edge to cell edge */
        double x0, y0, x1, y1;
        switch (dir) { /* E above the centre line, W below, S left, N right */
        case SM_LINK_E: y0 = y1 = cy - off, x0 = cx + sq / 2.0 + 1, x1 = x0 + 2 * reach - 2; break;
        case SM_LINK_W: y0 = y1 = cy + off, x0 = cx - sq / 2.0 - 1, x1 = x0 - 2 * reach + 2; break;
        case SM_LINK_S: x0 = x1 = cx - off, y0 = cy + sq / 2.0 + 1, y1 = y0 + 2 * reach - 2; break;
        default:        x0 = x1 = cx + off, y0 = cy - sq / 2.0 - 1, y1 = y0 - 2 * reach + 2; break;
        }
        int64_t load = link_loads[l];
        if (load == 0 || lmax == 0) { /* a thin line: the link exists */
            if (x0 == x1) vline(&c, x0, y0, y1, 1, LIGHT);
            else hline(&c, x0, x1, y0, 1, LIGHT);
            continue;
        }
        double t = (double)load / (double)lmax;
        arrow(&c, x0, y0, x1, y1, wmin + (wmax - wmin) * t, ramp_heat(t));
    }

    /* cores */
    const int lab = sq >= 150 ? 3 : 2;
    for (int k = 0; k < cores; k++) {
        int x0 = grid_x + (k % W) * cell + gap / 2, y0 = grid_y + (k / W) * cell + gap / 2;
        const int no_compute = !core_compute || isnan(core_compute[k]);
        const int no_memory = !core_memory || isnan(core_memory[k]);
        double t = no_compute ? 0 : cmax > cmin ? (core_compute[k] - cmin) / (cmax - cmin) : 0.5;
        rgb fill = no_compute ? LIGHT : ramp_viridis(t);
        fill_rect(&c, x0, y0, x0 + sq, y0 + sq, fill);
        if (sq >= 8) frame_rect(&c, x0, y0, x0 + sq, y0 + sq, 1, DARK);
        rgb ink = ink_on(fill);
        char buf[64];
        int ty = y0 + 4;
        if (sq >= 34) { /* the core number, then figures while they fit */
            snprintf(buf, sizeof buf, "%d", k);
            int s = sq >= 34 + 2 * CHAR_H(2) + 20 ? lab : (text_width(buf, 2) <= sq - 6 ? 2 : 1);
            draw_text(&c, x0 + 4, ty, buf, s, ink);
            ty += CHAR_H(s) + 2;
        }
        int bar_h = sq >= 60 ? sq / 9 : sq >= 12 ? 4 : 0;
        if (!no_compute && sq >= 110) {
            fmt_num(buf, sizeof buf, core_compute[k]);
            if (text_width(buf, lab) <= sq - 8) draw_text(&c, x0 + 4, ty, buf, lab, ink), ty += CHAR_H(lab) + 2;
        }
        if (!no_memory && sq >= 110) {
            char pc[32];
            fmt_percent(pc, sizeof pc, core_memory[k] / mesh->core_memory);
            snprintf(buf, sizeof buf, "mem %s", pc);
            if (text_width(buf, lab) <= sq - 8 && ty + CHAR_H(lab) < y0 + sq - bar_h - 6)
                draw_text(&c, x0 + 4, ty, buf, lab, ink);
        }
        if (!no_memory && bar_h) { /* memory bar: inset at the bottom of the square */
            int in = sq >= 40 ? sq / 14 : 2;
            int bx0 = x0 + in, bx1 = x0 + sq - in, by1 = y0 + sq - in, by0 = by1 - bar_h;
            double frac = core_memory[k] / mesh->core_memory;
            fill_rect(&c, bx0, by0, bx1, by1, WHITE);
            int fx = bx0 + (int)lround((bx1 - bx0) * (frac > 1 ? 1 : frac));
            fill_rect(&c, bx0, by0, fx, by1, frac > 1 ? RED : DARK);
            frame_rect(&c, bx0 - 1, by0 - 1, bx1 + 1, by1 + 1, 1, BLACK);
        }
    }

    /* too small for numbers inside: x above the grid, y on its left, every k-th */
    if (small) {
        char b0[64];
        int k = (int)tick_step(cell, text_width("000", TEXT) + 10);
        for (int x = 0; x < W; x += k) {
            snprintf(b0, sizeof b0, "%d", x);
            draw_text_at(&c, grid_x + x * cell + cell / 2, grid_y - CHAR_H(TEXT) - 4, CENTRE, b0, TEXT, GREY);
        }
        k = (int)tick_step(cell, CHAR_H(TEXT) + 4);
        for (int y = 0; y < H; y += k) {
            snprintf(b0, sizeof b0, "%d", y);
            draw_text_at(&c, grid_x - 6, grid_y + y * cell + cell / 2 - CHAR_H(TEXT) / 2, RIGHT, b0, TEXT, GREY);
        }
        snprintf(b0, sizeof b0, "core = y * %d + x", W);
        draw_text(&c, grid_x + W * cell + 24, grid_y + H * cell - CHAR_H(TEXT), b0, TEXT, GREY);
    }

    /* legend */
    int lx = grid_x + W * cell + 24, ly = grid_y + 4, bw = legend_w - 40;
    char a[160], b[64];
    snprintf(a, sizeof a, "%dx%d mesh, %d cores", W, H, cores);
    draw_text(&c, lx, ly, a, TEXT, BLACK), ly += CHAR_H(TEXT) + 22;
    int no_data = 0;
    for (int k = 0; core_compute && k < cores; k++) no_data += isnan(core_compute[k]);
    if (core_compute) {
        if (compute_unit) snprintf(a, sizeof a, "core compute (%.24s)", compute_unit);
        else snprintf(a, sizeof a, "core compute");
        draw_text(&c, lx, ly, a, TEXT, BLACK), ly += CHAR_H(TEXT) + 6;
        colour_bar(&c, lx, ly, bw, 22, ramp_viridis), ly += 22 + 6;
        fmt_num(a, sizeof a, cmin), fmt_num(b, sizeof b, cmax);
        draw_text(&c, lx, ly, a, TEXT, BLACK), draw_text_at(&c, lx + bw, ly, RIGHT, b, TEXT, BLACK);
        ly += CHAR_H(TEXT) + 4;
        draw_text(&c, lx, ly, "min", TEXT, GREY), draw_text_at(&c, lx + bw, ly, RIGHT, "max", TEXT, GREY);
        ly += CHAR_H(TEXT) + 8;
        if (no_data) {
            fill_rect(&c, lx, ly, lx + 22, ly + 16, LIGHT);
            frame_rect(&c, lx, ly, lx + 22, ly + 16, 1, DARK);
            snprintf(a, sizeof a, "no data (%d core%s)", no_data, no_data == 1 ? "" : "s");
            draw_text(&c, lx + 32, ly, a, TEXT, BLACK);
            ly += 16;
        }
        ly += 16;
    }
    if (link_loads) {
        draw_text(&c, lx, ly, "link load (bytes)", TEXT, BLACK), ly += CHAR_H(TEXT) + 6;
        colour_bar(&c, lx, ly, bw, 22, ramp_heat), ly += 22 + 6;
        fmt_bytes(b, sizeof b, (double)lmax);
        draw_text(&c, lx, ly, "0", TEXT, BLACK), draw_text_at(&c, lx + bw, ly, RIGHT, b, TEXT, BLACK);
        ly += CHAR_H(TEXT) + 8;
        arrow(&c, lx, ly + 10, lx + 60, ly + 10, 2, ramp_heat(0.1));
        arrow(&c, lx + bw - 60, ly + 10, lx + bw, ly + 10, 7, ramp_heat(1));
        draw_text_at(&c, lx + bw / 2, ly + 3, CENTRE, "width", TEXT, GREY);
        ly += 24;
        draw_text(&c, lx, ly, gap >= 6 ? "grey: no traffic" : "(too small to draw)", TEXT, GREY);
        ly += CHAR_H(TEXT) + 24;
    }
    if (core_memory) {
        fmt_bytes(b, sizeof b, mesh->core_memory);
        snprintf(a, sizeof a, "memory of %s", b);
        draw_text(&c, lx, ly, a, TEXT, BLACK), ly += CHAR_H(TEXT) + 8;
        const rgb cols[2] = {DARK, RED};
        const char *names[2] = {"in use", "over"};
        for (int k = 0; k < 2; k++) {
            fill_rect(&c, lx, ly, lx + 60, ly + 14, WHITE);
            fill_rect(&c, lx, ly, lx + (k ? 60 : 36), ly + 14, cols[k]);
            frame_rect(&c, lx - 1, ly - 1, lx + 61, ly + 15, 1, BLACK);
            draw_text(&c, lx + 72, ly, names[k], TEXT, BLACK);
            ly += 24;
        }
        char pc[32];
        fmt_percent(pc, sizeof pc, mmax / mesh->core_memory);
        fmt_bytes(b, sizeof b, mmax);
        snprintf(a, sizeof a, "fullest %s (%s)", b, pc);
        draw_text(&c, lx, ly, a, TEXT, BLACK), ly += CHAR_H(TEXT) + 4;
        snprintf(a, sizeof a, "%d core%s over", over, over == 1 ? "" : "s");
        draw_text(&c, lx, ly, a, TEXT, over ? RED : BLACK);
    }
    rc = canvas_save(&c, path);
    free(c.px);
    return rc;
}

/* ---- heatmap ------------------------------------------------------------ */

int sm_picture_heatmap(const char *path, const double *matrix, int n, const char *title) {
    if (!path || !matrix) return sm_error("picture: no file name or matrix");
    if (n <= 0) return sm_error("picture: heatmap of %d x %d, expected n >= 1", n, n);
    int rc = check_values(matrix, (long)n * n, "matrix", 0);
    if (rc) return rc;
    /* bin to at most 1000 x 1000 cells (sums of f x f blocks) */
    const int f = (n + 999) / 1000, m = (n + f - 1) / f;
    double *cell = sm_xcalloc((size_t)m * m, sizeof(double));
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) cell[(i / f) * m + j / f] += matrix[i * n + j];
    double vmin = INFINITY, vmax = 0;
    long nonzero = 0;
    for (long k = 0; k < (long)m * m; k++)
        if (cell[k] > 0) vmin = fmin(vmin, cell[k]), vmax = fmax(vmax, cell[k]), nonzero++;
    const int px = 800 / m > 100 ? 100 : 800 / m > 1 ? 800 / m : 1; /* pixels per cell */
    const int plot = m * px;
    char label[64];
    snprintf(label, sizeof label, "%d", n - 1);
    const int left = 40 + text_width(label, TEXT) + 16, top = 72 + CHAR_H(TEXT) + 14;
    const int legend_w = 250;
    const int height = top + plot + 2 * CHAR_H(TEXT) + 50;
    canvas c = canvas_new(left + plot + 40 + legend_w, height > 560 ? height : 560);
    draw_title(&c, title);
    const double lo = log(vmin), span = vmax > vmin ? log(vmax) - lo : 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            double v = cell[(long)i * m + j];
            rgb col = v > 0 ? ramp_viridis(span > 0 ? (log(v) - lo) / span : 1) : WHITE;
            fill_rect(&c, left + j * px, top + i * px, left + (j + 1) * px, top + (i + 1) * px, col);
        }
    if (px >= 12) /* light cell borders help count small matrices */
        for (int k = 1; k < m; k++) {
            fill_rect(&c, left + k * px, top, left + k * px + 1, top + plot, LIGHT);
            fill_rect(&c, left, top + k * px, left + plot, top + k * px + 1, LIGHT);
        }
    frame_rect(&c, left - 1, top - 1, left + plot + 1, top + plot + 1, 1, BLACK);

    /* ticks at the centres of rows / columns k·step (indices of the matrix) */
    const double ppu = (double)px / f; /* pixels per matrix index */
    long step_x = tick_step(ppu, text_width(label, TEXT) + 14), step_y = tick_step(ppu, CHAR_H(TEXT) + 6);
    for (long k = 0; k < n; k += step_x) {
        int x = left + (int)lround((k + 0.5) * ppu);
        fill_rect(&c, x, top + plot + 1, x + 1, top + plot + 7, BLACK);
        snprintf(label, sizeof label, "%ld", k);
        draw_text_at(&c, x, top + plot + 10, CENTRE, label, TEXT, BLACK);
    }
    for (long k = 0; k < n; k += step_y) {
        int y = top + (int)lround((k + 0.5) * ppu);
        fill_rect(&c, left - 7, y, left - 1, y + 1, BLACK);
        snprintf(label, sizeof label, "%ld", k);
        draw_text_at(&c, left - 10, y - CHAR_H(TEXT) / 2 + 1, RIGHT, label, TEXT, BLACK);
    }
    draw_text_at(&c, left + plot / 2, top + plot + 14 + CHAR_H(TEXT), CENTRE, "receiver", TEXT, BLACK);
    draw_text(&c, 8, top - CHAR_H(TEXT) - 10, "sender", TEXT, BLACK);

    /* legend: a vertical log bar, decades labelled, and the white of 0 */
    int lx = left + plot + 40, ly = top, bh = plot < 300 ? 300 : plot > 600 ? 600 : plot;
    if (ly + bh + 120 > c.h) bh = c.h - ly - 120;
    draw_text(&c, lx, ly - CHAR_H(TEXT) - 10, "bytes (log)", TEXT, BLACK);
    if (nonzero) {
        for (int y = 0; y < bh; y++)
            fill_rect(&c, lx, ly + y, lx + 28, ly + y + 1, ramp_viridis(1.0 - (double)y / (bh - 1)));
        frame_rect(&c, lx - 1, ly - 1, lx + 29, ly + bh + 1, 1, BLACK);
        /* labels: max at the top, min at the bottom, decades between when they do not crowd */
        int last_y = ly - 100;
        fmt_bytes(label, sizeof label, vmax);
        draw_text(&c, lx + 38, ly, label, TEXT, BLACK);
        last_y = ly;
        int min_y = ly + bh - CHAR_H(TEXT);
        if (span > 0) {
            for (double d = pow(10, floor(log10(vmax))); d > vmin; d /= 10) {
                int y = ly + (int)lround((1 - (log(d) - lo) / span) * (bh - 1));
                if (y - last_y < CHAR_H(TEXT) + 8 || min_y - y < CHAR_H(TEXT) + 8) continue;
                fill_rect(&c, lx + 28, y, lx + 34, y + 1, BLACK);
                fmt_bytes(label, sizeof label, d);
                draw_text(&c, lx + 38, y - CHAR_H(TEXT) / 2, label, TEXT, BLACK);
                last_y = y;
            }
            fmt_bytes(label, sizeof label, vmin);
            draw_text(&c, lx + 38, min_y, label, TEXT, BLACK);
        }
    } else {
        draw_text(&c, lx, ly, "no traffic", TEXT, BLACK);
    }
    int zy = ly + bh + 20;
    fill_rect(&c, lx, zy, lx + 28, zy + 20, WHITE);
    frame_rect(&c, lx - 1, zy - 1, lx + 29, zy + 21, 1, BLACK);
    draw_text(&c, lx + 38, zy + 2, "0", TEXT, BLACK);
    snprintf(label, sizeof label, "%d x %d", n, n);
    draw_text(&c, lx, zy + 40, label, TEXT, GREY);
    if (f > 1) {
        snprintf(label, sizeof label, "cells: %dx%d sums", f, f);
        draw_text(&c, lx, zy + 40 + CHAR_H(TEXT) + 6, label, TEXT, GREY);
    }
    free(cell);
    rc = canvas_save(&c, path);
    free(c.px);
    return rc;
}

/* ---- curves ------------------------------------------------------------- */

/* Distinct colours for traces (Tableau 10), cycled. */
static rgb trace_colour(int k) {
    static const rgb pal[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
    return pal[k % 10];
}

/* Axis: value -> pixel, linear or log10. */
typedef struct { double lo, hi; int log; int p0, p1; } axis;

static double axis_px(const axis *a, double v) {
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return a->p0 + t * (a->p1 - a->p0);
}

/* Decade label: 0.01, 0.1, 1, 10, 100, 1000, and 1e4, 1e-3 ... beyond. */
static void fmt_decade(char *buf, size_t n, int e) {
    if (e >= 0 && e <= 3) snprintf(buf, n, "%.0f", pow(10, e));
    else if (e >= -2 && e < 0) snprintf(buf, n, "%g", pow(10, e));
    else snprintf(buf, n, "1e%d", e);
}

int sm_picture_curves(const char *path, int n_curves, const char *const *names,
                      const sm_place_trace *traces, const char *title) {
    if (!path || !names || !traces) return sm_error("picture: no file name, names or traces");
    if (n_curves <= 0) return sm_error("picture: %d curves, expected at least 1", n_curves);
    double emax = 1, cmin = INFINITY, cmax = -INFINITY;
    for (int k = 0; k < n_curves; k++) {
        if (!names[k]) return sm_error("picture: curve %d has no name", k);
        if (traces[k].n > 0 && !traces[k].points)
            return sm_error("picture: curve %d (%s) has no points", k, names[k]);
        for (int i = 0; i < traces[k].n; i++) {
            const sm_place_point *q = &traces[k].points[i];
            if (q->evaluations < 0 || !isfinite(q->cost))
                return sm_error("picture: curve %d (%s) point %d: %ld evaluations, cost %g; expected "
                                "evaluations >= 0 and a finite cost", k, names[k], i, q->evaluations, q->cost);
            emax = fmax(emax, (double)q->evaluations);
            cmin = fmin(cmin, q->cost), cmax = fmax(cmax, q->cost);
        }
    }
    const int W = 1160, H = 700, legend_w = 310;
    canvas c = canvas_new(W, H);
    int top = draw_title(&c, title) + CHAR_H(TEXT) + 20;
    axis ax = {1, pow(10, ceil(log10(emax) + 1e-9)), 1, 120, W - legend_w - 30};
    if (ax.hi < 10) ax.hi = 10;
    axis ay = {0, 1, 0, H - 90, top};
    if (!isfinite(cmin)) cmin = 0, cmax = 1; /* no points at all */
    if (cmin > 0 && cmax / cmin > 50) { /* log y: decades around the data */
        ay.log = 1, ay.lo = pow(10, floor(log10(cmin))), ay.hi = pow(10, ceil(log10(cmax)));
    } else {
        double span = cmax - cmin, pad = span > 0 ? span * 0.08 : fmax(fabs(cmax) * 0.1, 1e-3);
        ay.lo = cmin - pad, ay.hi = cmax + pad;
    }
    /* grid and axes */
    char buf[64];
    double offset = 0; /* subtracted from the y labels (linear axis only) */
    for (int e = 0; pow(10, e) <= ax.hi * 1.0001; e++) {
        double x = axis_px(&ax, pow(10, e));
        vline(&c, x, ay.p1, ay.p0, 1, (rgb){225, 225, 225});
        fmt_decade(buf, sizeof buf, e);
        draw_text_at(&c, (int)lround(x), ay.p0 + 10, CENTRE, buf, TEXT, BLACK);
        vline(&c, x, ay.p0, ay.p0 + 8, 2, BLACK);
        for (int k = 2; k <= 9 && pow(10, e) * k < ax.hi; k++)
            vline(&c, axis_px(&ax, pow(10, e) * k), ay.p0, ay.p0 + 5, 1, BLACK);
    }
    if (ay.log) {
        for (double d = ay.lo; d <= ay.hi * 1.0001; d *= 10) {
            double y = axis_px(&ay, d);
            hline(&c, ax.p0, ax.p1, y, 1, (rgb){225, 225, 225});
            hline(&c, ax.p0 - 8, ax.p0, y, 2, BLACK);
            fmt_decade(buf, sizeof buf, (int)lround(log10(d)));
            draw_text_at(&c, ax.p0 - 12, (int)lround(y) - CHAR_H(TEXT) / 2, RIGHT, buf, TEXT, BLACK);
        }
    } else {
        double raw = (ay.hi - ay.lo) / 6, mag = pow(10, floor(log10(raw))), step = mag;
        if (raw / mag > 5) step = 10 * mag;
        else if (raw / mag > 2) step = 5 * mag;
        else if (raw / mag > 1) step = 2 * mag;
        /* When the costs differ only far below their size (a memory penalty of 1e6 on
         * costs of about 4), 4 digits cannot tell the ticks apart: label them as
         * offsets from a round number and say so in the axis title. */
        if (fabs(ay.hi) / step >= 1e4) offset = floor(ay.lo / (step * 1000)) * step * 1000;
        for (double v = ceil(ay.lo / step) * step; v <= ay.hi; v += step) {
            double y = axis_px(&ay, v), shown = v - offset;
            if (fabs(shown) < step * 1e-6) shown = 0;
            hline(&c, ax.p0, ax.p1, y, 1, (rgb){225, 225, 225});
            hline(&c, ax.p0 - 8, ax.p0, y, 2, BLACK);
            fmt_num(buf, sizeof buf, shown);
            draw_text_at(&c, ax.p0 - 12, (int)lround(y) - CHAR_H(TEXT) / 2, RIGHT, buf, TEXT, BLACK);
        }
    }
    frame_rect(&c, ax.p0 - 1, ay.p1 - 1, ax.p1 + 2, ay.p0 + 2, 2, BLACK);
    draw_text_at(&c, (ax.p0 + ax.p1) / 2, ay.p0 + 14 + CHAR_H(TEXT), CENTRE, "evaluations (log scale)", TEXT,
                 BLACK);
    if (offset != 0) snprintf(buf, sizeof buf, "cost - %.10g", offset);
    else snprintf(buf, sizeof buf, "%s", ay.log ? "cost (log scale)" : "cost");
    draw_text(&c, 12, ay.p1 - CHAR_H(TEXT) - 16, buf, TEXT, BLACK);

    /* best-so-far steps, then a marker at each final point */
    for (int k = 0; k < n_curves; k++) {
        const sm_place_trace *t = &traces[k];
        rgb col = trace_colour(k);
        for (int i = 0; i < t->n; i++) {
            double e0 = fmax(1, (double)t->points[i].evaluations), y = axis_px(&ay, t->points[i].cost);
            double e1 = i + 1 < t->n ? fmax(1, (double)t->points[i + 1].evaluations) : e0;
            double x0 = axis_px(&ax, e0), x1 = axis_px(&ax, e1);
            hline(&c, x0, x1, y, 3, col);
            if (i + 1 < t->n) vline(&c, x1, y, axis_px(&ay, t->points[i + 1].cost), 3, col);
        }
        if (t->n) { /* later curves' markers smaller, so that equal final points stay visible */
            double x = axis_px(&ax, fmax(1, (double)t->points[t->n - 1].evaluations));
            double y = axis_px(&ay, t->points[t->n - 1].cost);
            int r = 4 + 2 * (n_curves - 1 - k);
            if (r > 14) r = 14;
            fill_rect(&c, (int)x - r, (int)y - r, (int)x + r + 1, (int)y + r + 1, col);
            frame_rect(&c, (int)x - r, (int)y - r, (int)x + r + 1, (int)y + r + 1, 1, BLACK);
        }
    }

    /* legend: colour, name, final cost */
    int lx = W - legend_w + 10, ly = ay.p1;
    draw_text(&c, lx, ly, "method: final cost", TEXT, BLACK);
    ly += CHAR_H(TEXT) + 14;
    for (int k = 0; k < n_curves && ly + CHAR_H(TEXT) < H - 10; k++) {
        fill_rect(&c, lx, ly + CHAR_H(TEXT) / 2 - 2, lx + 30, ly + CHAR_H(TEXT) / 2 + 2, trace_colour(k));
        char name[24], cost[24];
        snprintf(name, sizeof name, "%s", names[k]);
        if (strlen(names[k]) > 11) strcpy(name + 9, "..");
        if (traces[k].n && offset != 0) /* the digits that differ: as many as the ticks show */
            snprintf(cost, sizeof cost, "%.10g", traces[k].points[traces[k].n - 1].cost);
        else if (traces[k].n) fmt_num(cost, sizeof cost, traces[k].points[traces[k].n - 1].cost);
        else snprintf(cost, sizeof cost, "-");
        snprintf(buf, sizeof buf, "%s: %s", name, cost);
        draw_text(&c, lx + 38, ly, buf, TEXT, BLACK);
        ly += CHAR_H(TEXT) + 10;
    }
    int rc = canvas_save(&c, path);
    free(c.px);
    return rc;
}
