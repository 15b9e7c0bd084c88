/* libFuzzer target for the rule file reader: the input is read as a rule
 * file on its own, then over the shipped rules (as --rules does), and the
 * rules that load are applied to a small table. Seeds: rules/ *.yaml. */
#include <math.h>
#include <string.h>
#include "memtrace/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char base[] = "rules:\n  - {id: int-downcast, scope: column, action: {to: int8, message: m}}\n";
    mt_df_frame_info f = { .rec = { .id = 1, .name = { "f", 1 }, .rows = 10, .deep_bytes = 80, .step = { "s", 1 } },
                           .n_columns = 1 };
    mt_df_col_info c = { .rec = { .frame = 1, .name = { "c", 1 }, .dtype = { "int64", 5 }, .shallow_bytes = 80,
                                  .deep_bytes = 80, .distinct_count = 3 } };
    mt_df_step st = { "s", 1, 1e6, 1e5, 2e6, 80, 1, 0 };
    mt_df_table t = { 1, &f, 1, &c, 1, &st, 80, 80, 80 };
    mt_gpu_device g = { 0, { "gpu", 3 }, 100, 50, 10 };
    for (int pass = 0; pass < 2; pass++) {
        mt_rules *r;
        mt_diag d;
        if (mt_rules_new(&r)) return 0;
        if (pass && mt_rules_add(r, "base.yaml", base, sizeof base - 1, &d)) __builtin_trap();
        int rc = mt_rules_add(r, "fuzz.yaml", (const char *)data, size, &d);
        if (rc && (!d.msg[0] || d.code != rc)) __builtin_trap(); /* errors say why */
        mt_advise_input in = { &t, &g, 1, 1e6, 0, 0, NULL };
        mt_advice_list *l = NULL;
        if (mt_advise(r, &in, &l, &d) == 0)
            for (size_t i = 0; i < l->n; i++)
                if (!l->items[i].message || !l->items[i].rule) __builtin_trap();
        mt_advice_list_free(l);
        mt_rules_free(r);
    }
    return 0;
}
