/*
 * Copyright (C) llmopt authors
 *
 * Rewriting fields of a parsed request's root object while leaving every
 * other byte as it was (llmopt_rewrite.c).
 */

#ifndef _LLMOPT_REWRITE_H_INCLUDED_
#define _LLMOPT_REWRITE_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_request.h"
#include "llmopt_variant.h"


/*
 * Size of the body after setting each root member set[i].key to the raw
 * JSON set[i].json: an existing member's value is replaced (every
 * occurrence, if repeated), a missing one is appended to the root object
 * as ,"key":json right before its closing brace ("key":json alone when
 * the root is empty).  Keys are the member names themselves, written
 * JSON-escaped (llmopt_json_quote()); set[i].json must be valid JSON (not
 * checked).  An entry whose key repeats an earlier entry's is ignored.
 * req is a successful parse.
 */
size_t llmopt_request_rewrite_size(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n);

/*
 * Writes the rewritten body into out (llmopt_request_rewrite_size() bytes)
 * and returns the bytes written.  Bytes outside the replaced values and the
 * appended members are copied unchanged.  n is at most
 * LLMOPT_REQUEST_MAX_SET (16); entries beyond are ignored.  out must not
 * overlap the body.  Never allocates.
 */
size_t llmopt_request_rewrite(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, unsigned char *out);


/*
 * The same with a prompt variant's edits too (variant NULL: none), in the
 * request's dialect:
 *
 *   system   OpenAI: the first "system" or "developer" message's content
 *            gets the text and a blank line in front (a string), or a
 *            text block in front (parts); "replace" makes the content the
 *            text alone; without such a message a system message goes
 *            first.  Anthropic: the same on the top-level "system"
 *            (string or blocks), added when absent.
 *   append   the last "user" message: a blank line and the text at the
 *            end of a string content, a text block after the parts.
 *   examples the pairs as messages before the conversation: after the
 *            leading system messages (OpenAI), first (Anthropic).
 *   response_format  a root member, as a set entry after set's (one of
 *            set with that key wins).
 *
 * An edit whose place the request lacks (no user message, a content that
 * is neither string nor array) is not made.  Bytes outside the edits are
 * copied unchanged.  The caller makes sure the variant can be written in
 * the dialect (variant->dialects) and that set touches neither
 * "messages" nor "system" (the catalog refuses such arms with variants).
 */
size_t llmopt_request_rewrite_variant_size(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, const llmopt_variant_t *variant);

size_t llmopt_request_rewrite_variant(const llmopt_request_t *req,
    const llmopt_kv_t *set, unsigned n, const llmopt_variant_t *variant,
    unsigned char *out);


#endif /* _LLMOPT_REWRITE_H_INCLUDED_ */
