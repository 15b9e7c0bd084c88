/* libFuzzer target for the gate policy reader: whatever the input, the
 * reader returns a policy or an error that says why, and never crashes or
 * leaks. Seeds: rules/gate.yaml. */
#include "memtrace/analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_gate_policy *p;
    mt_diag d;
    int rc = mt_gate_policy_parse("fuzz.yaml", (const char *)data, size, &p, &d);
    if (rc && (!d.msg[0] || d.code != rc || p)) __builtin_trap(); /* errors say why */
    if (!rc && !p) __builtin_trap();
    mt_gate_policy_free(p);
    return 0;
}
