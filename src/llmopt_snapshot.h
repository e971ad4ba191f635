
/*
 * Copyright (C) llmopt authors
 *
 * The image of the state file (llmopt_state_file): the learned parameter
 * blocks of several policies, each under its name and shape, with a
 * version and a checksum.  Fixed-width little-endian fields, so a file
 * moves between machines; parameters are copied as they are (doubles of
 * the host, IEEE 754 everywhere llmopt runs).  docs/LEARNING.md ("State
 * file") gives the layout.  Nothing here allocates or does I/O: the
 * caller reads and writes the file.
 */

#ifndef _LLMOPT_SNAPSHOT_H_INCLUDED_
#define _LLMOPT_SNAPSHOT_H_INCLUDED_


#include "llmopt_core.h"


typedef struct {
    const char     *name;        /* policy name, not NUL-terminated */
    size_t          name_len;    /* 1 .. 255 */
    uint64_t        shape;       /* hash of the policy's layout */
    const void     *params;      /* its bandit block */
    size_t          size;
} llmopt_snapshot_entry_t;


/* Bytes llmopt_snapshot_encode() writes for these entries. */
size_t llmopt_snapshot_size(const llmopt_snapshot_entry_t *e, unsigned n);

/*
 * Writes the image into buf (len >= llmopt_snapshot_size()), with the
 * time it was made and the catalog version in its header.  LLMOPT_OK, or
 * LLMOPT_ERROR when buf is too small or a name is empty or too long.
 */
int llmopt_snapshot_encode(void *buf, size_t len, uint64_t created_ms,
    uint64_t catalog, const llmopt_snapshot_entry_t *e, unsigned n);

/*
 * Checks an image and lists its entries; they point into buf (params are
 * 8-aligned when buf is).  *n: in, the room in e; out, the entries found.
 * LLMOPT_OK; LLMOPT_AGAIN when the image has more entries than room, *n
 * then the count it has (call again with that room); or LLMOPT_ERROR with
 * err->msg: "not an llmopt state file", "state file version N is not
 * supported", "checksum mismatch (damaged or truncated)", "malformed state
 * file".  Reads nothing outside buf[0 .. len - 1], whatever the bytes.
 */
int llmopt_snapshot_decode(const void *buf, size_t len,
    llmopt_snapshot_entry_t *e, unsigned *n, uint64_t *created_ms,
    uint64_t *catalog, llmopt_err_t *err);

/* The entry of a policy by name, or NULL. */
const llmopt_snapshot_entry_t *llmopt_snapshot_find(
    const llmopt_snapshot_entry_t *e, unsigned n, const char *name,
    size_t len);


#endif /* _LLMOPT_SNAPSHOT_H_INCLUDED_ */
