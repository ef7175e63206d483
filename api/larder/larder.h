/* Larder's C API: for languages that bind C. Requests and responses are Feast's JSON shapes
 * (the same bytes the HTTP feature server takes and returns), so a binding needs no struct
 * layouts beyond these opaque handles.
 *
 * Every call returns a larder_code (0 = LARDER_OK). On failure, if `error` is not NULL,
 * *error receives a malloc'd, NUL-terminated message ("FeatureViewNotFound: ...") that the
 * caller frees with larder_free(). Strings returned through out-parameters are also freed
 * with larder_free().
 *
 * Thread-safety: a larder_store or larder_reader may be used from many threads at once;
 * reads never block; writes serialize on the store's writer lock (shared across processes).
 */
#ifndef LARDER_LARDER_H_
#define LARDER_LARDER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The values of larder::ErrorCode (api/larder/status.h). */
typedef enum larder_code {
  LARDER_OK = 0,
  LARDER_INVALID_ARGUMENT = 1,
  LARDER_CONFIG_ERROR = 2,
  LARDER_FEATURE_VIEW_NOT_FOUND = 3,
  LARDER_FEATURE_NOT_FOUND = 4,
  LARDER_FEATURE_SERVICE_NOT_FOUND = 5,
  LARDER_PUSH_SOURCE_NOT_FOUND = 6,
  LARDER_MISSING_JOIN_KEY = 7,
  LARDER_STORE_NOT_FOUND = 8,
  LARDER_CORRUPT_STORE = 9,
  LARDER_INCOMPATIBLE_STORE = 10,
  LARDER_STORE_FULL = 11,
  LARDER_IO_ERROR = 12,
  LARDER_BUSY = 13,
  LARDER_UNSUPPORTED = 14,
  LARDER_INTERNAL = 15,
  LARDER_DATA_SOURCE_NOT_FOUND = 16,
  LARDER_DATA_SOURCE_ERROR = 17
} larder_code;

/* A feature repo opened for writing and reading (FeatureStore in C++). */
typedef struct larder_store larder_store;
/* A read-only attachment to a segment (OnlineReader in C++). */
typedef struct larder_reader larder_reader;

/* Opens <repo_dir>/feature_store.yaml. */
larder_code larder_store_open(const char* repo_dir, larder_store** out, char** error);
/* Creates or updates the segment; *report (optional) receives one line per action. Views
 * keep their rows across compatible changes; a change that would discard rows (a view dropped,
 * a join key or feature dtype changed) fails with LARDER_INVALID_ARGUMENT and writes nothing. */
larder_code larder_store_apply(larder_store* store, char** report, char** error);
/* larder_store_apply, making even changes that discard rows when `force` is non-zero. */
larder_code larder_store_apply_force(larder_store* store, int force, char** report, char** error);
/* larder_store_apply_force; on success *rows_discarded (optional) receives the rows the apply
 * discarded: those of views re-created (a join key or feature dtype changed) or dropped (0
 * without `force`, which refuses such a change). Left unset on failure. */
larder_code larder_store_apply_ex(larder_store* store, int force, uint64_t* rows_discarded,
                                  char** report, char** error);
/* What apply would do, writing nothing (`larder plan`): one line per change in *report. */
larder_code larder_store_plan(larder_store* store, char** report, char** error);
/* Feast's push body: {"push_source_name": ..., "df": {...}, "to": "online"}.
 * *rows_written (optional) receives the rows written across views. */
larder_code larder_store_push_json(larder_store* store, const char* body, size_t body_len,
                                   uint64_t* rows_written, char** error);
/* Feast's get-online-features body; *response receives the JSON response. */
larder_code larder_store_get_online_features_json(larder_store* store, const char* body,
                                                  size_t body_len, char** response,
                                                  char** error);
/* Feast's materialize body: {"start_ts": "2021-01-01T00:00:00Z", "end_ts": "...",
 * "feature_views": ["a", "b"] | null, "disable_event_timestamp": false}; with
 * disable_event_timestamp true, every row up to now is written with now as its event time
 * (start_ts, end_ts ignored). Every field of Feast's request models is accepted (docs/feast.md);
 * unknown fields are ignored. *report (optional) receives {"views":[{"name": ..,
 * "start": .., "end": .., "rows_read": .., "rows_written": .., "rows_skipped": ..}]}. */
larder_code larder_store_materialize_json(larder_store* store, const char* body, size_t body_len,
                                          char** report, char** error);
/* Feast's materialize-incremental body: {"end_ts": "...", "feature_views": [...] | null}. */
larder_code larder_store_materialize_incremental_json(larder_store* store, const char* body,
                                                      size_t body_len, char** report,
                                                      char** error);
/* Historical retrieval (point-in-time join): {"features": [...] | "feature_service": "name",
 * "entity_df": {"driver_id": [...], "event_timestamp": [...]}, "full_feature_names": false}.
 * *response receives the result as an object of columns, {"driver_id": [...], ...,
 * "conv_rate": [...]}: the entity_df's columns, then the features (null where none). */
larder_code larder_store_get_historical_features_json(larder_store* store, const char* body,
                                                      size_t body_len, char** response,
                                                      char** error);
void larder_store_close(larder_store* store);

/* Attaches read-only to the segment at `segment_path`; the segment must be owned by this
 * process's user or root (LARDER_IO_ERROR otherwise, naming its owner). */
larder_code larder_reader_attach(const char* segment_path, larder_reader** out, char** error);
/* The same, trusting also a segment owned by `owner` (a user name or decimal uid: the writer's
 * user, online_store.owner); NULL or "" trusts no one more. */
larder_code larder_reader_attach_owned(const char* segment_path, const char* owner,
                                       larder_reader** out, char** error);
larder_code larder_reader_get_online_features_json(larder_reader* reader, const char* body,
                                                   size_t body_len, char** response,
                                                   char** error);
void larder_reader_close(larder_reader* reader);

/* Frees a string returned by this API. NULL is ignored. */
void larder_free(void* p);

/* The library's version, e.g. "0.1.0". */
const char* larder_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LARDER_LARDER_H_ */
