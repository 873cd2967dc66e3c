/* platform_cmd.c — `spikemesh platform`: the chip of a config as a SimGrid
 * platform, so that the unchanged code (built with smpicc, docs/simgrid.md)
 * runs on simulated cores whose messages share simulated links.
 *
 * The platform is the chip of DESIGN.md "Communication", link for link:
 *   - host "c<k>" for core k (row-major, x = k % mesh_w), speed chip.core_gflops;
 *   - four directed links per core named by the direction they leave it in,
 *     "l<k>E", "l<k>W", "l<k>N", "l<k>S" (the link ids 4k + dir of sm_graph.h),
 *     each of chip.link_bandwidth and chip.hop_latency; a link that would leave
 *     the mesh is not written;
 *   - one route per ordered pair of cores: the XY route (x first, then y), the
 *     same one the cost model charges (docs/cost-model.md).
 * The hostfile lists c0 .. c<N-1>, so rank r runs on core r as under mpirun.
 * Routes are written out in full ("Full" routing), which grows as N²·(w + h):
 * 0.2 MB for 8×8, 19 MB for 16×16; meshes over SM_PLATFORM_MAX_CORES are refused.
 */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm_cli.h"
#include "sm_common.h"

/* N cores make N(N-1) routes: 1024 cores (32x32) write about 0.6 GB. */
#define SM_PLATFORM_MAX_CORES 1024

static const char USAGE[] =
    "usage: spikemesh platform -c CONFIG [--set key.path=value ...] --out DIR\n"
    "\n"
    "Write the chip of CONFIG (chip.mesh_w x chip.mesh_h cores, chip.link_bandwidth,\n"
    "chip.hop_latency, chip.core_gflops) as a SimGrid platform, DIR/platform.xml, and\n"
    "DIR/hostfile (rank r on core r), and print the smpirun command that runs train\n"
    "on it with a SimGrid build of spikemesh (scripts/build-smpi; docs/simgrid.md).\n";

/* The XY route from core a to core b, as link names appended to f. */
static void write_route(FILE *f, int w, int a, int b) {
    int x = a % w, y = a / w;
    const int bx = b % w, by = b / w;
    fprintf(f, "<route src=\"c%d\" dst=\"c%d\" symmetrical=\"NO\">", a, b);
    while (x != bx) {
        fprintf(f, "<link_ctn id=\"l%d%c\"/>", y * w + x, bx > x ? 'E' : 'W');
        x += bx > x ? 1 : -1;
    }
    while (y != by) {
        fprintf(f, "<link_ctn id=\"l%d%c\"/>", y * w + x, by > y ? 'S' : 'N');
        y += by > y ? 1 : -1;
    }
    fputs("</route>\n", f);
}

/* The platform as text (malloc'd; NULL when memory ran out). */
static char *platform_text(const sm_chip_params *chip) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    const sm_mesh mesh = {.mesh_w = chip->mesh_w, .mesh_h = chip->mesh_h};
    const int w = chip->mesh_w, h = chip->mesh_h, n = w * h;
    fprintf(f, "<?xml version=\"1.0\"?>\n<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
               "<!-- spikemesh platform: a %dx%d mesh, XY routes (docs/simgrid.md) -->\n"
               "<platform version=\"4.1\">\n", w, h);
    /* How SMPI must run for its ranks to behave as the chip's cores (docs/simgrid.md,
     * "Why these settings"); network/model must be given on smpirun's command line. */
    fprintf(f, "<config>\n"
               "<prop id=\"network/crosstraffic\" value=\"0\"/>\n"
               "<prop id=\"smpi/send-is-detached-thresh\" value=\"2000000000\"/>\n"
               "<prop id=\"smpi/async-small-thresh\" value=\"2000000000\"/>\n"
               "<prop id=\"smpi/iprobe\" value=\"1e-9\"/>\n"
               "<prop id=\"smpi/test\" value=\"1e-9\"/>\n"
               "<prop id=\"smpi/simulate-computation\" value=\"%s\"/>\n"
               "</config>\n<zone id=\"mesh\" routing=\"Full\">\n",
            chip->compute_flops ? "no" : "yes");
    for (int k = 0; k < n; k++) fprintf(f, "<host id=\"c%d\" speed=\"%.17gf\"/>\n", k, chip->core_gflops * 1e9);
    for (int k = 0; k < n; k++) /* the links of sm_graph.h, named by the direction they leave core k in */
        for (int d = 0; d < SM_LINK_DIRS; d++)
            if (sm_mesh_link_exists(&mesh, SM_LINK_DIRS * k + d))
                fprintf(f, "<link id=\"l%d%c\" bandwidth=\"%.17gBps\" latency=\"%.17gs\"/>\n", k, "EWNS"[d],
                        chip->link_bandwidth, chip->hop_latency);
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if (a != b) write_route(f, w, a, b);
    fputs("</zone>\n</platform>\n", f);
    if (fclose(f) != 0) free(text), text = NULL;
    return text;
}

int sm_cmd_platform(int argc, char **argv) {
    static const char *const allowed[] = {"config", "set", "out", NULL};
    sm_cli_options o;
    int rc = sm_cli_parse(argc, argv, USAGE, allowed, &o);
    if (rc) return rc;
    sm_cfg *cfg = NULL;
    sm_model m;
    memset(&m, 0, sizeof m);
    if (!o.out) rc = sm_error("missing --out DIR\n%s", USAGE);
    if (!rc) rc = sm_cli_one_rank("platform");
    if (!rc) rc = sm_cli_setup(&o, &cfg, &m);
    const int n = m.chip.mesh_w * m.chip.mesh_h;
    if (!rc && n > SM_PLATFORM_MAX_CORES)
        rc = sm_error("%s: the chip has %d cores (chip.mesh_w %d x chip.mesh_h %d); the platform lists the route "
                      "of every pair of cores and is written for at most %d",
                      o.config, n, m.chip.mesh_w, m.chip.mesh_h, SM_PLATFORM_MAX_CORES);
    char xml[4096], hosts[4096];
    if (!rc && ((size_t)snprintf(xml, sizeof xml, "%s/platform.xml", o.out) >= sizeof xml ||
                (size_t)snprintf(hosts, sizeof hosts, "%s/hostfile", o.out) >= sizeof hosts))
        rc = sm_error("--out %s: path too long", o.out);
    if (!rc && mkdir(o.out, 0777) != 0 && errno != EEXIST) rc = sm_fail("cannot create %s: %s", o.out, strerror(errno));
    if (!rc) {
        char *text = platform_text(&m.chip);
        rc = text ? sm_cli_write_text(xml, text) : sm_fail("%s: out of memory building the platform", xml);
        free(text);
    }
    if (!rc) {
        char *list = sm_xmalloc((size_t)n * 8 + 1), *at = list; /* "c<k>\n", k < 1024 */
        for (int k = 0; k < n; k++) at += sprintf(at, "c%d\n", k);
        *at = 0;
        rc = sm_cli_write_text(hosts, list);
        free(list);
    }
    if (!rc) {
        printf("wrote %s (%dx%d mesh, %g B/s and %g s per link, %g GFLOP/s per core) and %s\n", xml, m.chip.mesh_w,
               m.chip.mesh_h, m.chip.link_bandwidth, m.chip.hop_latency, m.chip.core_gflops, hosts);
        printf("run it with a SimGrid build of spikemesh (scripts/build-smpi) and the same --set options:\n"
               "  smpirun -np %d -platform %s -hostfile %s --cfg=network/model:CM02 \\\n"
               "    build-smpi/spikemesh train -c %s ...\n",
               n, xml, hosts, o.config);
        if (!m.chip.compute_flops)
            printf("chip.compute is measured: each rank's CPU time is simulated on a %g GFLOP/s core once smpirun\n"
                   "is told this machine's speed (--cfg=smpi/host-speed:FLOPS); chip.compute: flops needs nothing.\n",
                   m.chip.core_gflops);
    }
    sm_model_free(&m);
    sm_cfg_free(cfg);
    free(o.sets);
    return rc;
}
