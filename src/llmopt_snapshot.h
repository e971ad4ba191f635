#ifndef _LLMOPT_SNAPSHOT_H_INCLUDED_
#define _LLMOPT_SNAPSHOT_H_INCLUDED_
#include "llmopt_core.h"
typedef struct {
    const char     *name;
    size_t          name_len;
    uint64_t        shape;
    const void     *params;
    size_t          size;
} llmopt_snapshot_entry_t;
size_t llmopt_snapshot_size(const llmopt_snapshot_entry_t *e, unsigned n);
int llmopt_snapshot_encode(void *buf, size_t len, uint64_t created_ms, uint64_t catalog, const llmopt_snapshot_entry_t *e, unsigned n);
int llmopt_snapshot_decode(const void *buf, size_t len, llmopt_snapshot_entry_t *e, unsigned *n, uint64_t *created_ms, uint64_t *catalog, llmopt_err_t *err);
const llmopt_snapshot_entry_t *llmopt_snapshot_find(const llmopt_snapshot_entry_t *e, unsigned n, const char *name, size_t len);
#endif
