/* fuzz_config.c — the YAML config reader and the model it describes
 * (sm_cfg_load_string, sm_model_from_config): any text gives SM_OK or a
 * message, never a crash. Models are capped by chip.core_memory checks; the
 * harness skips building ones the config reader itself accepted as larger than
 * the fuzzer's memory limit would allow (see fuzz/README.md). */
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_config.h"
#include "sm_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    sm_cfg *cfg = NULL;
    if (sm_cfg_load_string(&cfg, text, "fuzz.yaml") == SM_OK) {
        sm_model m;
        memset(&m, 0, sizeof m);
        if (sm_model_from_config(&m, cfg) == SM_OK) sm_model_free(&m);
        sm_cfg_free(cfg);
    }
    sm_error_clear();
    free(text);
    return 0;
}
