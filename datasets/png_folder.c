/* png_folder.c — image folders: root/<class>/<file>.png, read with libpng.
 *
 * Order is deterministic: class folders and files are sorted by strcmp (byte
 * order, not the locale), class k is the k-th folder. Names starting with '.'
 * are skipped, and so are files not ending in ".png" (any case).
 *
 * Every PNG is decoded by libpng's classic API into 8-bit gray or RGB:
 * palette and low-bit gray are expanded, 16-bit is scaled to 8, alpha is
 * dropped. libpng reports errors by longjmp; the setjmp lives in png_decode(),
 * whose state is all in a struct owned by its caller, so nothing leaks and no
 * local variable is left indeterminate when a corrupt file jumps back.
 */
#define _GNU_SOURCE
#include "sm_data.h"
#include "sm_common.h"

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PNG_MAX_PIXELS (1u << 28) /* larger images are taken as corrupt */

/* ---- directory listing -------------------------------------------------- */

typedef struct {
    char **names;
    int count;
} name_list;

static void name_list_free(name_list *l) {
    for (int i = 0; i < l->count; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL, l->count = 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_png_suffix(const char *name) {
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

/* Sorted names in `dir` that are folders (want_dirs) or regular .png files.
 * Returns SM_OK with *out filled (caller frees with name_list_free), or
 * SM_EINPUT naming the folder when it cannot be opened. */
static int list_folder(name_list *out, const char *dir, int want_dirs) {
    out->names = NULL, out->count = 0;
    DIR *d = opendir(dir);
    if (!d) return sm_error("%s: cannot open folder: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !has_png_suffix(e->d_name)) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *full = sm_xmalloc(len);
        snprintf(full, len, "%s/%s", dir, e->d_name);
        struct stat st;
        int ok = stat(full, &st) == 0 && (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        free(full);
        if (!ok) continue;
        if (out->count == cap) {
            cap = cap ? 2 * cap : 64;
            out->names = sm_xrealloc(out->names, (size_t)cap * sizeof(char *));
        }
        out->names[out->count++] = sm_xstrdup(e->d_name);
    }
    closedir(d);
    if (out->count > 1) qsort(out->names, (size_t)out->count, sizeof(char *), compare_names);
    return SM_OK;
}

/* ---- one PNG ------------------------------------------------------------ */

typedef struct {
    FILE *fp;
    png_structp png;
    png_infop info;
    uint8_t *pixels;   /* [height][width][channels] 8-bit, owned */
    png_bytep *rows;   /* row pointers into pixels, owned */
    uint32_t width, height;
    int channels;      /* 1 (gray) or 3 (RGB) after the transforms */
    char message[384]; /* libpng's reason for an error */
    char warning[128]; /* its last warning */
    int in_header;     /* 1 while the header is read: an error there may be a kind libpng refuses */
} png_read;

/* The error, after the warning that explained it if there was one (libpng
 * says "Invalid IHDR data" after warning "Unknown compression method in IHDR"). */
static void on_png_error(png_structp png, png_const_charp msg) {
    png_read *r = png_get_error_ptr(png);
    char why[sizeof r->warning + 4] = "";
    if (*r->warning) snprintf(why, sizeof why, " (%s)", r->warning);
    snprintf(r->message, sizeof r->message, "%s%s", msg, why);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    png_read *r = png_get_error_ptr(png);
    snprintf(r->warning, sizeof r->warning, "%s", msg);
}

/* libpng's default reader says only "Read Error" at end of file; say why. */
static void on_png_read(png_structp png, png_bytep data, size_t length) {
    png_read *r = png_get_io_ptr(png);
    size_t got = fread(data, 1, length, r->fp);
    if (got == length) return;
    if (ferror(r->fp)) png_error(png, "read error");
    png_error(png, "file ends early (truncated)");
}

/* Decode r->fp (signature already checked and consumed) into r->pixels.
 * Returns 0, or -1 with r->message set. The only function with a setjmp. */
static int png_decode(png_read *r) {
    if (setjmp(png_jmpbuf(r->png))) return -1;
    png_set_read_fn(r->png, r, on_png_read);
    png_set_sig_bytes(r->png, 8);
    r->in_header = 1;
    png_read_info(r->png, r->info);
    r->width = png_get_image_width(r->png, r->info);
    r->height = png_get_image_height(r->png, r->info);
    if ((uint64_t)r->width * r->height > PNG_MAX_PIXELS) png_error(r->png, "image too large");
    int depth = png_get_bit_depth(r->png, r->info);
    int color = png_get_color_type(r->png, r->info);
    if (color == PNG_COLOR_TYPE_PALETTE || depth < 8 ||
        png_get_valid(r->png, r->info, PNG_INFO_tRNS))
        png_set_expand(r->png);
    if (depth == 16) png_set_scale_16(r->png);
    png_set_strip_alpha(r->png);
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    r->channels = png_get_channels(r->png, r->info);
    size_t row_bytes = png_get_rowbytes(r->png, r->info);
    if ((r->channels != 1 && r->channels != 3) || row_bytes != (size_t)r->width * r->channels)
        png_error(r->png, "unsupported pixel layout");
    r->in_header = 0;
    r->pixels = sm_xmalloc(row_bytes * r->height);
    r->rows = sm_xmalloc(r->height * sizeof(png_bytep));
    for (uint32_t y = 0; y < r->height; y++) r->rows[y] = r->pixels + y * row_bytes;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    return 0;
}

/* Read one PNG file into 8-bit pixels (*pixels, [h][w][channels], caller
 * frees). Returns SM_OK, or SM_EINPUT naming the file and why. */
static int png_load_file(const char *path, uint8_t **pixels, uint32_t *h, uint32_t *w,
                         int *channels) {
    png_read r;
    memset(&r, 0, sizeof r);
    *pixels = NULL;
    r.fp = fopen(path, "rb");
    if (!r.fp) return sm_error("%s: cannot open: %s", path, strerror(errno));
    uint8_t sig[8];
    if (fread(sig, 1, 8, r.fp) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(r.fp);
        return sm_error("%s: not a PNG file (expected the 8-byte PNG signature)", path);
    }
    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_png_error, on_png_warning);
    r.info = r.png ? png_create_info_struct(r.png) : NULL;
    if (!r.info) {
        png_destroy_read_struct(&r.png, NULL, NULL);
        fclose(r.fp);
        return sm_fail("%s: cannot start libpng (out of memory)", path);
    }
    int failed = png_decode(&r);
    png_destroy_read_struct(&r.png, &r.info, NULL);
    fclose(r.fp);
    free(r.rows);
    if (failed) {
        free(r.pixels);
        return r.in_header ? sm_error("%s: corrupt PNG header, or a kind of PNG that cannot be read (gray, "
                                      "RGB or palette images of 1 to 16 bits are): %s", path, r.message)
                           : sm_error("%s: corrupt PNG: %s", path, r.message);
    }
    *pixels = r.pixels, *h = r.height, *w = r.width, *channels = r.channels;
    return SM_OK;
}

/* ---- pixels to the sample layout --------------------------------------- */

/* 8-bit [h][w][src_c] to floats [want_c][h][w] in [0,1]: RGB to gray by ITU-R
 * 601 luma, gray to RGB by replication. */
static void to_planes(float *out, const uint8_t *px, int h, int w, int src_c, int want_c) {
    size_t plane = (size_t)h * w;
    for (size_t p = 0; p < plane; p++) {
        const uint8_t *v = px + p * src_c;
        if (want_c == 1) {
            out[p] = src_c == 1 ? v[0] / 255.0f
                                : (float)((0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]) / 255.0);
        } else {
            for (int ch = 0; ch < 3; ch++) out[ch * plane + p] = v[src_c == 1 ? 0 : ch] / 255.0f;
        }
    }
}

/* Bilinear resize of c planes [c][ih][iw] to [c][oh][ow] with half-pixel
 * centres (sample at (o + 0.5) * in/out - 0.5, clamped to the border), as
 * PIL and PyTorch's align_corners=False do without antialiasing. */
static void resize_bilinear(float *out, int oh, int ow, const float *in, int ih, int iw, int c) {
    for (int ch = 0; ch < c; ch++) {
        const float *src = in + (size_t)ch * ih * iw;
        float *dst = out + (size_t)ch * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            double sy = (oy + 0.5) * ih / oh - 0.5;
            if (sy < 0) sy = 0;
            if (sy > ih - 1) sy = ih - 1;
            int y0 = (int)sy, y1 = y0 + 1 < ih ? y0 + 1 : y0;
            double fy = sy - y0;
            for (int ox = 0; ox < ow; ox++) {
                double sx = (ox + 0.5) * iw / ow - 0.5;
                if (sx < 0) sx = 0;
                if (sx > iw - 1) sx = iw - 1;
                int x0 = (int)sx, x1 = x0 + 1 < iw ? x0 + 1 : x0;
                double fx = sx - x0;
                double top = src[y0 * iw + x0] * (1 - fx) + src[y0 * iw + x1] * fx;
                double bottom = src[y1 * iw + x0] * (1 - fx) + src[y1 * iw + x1] * fx;
                dst[oy * ow + ox] = (float)(top * (1 - fy) + bottom * fy);
            }
        }
    }
}

/* Read `path` into one sample slot out[want_c][want_h][want_w]. */
static int load_sample(float *out, const char *path, int want_c, int want_h, int want_w,
                       int resize) {
    uint8_t *px;
    uint32_t h, w;
    int channels;
    int rc = png_load_file(path, &px, &h, &w, &channels);
    if (rc) return rc;
    if (h == (uint32_t)want_h && w == (uint32_t)want_w) {
        to_planes(out, px, want_h, want_w, channels, want_c);
    } else if (!resize) {
        rc = sm_error("%s: image is %ux%u (height x width), expected %dx%d (enable resizing to "
                      "scale it)", path, h, w, want_h, want_w);
    } else {
        float *planes = sm_xmalloc((size_t)want_c * h * w * sizeof(float));
        to_planes(planes, px, (int)h, (int)w, channels, want_c);
        resize_bilinear(out, want_h, want_w, planes, (int)h, (int)w, want_c);
        free(planes);
    }
    free(px);
    return rc;
}

/* ---- the folder --------------------------------------------------------- */

/* sm_png_folder_load: see sm_data.h. With limit > 0 the kept files are taken
 * round-robin over the classes (file 0 of every class, then file 1, ...) so a
 * small limit still sees every class; samples stay in class-major order.
 * n_classes is 1 + the largest label kept. On error *out is zeroed. */
int sm_png_folder_load(sm_dataset *out, const char *root, int want_c, int want_h, int want_w,
                       int resize, int limit) {
    memset(out, 0, sizeof *out);
    if (want_c != 1 && want_c != 3)
        return sm_error("%s: PNG folder channels must be 1 or 3, got %d", root, want_c);
    if (want_h < 1 || want_w < 1)
        return sm_error("%s: PNG folder image size must be positive, got %dx%d", root, want_h,
                        want_w);

    name_list classes;
    int rc = list_folder(&classes, root, 1);
    if (rc) return rc;
    if (classes.count == 0) {
        name_list_free(&classes);
        return sm_error("%s: no class folders, expected root/<class>/<file>.png", root);
    }
    name_list *files = sm_xcalloc((size_t)classes.count, sizeof(name_list));
    int *take = sm_xcalloc((size_t)classes.count, sizeof(int));
    char path[4096];
    long total = 0;
    for (int k = 0; k < classes.count && !rc; k++) {
        snprintf(path, sizeof path, "%s/%s", root, classes.names[k]);
        rc = list_folder(&files[k], path, 0);
        if (!rc && files[k].count == 0)
            rc = sm_error("%s: empty class folder, expected at least one .png file", path);
        if (!rc) total += files[k].count;
    }
    if (rc) goto done;

    /* how many files of each class to keep */
    long keep = limit > 0 && limit < total ? limit : total;
    for (long kept = 0, round = 0; kept < keep; round++)
        for (int k = 0; k < classes.count && kept < keep; k++)
            if (round < files[k].count) take[k]++, kept++;

    size_t dim = (size_t)want_c * want_h * want_w;
    out->n = (int)keep;
    out->c = want_c, out->h = want_h, out->w = want_w;
    out->x = sm_falloc((size_t)keep * dim);
    out->y = sm_xmalloc((size_t)keep * sizeof(int32_t));
    int i = 0;
    for (int k = 0; k < classes.count && !rc; k++) {
        for (int f = 0; f < take[k] && !rc; f++, i++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, classes.names[k], files[k].names[f]);
            rc = load_sample(out->x + (size_t)i * dim, path, want_c, want_h, want_w, resize);
            out->y[i] = k;
            if (k + 1 > out->n_classes) out->n_classes = k + 1;
        }
    }
done:
    for (int k = 0; k < classes.count; k++) name_list_free(&files[k]);
    free(files);
    free(take);
    name_list_free(&classes);
    if (rc) sm_dataset_free(out);
    return rc;
}
