/*
 * Copyright (C) llmopt authors
 *
 * The prompt scan of a parsed request (llmopt_request_scan.c): whether
 * its prompt holds code, and its words for the "words" feature.  The
 * prompt is given as the body and its span (llmopt_request_t's body and
 * prompt.start, prompt.end: raw JSON string bytes, escapes not decoded).
 */

#ifndef _LLMOPT_REQUEST_SCAN_H_INCLUDED_
#define _LLMOPT_REQUEST_SCAN_H_INCLUDED_


#include "llmopt_core.h"


/*
 * The prompt scan (has_code and the word buckets) reads at most the first
 * LLMOPT_REQUEST_SCAN_HEAD and the last LLMOPT_REQUEST_SCAN_TAIL bytes of
 * the prompt; words are hashed into LLMOPT_REQUEST_WORD_BUCKETS counters,
 * which the "words" feature folds into its own bucket count.
 */
#define LLMOPT_REQUEST_SCAN_HEAD      1024
#define LLMOPT_REQUEST_SCAN_TAIL      512
#define LLMOPT_REQUEST_WORD_BUCKETS   64


/*
 * Bytes that continue a word, lowercased; 0 for separators.  Letters,
 * digits, '_' (the blank of fill-in-the-blank prompts) and the bytes of
 * UTF-8 sequences are word bytes.  The prompt scan's and the sparse
 * learner's (llmopt_sparse.c) words are made of them.
 */
extern const unsigned char  llmopt_request_word_byte[256];


/*
 * 1 when the scan's windows of the prompt body[start .. end - 1] hold a
 * code marker (docs/FEATURES.md), else 0: what llmopt_request_parse()
 * sets has_code to.
 */
unsigned llmopt_request_has_code(const unsigned char *body, size_t start,
    size_t end);

/*
 * The words of the prompt scan's windows of body[start .. end - 1],
 * hashed into counts[0 .. LLMOPT_REQUEST_WORD_BUCKETS - 1] (set to 0
 * first); returns how many words there were.  Only the "words" feature
 * needs them, so the parse leaves them out.
 */
unsigned llmopt_request_words(const unsigned char *body, size_t start,
    size_t end, uint16_t *counts);


#endif /* _LLMOPT_REQUEST_SCAN_H_INCLUDED_ */
