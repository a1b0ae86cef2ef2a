/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the files of the api module that parse JSON
 * (api_json.c, api_json_search.c): the one way a bad answer is logged,
 * how a document is loaded, and integers that may arrive as reals.
 */
#ifndef IDRFS_API_JSON_INT_H
#define IDRFS_API_JSON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/** Log "bad answer from WHAT: field FIELD WHY"; returns -EBADMSG. */
int api_json_bad(const char *what, const char *field, const char *why);

/**
 * Parse a body (jansson flags added to JSON_REJECT_DUPLICATES).
 * @param[out] out the document, written only on success
 * @return 0 or -EBADMSG (logged with the parse error's position)
 */
int api_json_load(const char *body, size_t len, const char *what, size_t flags,
		  json_t **out);

/** An integer, also when sent as an integral real (7.0). */
bool api_json_as_int(const json_t *v, int64_t *out);

#endif
