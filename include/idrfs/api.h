/* SPDX-License-Identifier: MIT */
/*
 * api: the remote's HTTP API (OMERO JSON API v0, webclient and webgateway
 * JSON) mapped to plain C structs. It builds URLs, pages through lists, and
 * validates every field it uses: a missing or mistyped field is -EBADMSG
 * with a log line naming the field and the URL.
 *
 * Limits: read-only, anonymous access; lists are fetched whole (all pages,
 * in parallel after the first); the transport is injected, so tests run
 * without a network.
 */
#ifndef IDRFS_API_H
#define IDRFS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/http.h"
#include "idrfs/zarr.h"

/** Page size asked for; the server clamps it (IDR: 1000). A page holding
 * more items than were asked for is a bad answer (-EBADMSG). */
#define API_PAGE_LIMIT 1000
/** Cap on one JSON response body. */
#define API_MAX_BODY (64u << 20)
/**
 * Cap on the body of one page of images or containers: 1000 images of
 * fake-idr (IDR's shape: owner, group, permissions, Pixels) are 4.5 MB,
 * about 4.5 KB an image; 16 MiB leaves room for long names, Lsids and
 * descriptions. Pages of wells carry each well's fields, which the limit
 * does not bound, and keep API_MAX_BODY.
 */
#define API_PAGE_MAX_BODY (16u << 20)
/** Cap on the number of objects in one listing. */
#define API_MAX_ITEMS 10000000u
/** Caps on original_file_paths: files of one fileset (each one HEAD;
 * more fail the listing with -EFBIG), and the levels (directories and the
 * file) and bytes of one path below the fileset's common directory (a
 * path over them is left out, logged: room for the mount point and the
 * image's own path within PATH_MAX, 4096). */
#define API_ORIG_MAX_FILES 65536u
#define API_ORIG_DEPTH_MAX 64u
#define API_ORIG_PATH_MAX  3072u
/** Hits on one page of the search engine: 1000, an administrator may set
 * up to 10 000 (idr-searchengine.md); more is a broken answer. */
#define API_SE_PAGE_MAX 10000u
/** A busy imgData's backOff is taken within these bounds (ms). */
#define API_BUSY_MIN_MS 100
#define API_BUSY_MAX_MS 10000

enum api_pixel_type {
	API_PT_UNKNOWN = 0,
	API_PT_INT8,
	API_PT_UINT8,
	API_PT_INT16,
	API_PT_UINT16,
	API_PT_INT32,
	API_PT_UINT32,
	API_PT_FLOAT,
	API_PT_DOUBLE,
	API_PT_BIT,
	API_PT_COMPLEX,
	API_PT_DOUBLE_COMPLEX,
};

struct api_pixels {
	uint32_t size_x, size_y, size_z, size_c, size_t_;
	enum api_pixel_type type;
	double phys_x, phys_y, phys_z; /* micrometres, 0 if unknown */
	double time_increment;	       /* seconds, 0 if unknown */
};

struct api_image {
	int64_t id;
	char *name;
	bool has_pixels;
	struct api_pixels px;
	char *zarr_lsid;	/* ExternalInfo Lsid, or NULL */
	int64_t acquisition_ms; /* AcquisitionDate, 0 if unknown */
	int32_t series;		/* omero:series in its fileset; 0 if unsent */
};

/** A project, dataset, screen or plate. */
struct api_container {
	int64_t id;
	char *name;
	int64_t child_count; /* -1 if not sent */
	/* plates only: naming of rows and columns (true: letters) */
	bool rows_letters;
	bool columns_letters;
};

struct api_well {
	int64_t id;
	int32_t row;	/* 0-based */
	int32_t column; /* 0-based */
	size_t nfields;
	struct api_image *fields; /* in WellSample order */
};

/** Transport: how api reaches the network (http_fetch in the daemon). */
struct api_transport {
	int (*fetch)(void *ctx, struct http_req *reqs, size_t n,
		     uint64_t deadline_ms);
	void *ctx;
};

struct api;
struct api_imgdata;

/**
 * Create an API client for a remote.
 * @param[in] base_url e.g. "https://idr.openmicroscopy.org" (copied; a
 *            trailing slash is ignored)
 * @param[in] tr transport (copied; tr->ctx must outlive the client)
 * @param[out] out written only on success
 * @return 0, -ENOMEM, -EINVAL (not an http(s) URL)
 */
int api_new(const char *base_url, const struct api_transport *tr,
	    struct api **out);
void api_free(struct api *a);

/** The base URL without a trailing slash. @note owned by @p a. */
const char *api_base_url(const struct api *a);

/** Requests sent through the API since creation (pages, objects). */
uint64_t api_requests(const struct api *a);

/**
 * List every project, dataset of a project, screen, or plate of a screen.
 * Costs one request per page of API_PAGE_LIMIT objects.
 * @param[out] out array of *n containers (free with api_containers_free),
 *             written only on success
 * @return 0, -ENOENT (no such parent), -EBADMSG/-EPROTO (bad answer),
 *         -ETIMEDOUT, -EIO, -ENOMEM, any http_fetch() error
 */
int api_list_projects(struct api *a, uint64_t deadline,
		      struct api_container **out, size_t *n);
int api_list_datasets(struct api *a, int64_t project_id, uint64_t deadline,
		      struct api_container **out, size_t *n);
int api_list_screens(struct api *a, uint64_t deadline,
		     struct api_container **out, size_t *n);
int api_list_plates(struct api *a, int64_t screen_id, uint64_t deadline,
		    struct api_container **out, size_t *n);

/** The parents of an image (its datasets: none for an image of a plate)
 * or of a dataset (its projects), as api_list_datasets() lists. */
int api_image_datasets(struct api *a, int64_t image_id, uint64_t deadline,
		       struct api_container **out, size_t *n);
int api_dataset_projects(struct api *a, int64_t dataset_id, uint64_t deadline,
			 struct api_container **out, size_t *n);

/** Images of a dataset, with Pixels (sizes, type, physical sizes). */
int api_list_images(struct api *a, int64_t dataset_id, uint64_t deadline,
		    struct api_image **out, size_t *n);

/**
 * api_list_images() when the dataset is expected to hold @p expect
 * images (its childCount; -1 unknown): above one page, the first batch of
 * pages is asked for at once instead of after the first page.
 */
int api_list_images_expect(struct api *a, int64_t dataset_id, int64_t expect,
			   uint64_t deadline, struct api_image **out,
			   size_t *n);

/** Wells of a plate with their fields (images without Pixels). */
int api_list_wells(struct api *a, int64_t plate_id, uint64_t deadline,
		   struct api_well **out, size_t *n);

/** One well with its fields' Pixels (one request). */
int api_get_well(struct api *a, int64_t well_id, uint64_t deadline,
		 struct api_well *out);

/**
 * One image with its Pixels (one request), as a dataset's listing gives it.
 * @param[out] out release with api_image_release(); only on success
 * @return 0, -ENOENT (no such image), -EBADMSG, any http_fetch() error
 */
int api_get_image(struct api *a, int64_t image_id, uint64_t deadline,
		  struct api_image *out);

/**
 * imgData of an image (channels, windows, colours), retrying while the
 * server answers ConcurrencyException, within the deadline.
 * @param[out] out release with api_imgdata_release(); only on success
 * @return 0, -EACCES (IDR answers 403 for a missing image), -EBADMSG,
 *         -ETIMEDOUT, -EIO
 */
int api_get_imgdata(struct api *a, int64_t image_id, uint64_t deadline,
		    struct api_imgdata *out);

/**
 * Start an OMERO.web session: GET /webclient/?experimenter=-1 so that the
 * transport's cookie jar holds the session cookie rendering needs.
 * @return 0 or an http_fetch() error
 */
int api_session(struct api *a, uint64_t deadline);

/**
 * URL of a rendered region of plane (z, t): rows y0..y0+h-1, full width,
 * PNG, with explicit c= and m= built from the channels of @p d (the
 * rendering service refuses requests without them).
 * @return 0 or -ENAMETOOLONG
 */
int api_render_url(const struct api *a, const struct api_imgdata *d, uint32_t z,
		   uint32_t t, uint32_t y0, uint32_t h, char *out,
		   size_t outsz);

/** An original file of an image's fileset, on the download root. */
struct api_file {
	char *path;    /* relative to the fileset's common directory */
	char *url;     /* on the download root */
	uint64_t size; /* from a HEAD request */
};

/**
 * The original files of an image: /webgateway/original_file_paths/{id}/
 * (client paths), their "uod/idr/filesets" prefix replaced by @p root, and
 * each file's size from a HEAD request (one parallel batch).
 * @param[out] out,n written only on success; n may be 0 (no fileset)
 * @return 0, -EBADMSG (bad answer, unsafe path), -ENOENT, -EACCES,
 *         -ETIMEDOUT, -EIO, -ENOMEM
 */
int api_original_files(struct api *a, int64_t image_id, const char *root,
		       uint64_t deadline, struct api_file **out, size_t *n);

/**
 * The client paths of an image's fileset (original_file_paths, no HEAD):
 * safe relative paths ("uod/idr/filesets/..."), within the caps above.
 * @p zarr_meta keeps only Zarr metadata files (.zattrs, .zgroup, .zarray,
 * zarr.json), and the count cap applies to those: a converted fileset
 * lists every chunk, and its metadata is what says where its images are.
 * @param[out] paths,n written only on success (api_strings_free())
 * @return as api_original_files()
 */
int api_client_paths(struct api *a, int64_t image_id, bool zarr_meta,
		     uint64_t deadline, char ***paths, size_t *n);

/** The URL of a client path on the download root @p root (the rule of
 * api_original_files()). @return 0, -ENOMEM, -ENAMETOOLONG */
int api_client_url(const char *root, const char *client_path, char **out);
void api_files_free(struct api_file *v, size_t n);

/** Parse original_file_paths: the "client" list ({} is no files). */
int api_json_client_paths(const char *body, size_t len, const char *what,
			  char ***paths, size_t *n);

void api_containers_free(struct api_container *v, size_t n);
void api_images_free(struct api_image *v, size_t n);
void api_wells_free(struct api_well *v, size_t n);
void api_image_release(struct api_image *img);
void api_well_release(struct api_well *w);

/** Bytes per sample of a pixel type, 0 for unknown/bit/complex. */
unsigned api_pixel_bytes(enum api_pixel_type t);
/** OMERO name ("uint16") of a pixel type; "unknown" if none. */
const char *api_pixel_type_name(enum api_pixel_type t);

/* ---- JSON mapping (api_json.c); usable on their own, e.g. in tests ---- */

/** The envelope of a list answer: its meta block. */
struct api_meta {
	int64_t offset, limit, max_limit, total_count;
};

/**
 * Parse one page of a JSON API list of containers, images or wells.
 * @param[in] body,len the response (need not be NUL-terminated)
 * @param[in] what for log lines, e.g. the URL
 * @param[out] items,n,meta written only on success; items owned by caller
 * @return 0, -EBADMSG (not JSON, wrong shape, missing/mistyped field),
 *         -ENOMEM
 */
int api_json_containers(const char *body, size_t len, const char *what,
			struct api_container **items, size_t *n,
			struct api_meta *meta);
int api_json_images(const char *body, size_t len, const char *what,
		    struct api_image **items, size_t *n, struct api_meta *meta);
int api_json_wells(const char *body, size_t len, const char *what,
		   struct api_well **items, size_t *n, struct api_meta *meta);

/** Parse a single-object answer ({"data": {...}}). */
int api_json_image(const char *body, size_t len, const char *what,
		   struct api_image *out);
int api_json_container(const char *body, size_t len, const char *what,
		       struct api_container *out);
int api_json_well(const char *body, size_t len, const char *what,
		  struct api_well *out);

/**
 * Parse any JSON API answer just for its envelope: "data" list or object
 * and, for lists, "meta". Used to classify answers we do not map.
 * @param[out] is_list whether data is a list
 * @param[out] count list length (1 for an object)
 */
int api_json_envelope(const char *body, size_t len, const char *what,
		      bool *is_list, size_t *count);

/** The "message" of a JSON API error answer. @param[out] msg heap string. */
int api_json_error_message(const char *body, size_t len, char **msg);

/**
 * The value at a dotted @p path ("cache.hits") of a JSON document, as
 * text: a string's bytes, a number or true/false/null as JSON writes it.
 * Used for our own documents (.idrfs/stats.json): nothing is logged.
 * @param[out] out written only on success (NUL-terminated)
 * @return 0, -ENOENT (no such value, or it is an object or a list),
 *         -EBADMSG (not JSON), -ENAMETOOLONG (@p outsz too small)
 */
int api_json_lookup(const char *body, size_t len, const char *path, char *out,
		    size_t outsz);

/** "/api/" discovery: the v0 base URL. @param[out] base heap string. */
int api_json_versions(const char *body, size_t len, char **base);

/** "/api/v0/" URL map: the projects URL. @param[out] url heap string. */
int api_json_base_urls(const char *body, size_t len, char **projects_url);

/** imgData (webgateway/webclient): what the TIFF view needs. */
struct api_channel {
	char *label;
	uint32_t color_rgb; /* 0xRRGGBB */
	double window_start, window_end;
	double window_min, window_max;
	bool active;
};

struct api_imgdata {
	int64_t id;
	char *name;
	enum api_pixel_type type;
	uint32_t size_x, size_y, size_z, size_t_, size_c;
	double pixel_size_x, pixel_size_y, pixel_size_z; /* 0 if null */
	size_t nchannels;
	struct api_channel *channels;
	bool tiled;
	uint32_t levels;
	uint32_t tile_w, tile_h;
	int64_t backoff_ms; /* > 0: ConcurrencyException, retry later */
};

/**
 * Parse an imgData answer.
 * @return 0 (out filled; out->backoff_ms > 0 means the server asked to
 *         come back later and nothing else is set), -EBADMSG, -ENOMEM
 */
int api_json_imgdata(const char *body, size_t len, const char *what,
		     struct api_imgdata *out);
void api_imgdata_release(struct api_imgdata *d);

/** One key/value pair of a map annotation. */
struct api_kv {
	char *ns;
	char *key;
	char *value;
};

/**
 * Parse /webclient/api/annotations/?type=map answers, or a bare "values"
 * array ([[k, v], ...]).
 */
int api_json_annotations(const char *body, size_t len, const char *what,
			 struct api_kv **kvs, size_t *n);
void api_kvs_free(struct api_kv *kvs, size_t n);

/** A bulk-annotation table query answer: columns and the first row. */
struct api_table {
	size_t ncolumns;
	char **columns;
	size_t nrows;
	char **row0; /* ncolumns strings of the first row, as text */
};
int api_json_table(const char *body, size_t len, const char *what,
		   struct api_table *out);
void api_table_release(struct api_table *t);

/** histogram_json: {"data": [counts]}. */
int api_json_histogram(const char *body, size_t len, const char *what,
		       uint64_t **counts, size_t *n);

/* ---- requests for other modules, and key/values in bulk (api.c) ---- */

/**
 * Send requests through the API's transport; they count in
 * api_requests(). For modules that build their own URLs (search). Each
 * request's accept (http.h), if set, runs once on its answer after the
 * api's own checks (not an HTML page; the parse budget), whether the
 * transport runs it or not: give JSON answers an accept that is the
 * caller's parse, so that only what it takes is ever kept.
 * @return as http_fetch(), or the first error an accept gave
 */
int api_fetch(struct api *a, struct http_req *reqs, size_t n,
	      uint64_t deadline);

/**
 * Accepts (http_accept_fn) for Zarr metadata, for transports used outside
 * api_fetch(): the answer is not an HTML page and @p out (a struct
 * zarr_multiscale, or a struct zarr_array) is what api_json_multiscales(),
 * api_json_zarray() or api_json_zarr3_array() made of it.
 */
int api_accept_multiscales(const struct http_req *r, void *out);
int api_accept_zarray(const struct http_req *r, void *out);
int api_accept_zarr3_array(const struct http_req *r, void *out);

/**
 * Check a URL the archive gave for data (an ExternalInfo Lsid, mapped)
 * before anything is asked there: http(s) only, no user information. The
 * first time data is on a host other than the API's, that is logged
 * (once per host).
 * @param[in] what for the log lines, e.g. "image 12"
 * @return 0 or -EINVAL (logged)
 * @note Thread-safe.
 */
int api_check_data_url(struct api *a, const char *what, const char *url);

/**
 * Check that an answer is not an HTML page where JSON was expected (IDR
 * answers mapr's JSON URLs with a redirect to a web page).
 * @return 0, or -EBADMSG after a log line naming the URL
 */
int api_check_json(const struct http_req *r);

/**
 * Percent-encode @p in for a query string (all but A-Z a-z 0-9 - . _ ~).
 * @return 0 or -ENAMETOOLONG (out is then undefined)
 */
int api_url_escape(const char *in, char *out, size_t outsz);

/**
 * api_get_well() of many wells, in one parallel round of requests.
 * @param[out] out n wells, in the order of @p ids; written only on
 *             success (release each with api_well_release())
 * @return 0 or the first error of any well
 */
int api_get_wells(struct api *a, const int64_t *ids, size_t n,
		  uint64_t deadline, struct api_well *out);

/** The key/value pairs of one object. */
struct api_kvset {
	struct api_kv *kvs;
	size_t n;
};

/**
 * Key/value pairs of images: /webclient/api/annotations/?type=map with
 * many image= each, as few URLs as stay under API_KVS_URL_MAX bytes, in
 * one parallel round (10 000 images: about 20 requests).
 * @param[in] ids distinct image ids
 * @param[out] out n sets in the order of @p ids (free with
 *             api_kvsets_free()); written only on success
 * @return 0, or an error of any request or answer
 */
int api_images_kvs(struct api *a, const int64_t *ids, size_t n,
		   uint64_t deadline, struct api_kvset **out);
void api_kvsets_free(struct api_kvset *v, size_t n);

/** Longest URL api_images_kvs() builds (nginx's default line limit is 8k). */
#define API_KVS_URL_MAX 7680

/**
 * Key/value pairs of a project or screen (@p kind "project" or "screen")
 * in namespace @p ns (NULL: all), in the order the server sent them.
 * @param[out] kvs,n written only on success; n may be 0
 * @param[out] name if not NULL: the object's name as the annotations'
 *             links give it (heap), or NULL when none says; on success
 */
int api_object_kvs(struct api *a, const char *kind, int64_t id, const char *ns,
		   uint64_t deadline, struct api_kv **kvs, size_t *n,
		   char **name);

/* ---- search engine and mapr answers (api_json_search.c) ---- */

/**
 * One map annotation of a webclient (or mapr) annotations answer, with
 * the object it is linked to when the answer says.
 */
struct api_annotation {
	char *ns;	    /* NULL if none */
	char *parent_class; /* link.parent.class ("ImageI"), or NULL */
	char *parent_name;  /* link.parent.name, or NULL */
	int64_t parent_id;  /* link.parent.id, -1 if not sent */
	struct api_kv *values;
	size_t nvalues;
};

/**
 * Parse /webclient/api/annotations/?type=map (and mapr's annotations):
 * map annotations grouped as the server sent them; other classes are
 * skipped.
 * @return 0, -EBADMSG, -ENOMEM
 */
int api_json_map_annotations(const char *body, size_t len, const char *what,
			     struct api_annotation **out, size_t *n);
void api_annotations_free(struct api_annotation *v, size_t n);

/** An image found by a search-engine or mapr query. */
struct api_hit {
	int64_t id;
	char *name; /* NULL if not sent */
	/* where it lives; 0 when not sent (the other kind of study) */
	int64_t project_id, dataset_id;
	int64_t screen_id, plate_id, well_id;
	struct api_kv *kvs; /* search engine key_values (ns NULL) */
	size_t nkvs;
	bool has_kvs; /* key_values were sent (mapr: never) */
};
void api_hit_release(struct api_hit *h);
void api_hits_free(struct api_hit *v, size_t n);

/** One page of a search-engine image search (idr-searchengine.md 4). */
struct api_se_page {
	struct api_hit *hits;
	size_t n;
	int64_t size;	  /* total hits of the query, -1 if not sent */
	int64_t bookmark; /* results.bookmark[0], -1 if none */
};

/**
 * Parse a search-engine search answer. "results": [] (no hits, or past
 * the last page) is an empty page. Ids may be integral floats (7.0).
 * key_values entries with a null name are left out.
 * @return 0; -EIO when the engine answered an error ({"Error": "..."}
 *         with HTTP 200, or a bare JSON string), logged; -EBADMSG (not
 *         JSON, wrong shape or types); -ENOMEM
 */
int api_json_se_page(const char *body, size_t len, const char *what,
		     struct api_se_page *out);
void api_se_page_release(struct api_se_page *p);

/** A value of a key with its count (search engine, mapr maps). */
struct api_se_value {
	char *key;     /* as indexed ("Gene Symbol"); NULL for mapr */
	char *value;   /* search engine: lower-cased by the engine */
	int64_t count; /* images (entries), -1 if not sent */
};

/**
 * Parse searchvaluesusingkey / searchvalues answers ({"data": [{"Key",
 * "Number of images", "Value", "data_source"}], ...}). Empty values are
 * left out. Errors as api_json_se_page().
 */
int api_json_se_values(const char *body, size_t len, const char *what,
		       struct api_se_value **out, size_t *n);
void api_se_values_free(struct api_se_value *v, size_t n);

/**
 * Parse {resource}/keys/: [{"data_source": "idr", "image": [keys]}], the
 * image keys of every data source (duplicates kept).
 * @param[out] keys heap array of heap strings (api_strings_free())
 */
int api_json_se_keys(const char *body, size_t len, const char *what,
		     char ***keys, size_t *n);
void api_strings_free(char **v, size_t n);

/** A mapr menu of /mapr/api/config/. */
struct api_mapr_menu {
	char *name;    /* "gene", "cellline", ... */
	bool wildcard; /* its values can be listed without one (orphaned) */
};

int api_json_mapr_config(const char *body, size_t len, const char *what,
			 struct api_mapr_menu **out, size_t *n);
void api_mapr_menus_free(struct api_mapr_menu *v, size_t n);

/**
 * Parse mapr's "maps" list (/mapr/api/{menu}/?orphaned=true): each value
 * ("id") with its image counter.
 */
int api_json_mapr_maps(const char *body, size_t len, const char *what,
		       struct api_se_value **out, size_t *n);

/**
 * Parse one container list of a mapr answer: @p list is "screens",
 * "projects", "plates" or "datasets". Names keep mapr's " (N)" counters.
 */
int api_json_mapr_containers(const char *body, size_t len, const char *what,
			     const char *list, struct api_container **out,
			     size_t *n);

/** Parse mapr's {"images": [...]}: ids and names only. */
int api_json_mapr_images(const char *body, size_t len, const char *what,
			 struct api_hit **out, size_t *n);

/*
 * Accepts (http.h) of the answers above, for api_fetch(): each runs the
 * parser of its name on the answer (with the request's URL for the log)
 * and, on success only, writes what it made into its argument.
 */

/** A list an accept made: v is the parser's array of n items (free it as
 * the parser's output); list names the list for mapr containers. */
struct api_answer_list {
	void *v;
	size_t n;
	const char *list; /* api_accept_mapr_containers(): an input */
};

/** mapr's screens and projects of a value, from one answer. */
struct api_mapr_studies {
	struct api_container *screens;
	size_t nscreens;
	struct api_container *projects;
	size_t nprojects;
};

/** Any JSON document (a probe whose content is not used); arg unused. */
int api_accept_json(const struct http_req *r, void *unused);
int api_accept_se_keys(const struct http_req *r, void *list);
int api_accept_se_values(const struct http_req *r, void *list);
/** @p page is a struct api_se_page. */
int api_accept_se_page(const struct http_req *r, void *page);
int api_accept_map_annotations(const struct http_req *r, void *list);
int api_accept_mapr_config(const struct http_req *r, void *list);
int api_accept_mapr_maps(const struct http_req *r, void *list);
int api_accept_mapr_containers(const struct http_req *r, void *list);
/** @p studies is a struct api_mapr_studies. */
int api_accept_mapr_studies(const struct http_req *r, void *studies);
int api_accept_mapr_images(const struct http_req *r, void *list);

/* ---- the zarr/ view's JSON (api_json_zview.c) ---- */

/**
 * The .zarray of level @p lvl of a view (zarr.h): Zarr v2, uncompressed,
 * "/" separated, sorted keys, ending in a newline.
 * @param[out] out heap text (free()), @p len its length
 * @return 0, -EINVAL (no such level), -ENOMEM
 */
int api_zview_zarray(const struct zarr_view *v, unsigned lvl, char **out,
		     size_t *len);

/** The view's .zattrs: OME-NGFF 0.4 multiscales (levels "0", "1", ...)
 * and omero channels. @return 0 or -ENOMEM */
int api_zview_zattrs(const struct zarr_view *v, char **out, size_t *len);

/* ---- Zarr metadata (api_json_zarr.c) ---- */

/**
 * Parse a Zarr v2 .zarray.
 * @param[in] what the document's URL, for the log line
 * @param[out] out written only on success; passes zarr_array_check()
 * @return 0, or -EBADMSG for every refusal (not JSON, a missing or
 *         mistyped field, order F, filters, an unknown codec or dtype,
 *         sizes outside zarr.h's caps), logged with @p what and the field
 * @note Pure function of (body, len): no I/O, no state.
 */
int api_json_zarray(const char *body, size_t len, const char *what,
		    struct zarr_array *out);

/**
 * Parse the OME-NGFF "multiscales" of a v2 .zattrs (or of a v3 group's
 * zarr.json, under attributes.ome): level paths, axes mapped to TCZYX,
 * scales.
 * @param[out] out written only on success; release with
 *             zarr_multiscale_release()
 * @return 0, -EBADMSG (also: no multiscales, bad axes, more than
 *         ZARR_MAX_LEVELS levels, a path of other than [A-Za-z0-9._-]
 *         names), -ENOMEM
 */
int api_json_multiscales(const char *body, size_t len, const char *what,
			 struct zarr_multiscale *out);

/**
 * Parse a Zarr v3 array's zarr.json (node_type "array"), including the
 * bytes codec's endian and sharding_indexed with its inner and index
 * codecs.
 * @return as api_json_zarray()
 */
int api_json_zarr3_array(const char *body, size_t len, const char *what,
			 struct zarr_array *out);

#endif
