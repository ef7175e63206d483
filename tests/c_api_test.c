/* Compiled as C: every entry point of the C API (api/larder/larder.h) called with values that
 * are checked, and every failing call with its code and message.
 * Usage: c_api_test REPO_DIR SEGMENT_PATH, where REPO_DIR is a private copy of
 * examples/driver_stats (its batch source holds 4 hourly rows for each of drivers 1001..1005,
 * 2026-03-02 08:00 to 11:00). Exit 0 when every check passed; prints each failed check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "larder/larder.h"

static int failures = 0;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Checks that a call returned `want`; on failure, that its message names `needle`. Frees the
 * message. */
static void expect_code(const char* call, larder_code got, larder_code want, char* error,
                        const char* needle) {
  CHECK(got == want, "%s: code %d, want %d (%s)", call, (int)got, (int)want,
        error ? error : "no message");
  if (want == LARDER_OK) {
    CHECK(error == NULL, "%s: a message on success: %s", call, error);
  } else {
    CHECK(error != NULL && strstr(error, needle) != NULL, "%s: message %s lacks '%s'", call,
          error ? error : "(none)", needle);
  }
  larder_free(error);
}

/* Checks that `text` (may be NULL) contains `needle`. */
static void expect_has(const char* what, const char* text, const char* needle) {
  CHECK(text != NULL && strstr(text, needle) != NULL, "%s: '%s' not in %s", what, needle,
        text ? text : "(null)");
}

/* Replaces `from` by `to` (once) in REPO_DIR/feature_store.yaml. Returns 0 on failure. */
static int change_dtype(const char* repo, const char* from, const char* to) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/feature_store.yaml", repo);
  FILE* f = fopen(path, "rb");
  if (f == NULL) return 0;
  static char yaml[1 << 16];
  const size_t n = fread(yaml, 1, sizeof(yaml) - 1, f);
  fclose(f);
  yaml[n] = '\0';
  char* at = strstr(yaml, from);
  if (at == NULL) return 0;
  f = fopen(path, "wb");
  if (f == NULL) return 0;
  const size_t before = (size_t)(at - yaml);
  const int ok =
      fwrite(yaml, 1, before, f) == before && fputs(to, f) >= 0 && fputs(at + strlen(from), f) >= 0;
  return fclose(f) == 0 && ok;
}

static larder_code store_get(larder_store* s, const char* body, char** response, char** error) {
  return larder_store_get_online_features_json(s, body, strlen(body), response, error);
}

/* The two integers of the `n`th "values":[a,b] array of a response (0: the entity column); 0
 * when there is none or it holds nulls. */
static int nth_pair(const char* text, int n, long long* a, long long* b) {
  const char* at = text;
  for (int i = 0; i <= n; ++i) {
    at = strstr(at, "\"values\":[");
    if (at == NULL) return 0;
    at += strlen("\"values\":[");
  }
  return sscanf(at, "%lld,%lld", a, b) == 2;
}

/* Snapshot reads through the C API (issue 22): a child process pushes counter k for drivers
 * 2001 and 2002 through driver_stats_push, which feeds two views, while this process reads
 * avg_daily_trips of both views for both drivers; every answer must show one push whole. */
static void check_snapshot_reads(const char* repo, const char* segment) {
  const pid_t child = fork();
  if (child == 0) {
    larder_store* w = NULL;
    char* err = NULL;
    if (larder_store_open(repo, &w, &err) != LARDER_OK) _exit(3);
    char body[512];
    for (int k = 1; k <= 3000; ++k) {
      snprintf(body, sizeof(body),
               "{\"push_source_name\":\"driver_stats_push\",\"to\":\"online\",\"df\":{"
               "\"driver_id\":[2001,2002],\"event_timestamp\":[%d,%d],\"created\":[null,null],"
               "\"conv_rate\":[0.5,0.5],\"acc_rate\":[0.5,0.5],\"avg_daily_trips\":[%d,%d],"
               "\"top_cities\":[[],[]]}}",
               1800000000 + k, 1800000000 + k, k, k);
      if (larder_store_push_json(w, body, strlen(body), NULL, &err) != LARDER_OK) {
        fprintf(stderr, "snapshot writer: %s\n", err ? err : "(no message)");
        _exit(4);
      }
    }
    larder_store_close(w);
    _exit(0);
  }
  CHECK(child > 0, "fork failed");
  if (child <= 0) return;
  larder_reader* reader = NULL;
  char* error = NULL;
  larder_code c = larder_reader_attach(segment, &reader, &error);
  expect_code("snapshot reader attach", c, LARDER_OK, error, "");
  const char* get =
      "{\"features\":[\"driver_hourly_stats:avg_daily_trips\","
      "\"driver_daily_quality:avg_daily_trips\"],\"entities\":{\"driver_id\":[2001,2002]},"
      "\"full_feature_names\":true}";
  long requests = 0, torn = 0, newest = 0;
  int status = 0;
  while (reader != NULL && waitpid(child, &status, WNOHANG) == 0) {
    char* text = NULL;
    c = larder_reader_get_online_features_json(reader, get, strlen(get), &text, &error);
    if (c != LARDER_OK) {
      expect_code("snapshot reader get", c, LARDER_OK, error, "");
      larder_free(text);
      break;
    }
    long long a, b, x, y;
    const int left = nth_pair(text, 1, &a, &b), right = nth_pair(text, 2, &x, &y);
    if (left || right || newest > 0) { /* after the first push, every answer is whole */
      if (!(left && right && a == b && b == x && x == y)) {
        if (torn++ == 0) fprintf(stderr, "a push half applied: %s\n", text);
      } else if (a > newest) {
        newest = (long)a;
      }
    }
    ++requests;
    larder_free(text);
  }
  if (reader == NULL || c != LARDER_OK) waitpid(child, &status, 0);
  larder_reader_close(reader);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "snapshot writer ended with %d", status);
  CHECK(torn == 0, "%ld of %ld requests saw a push half applied", torn, requests);
  CHECK(newest > 0, "no request saw a push of the writer (%ld requests)", requests);
  printf("c_api_test: %ld snapshot requests during 3000 pushes, none torn\n", requests);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c_api_test REPO_DIR SEGMENT_PATH\n");
    return 2;
  }
  const char* repo = argv[1];
  const char* segment = argv[2];
  char* error = NULL;
  char* text = NULL;
  larder_code c;

  const char* version = larder_version();
  CHECK(version != NULL && strcmp(version, "0.1.0") == 0, "version %s", version);
  larder_free(NULL); /* NULL is ignored */

  /* ---- open and apply */
  larder_store* store = NULL;
  c = larder_store_open("/nonexistent-larder-repo", &store, &error);
  expect_code("open of a missing repo", c, LARDER_CONFIG_ERROR, error,
              "/nonexistent-larder-repo/feature_store.yaml");
  CHECK(store == NULL, "open failed but set the store");
  c = larder_store_open(repo, &store, &error);
  expect_code("open", c, LARDER_OK, error, "");
  if (store == NULL) return 1;

  larder_reader* reader = NULL;
  c = larder_reader_attach(segment, &reader, &error);
  expect_code("attach before apply", c, LARDER_STORE_NOT_FOUND, error, segment);
  CHECK(reader == NULL, "attach failed but set the reader");

  c = larder_store_apply(store, &text, &error);
  expect_code("apply", c, LARDER_OK, error, "");
  expect_has("first apply's report", text, "created store");
  expect_has("first apply's report", text, "driver_hourly_stats");
  larder_free(text);
  text = NULL;
  c = larder_store_apply(store, &text, &error);
  expect_code("second apply", c, LARDER_OK, error, "");
  expect_has("second apply's report", text, "no changes");
  larder_free(text);
  text = NULL;
  c = larder_store_apply(store, NULL, NULL); /* report and error are optional */
  CHECK(c == LARDER_OK, "apply without out-parameters: %d", (int)c);
  c = larder_store_plan(store, &text, &error);
  expect_code("plan", c, LARDER_OK, error, "");
  expect_has("plan's report", text, "keep feature view 'driver_hourly_stats' unchanged");
  larder_free(text);
  text = NULL;
  c = larder_store_apply_force(store, 1, &text, &error);
  expect_code("forced apply", c, LARDER_OK, error, "");
  expect_has("forced apply's report", text, "no changes");
  larder_free(text);
  text = NULL;
  uint64_t discarded = 12345;
  c = larder_store_apply_ex(store, 1, &discarded, NULL, &error);
  expect_code("apply_ex of no change", c, LARDER_OK, error, "");
  CHECK(discarded == 0, "apply_ex of no change discarded %llu rows", (unsigned long long)discarded);

  /* ---- online reads of an empty store */
  const char* get_trips =
      "{\"features\":[\"driver_hourly_stats:avg_daily_trips\"],"
      "\"entities\":{\"driver_id\":[1001,9999,1002]}}";
  c = store_get(store, get_trips, &text, &error);
  expect_code("get from an empty store", c, LARDER_OK, error, "");
  expect_has("empty store", text,
             "{\"values\":[1001,9999,1002],\"statuses\":[\"PRESENT\",\"PRESENT\",\"PRESENT\"]");
  expect_has("empty store", text,
             "{\"values\":[null,null,null],\"statuses\":[\"NOT_FOUND\",\"NOT_FOUND\","
             "\"NOT_FOUND\"]");
  larder_free(text);
  text = NULL;

  /* ---- materialize one view from the batch source: the latest row of each of 5 drivers */
  const char* mat =
      "{\"start_ts\":\"2026-03-02T00:00:00Z\",\"end_ts\":\"2026-03-03T00:00:00Z\","
      "\"feature_views\":[\"driver_hourly_stats\"]}";
  c = larder_store_materialize_json(store, mat, strlen(mat), &text, &error);
  expect_code("materialize", c, LARDER_OK, error, "");
  expect_has("materialize report", text,
             "{\"views\":[{\"name\":\"driver_hourly_stats\",\"start\":\"2026-03-02T00:00:00Z\","
             "\"end\":\"2026-03-03T00:00:00Z\",\"rows_read\":20,\"rows_written\":5,");
  larder_free(text);
  text = NULL;
  const char* mat_unknown =
      "{\"start_ts\":\"2026-03-02T00:00:00Z\",\"end_ts\":\"2026-03-03T00:00:00Z\","
      "\"feature_views\":[\"no_such_view\"]}";
  c = larder_store_materialize_json(store, mat_unknown, strlen(mat_unknown), &text, &error);
  expect_code("materialize of an unknown view", c, LARDER_FEATURE_VIEW_NOT_FOUND, error,
              "no_such_view");
  CHECK(text == NULL, "a failed materialize set its report");
  const char* mat_bad = "{\"start_ts\":\"yesterday\",\"end_ts\":\"2026-03-03T00:00:00Z\"}";
  c = larder_store_materialize_json(store, mat_bad, strlen(mat_bad), NULL, &error);
  expect_code("materialize with a bad start", c, LARDER_INVALID_ARGUMENT, error, "yesterday");

  /* The store's own reads return each requested entity, in order, with its latest row. */
  c = store_get(store, get_trips, &text, &error);
  expect_code("get after materialize", c, LARDER_OK, error, "");
  expect_has("get after materialize", text,
             "{\"values\":[1001,9999,1002],\"statuses\":[\"PRESENT\",\"PRESENT\",\"PRESENT\"]");
  expect_has("get after materialize", text,
             "{\"values\":[16,null,24],\"statuses\":[\"PRESENT\",\"NOT_FOUND\",\"PRESENT\"],"
             "\"event_timestamps\":[\"2026-03-02T11:00:00Z\",\"1970-01-01T00:00:00Z\","
             "\"2026-03-02T11:00:00Z\"]}");
  larder_free(text);
  text = NULL;

  /* ---- incremental: the other view, from a year back (it has no interval) to the end */
  const char* inc =
      "{\"end_ts\":\"2026-03-04T00:00:00Z\",\"feature_views\":[\"driver_daily_quality\"]}";
  c = larder_store_materialize_incremental_json(store, inc, strlen(inc), &text, &error);
  expect_code("materialize incremental", c, LARDER_OK, error, "");
  expect_has("incremental report", text, "{\"views\":[{\"name\":\"driver_daily_quality\",");
  expect_has("incremental report", text,
             "\"end\":\"2026-03-04T00:00:00Z\",\"rows_read\":20,"
             "\"rows_written\":5,");
  larder_free(text);
  text = NULL;
  const char* inc_back =
      "{\"end_ts\":\"2026-03-01T00:00:00Z\",\"feature_views\":[\"driver_hourly_stats\"]}";
  c = larder_store_materialize_incremental_json(store, inc_back, strlen(inc_back), &text, &error);
  expect_code("incremental before the materialized end", c, LARDER_INVALID_ARGUMENT, error,
              "already materialized");
  CHECK(text == NULL, "a failed incremental run set its report");

  /* ---- push: fans out to both views; the newer row replaces the materialized one */
  const char* push =
      "{\"push_source_name\":\"driver_stats_push\",\"df\":{\"driver_id\":[1001],"
      "\"event_timestamp\":[\"2026-03-05T10:00:00Z\"],\"created\":[null],"
      "\"conv_rate\":[0.5],\"acc_rate\":[0.25],\"avg_daily_trips\":[77],"
      "\"top_cities\":[[\"Paris\"]]},\"to\":\"online\"}";
  uint64_t written = 0;
  c = larder_store_push_json(store, push, strlen(push), &written, &error);
  expect_code("push", c, LARDER_OK, error, "");
  CHECK(written == 2, "push wrote %llu rows, want 2 (two views)", (unsigned long long)written);
  const char* push_unknown = "{\"push_source_name\":\"nope\",\"df\":{\"driver_id\":[1]}}";
  written = 12345;
  c = larder_store_push_json(store, push_unknown, strlen(push_unknown), &written, &error);
  expect_code("push to an unknown source", c, LARDER_PUSH_SOURCE_NOT_FOUND, error, "nope");
  CHECK(written == 12345, "a failed push set rows_written");
  const char* push_bad = "{\"push_source_name\":";
  c = larder_store_push_json(store, push_bad, strlen(push_bad), NULL, &error);
  expect_code("push of malformed JSON", c, LARDER_INVALID_ARGUMENT, error, "");
  c = larder_store_push_json(store, push_bad, strlen(push_bad), NULL, NULL);
  CHECK(c == LARDER_INVALID_ARGUMENT, "a failure without an error pointer: %d", (int)c);

  const char* get_both =
      "{\"features\":[\"driver_hourly_stats:avg_daily_trips\","
      "\"driver_daily_quality:avg_daily_trips\"],\"entities\":{\"driver_id\":[1002,1001]},"
      "\"full_feature_names\":true}";
  c = store_get(store, get_both, &text, &error);
  expect_code("get of two views", c, LARDER_OK, error, "");
  expect_has("get of two views", text,
             "\"feature_names\":[\"driver_id\",\"driver_hourly_stats__avg_daily_trips\","
             "\"driver_daily_quality__avg_daily_trips\"]");
  expect_has("get of two views", text, "{\"values\":[1002,1001],");
  expect_has("get of two views", text,
             "{\"values\":[24,77],\"statuses\":[\"PRESENT\",\"PRESENT\"],"
             "\"event_timestamps\":[\"2026-03-02T11:00:00Z\",\"2026-03-05T10:00:00Z\"]}");
  char* store_answer = text;
  text = NULL;

  /* Failed reads: their codes and messages, and no response. */
  const struct {
    const char* body;
    larder_code code;
    const char* needle;
  } bad_gets[] = {
      {"{\"features\":[\"nope:x\"],\"entities\":{\"driver_id\":[1]}}",
       LARDER_FEATURE_VIEW_NOT_FOUND, "nope"},
      {"{\"features\":[\"driver_hourly_stats:nope\"],\"entities\":{\"driver_id\":[1]}}",
       LARDER_FEATURE_NOT_FOUND, "nope"},
      {"{\"feature_service\":\"no_service\",\"entities\":{\"driver_id\":[1]}}",
       LARDER_FEATURE_SERVICE_NOT_FOUND, "no_service"},
      {"{\"features\":[\"driver_hourly_stats:conv_rate\"],\"entities\":{\"rider_id\":[1]}}",
       LARDER_MISSING_JOIN_KEY, "driver_id"},
      {"{\"features\":", LARDER_INVALID_ARGUMENT, ""},
  };
  for (size_t i = 0; i < sizeof(bad_gets) / sizeof(bad_gets[0]); ++i) {
    c = store_get(store, bad_gets[i].body, &text, &error);
    expect_code(bad_gets[i].body, c, bad_gets[i].code, error, bad_gets[i].needle);
    CHECK(text == NULL, "a failed get set its response: %s", text);
  }

  /* ---- historical: the latest row at or before each entity's time */
  const char* hist =
      "{\"features\":[\"driver_hourly_stats:avg_daily_trips\"],\"entity_df\":{"
      "\"driver_id\":[1001,1001,1003],\"event_timestamp\":[\"2026-03-02T08:30:00Z\","
      "\"2026-03-02T10:30:00Z\",\"2026-03-02T07:00:00Z\"]}}";
  c = larder_store_get_historical_features_json(store, hist, strlen(hist), &text, &error);
  expect_code("historical", c, LARDER_OK, error, "");
  expect_has("historical", text, "\"driver_id\":[1001,1001,1003]");
  expect_has("historical", text, "\"avg_daily_trips\":[8,11,null]");
  larder_free(text);
  text = NULL;
  const char* hist_bad =
      "{\"features\":[\"nope:x\"],\"entity_df\":{\"driver_id\":[1],"
      "\"event_timestamp\":[\"2026-03-02T08:30:00Z\"]}}";
  c = larder_store_get_historical_features_json(store, hist_bad, strlen(hist_bad), &text, &error);
  expect_code("historical of an unknown view", c, LARDER_FEATURE_VIEW_NOT_FOUND, error, "nope");
  CHECK(text == NULL, "a failed historical retrieval set its response");

  /* ---- a reader: the same answer as the store's own read */
  c = larder_reader_attach(segment, &reader, &error);
  expect_code("attach", c, LARDER_OK, error, "");
  if (reader != NULL) {
    c = larder_reader_get_online_features_json(reader, get_both, strlen(get_both), &text, &error);
    expect_code("reader get", c, LARDER_OK, error, "");
    CHECK(text != NULL && store_answer != NULL && strcmp(text, store_answer) == 0,
          "reader and store answers differ:\n  %s\n  %s", text ? text : "(null)",
          store_answer ? store_answer : "(null)");
    larder_free(text);
    text = NULL;
    c = larder_reader_get_online_features_json(reader, bad_gets[0].body, strlen(bad_gets[0].body),
                                               &text, &error);
    expect_code("reader get of an unknown view", c, LARDER_FEATURE_VIEW_NOT_FOUND, error, "nope");
    CHECK(text == NULL, "a failed reader get set its response");
    larder_reader_close(reader);
  }
  larder_free(store_answer);
  /* A reader trusts a segment of its own user, root, or the owner it names: this process owns
   * the segment, so naming root (uid 0) changes nothing; an unknown user is refused. */
  reader = NULL;
  c = larder_reader_attach_owned(segment, "0", &reader, &error);
  expect_code("attach trusting uid 0", c, LARDER_OK, error, "");
  larder_reader_close(reader);
  reader = NULL;
  c = larder_reader_attach_owned(segment, "no_such_user_of_larder", &reader, &error);
  expect_code("attach trusting an unknown user", c, LARDER_INVALID_ARGUMENT, error,
              "no_such_user_of_larder");
  CHECK(reader == NULL, "a refused attach set the reader");
  larder_reader_close(NULL);
  check_snapshot_reads(repo, segment);
  larder_store_close(store);
  larder_store_close(NULL);

  /* ---- a dtype change discards the view's rows: refused without force, counted with it */
  store = NULL;
  if (!change_dtype(repo, "{name: acc_rate, dtype: Float32}", "{name: acc_rate, dtype: Float64}")) {
    CHECK(0, "cannot rewrite %s/feature_store.yaml", repo);
  }
  c = larder_store_open(repo, &store, &error);
  expect_code("open of the changed repo", c, LARDER_OK, error, "");
  if (store == NULL) return 1;
  discarded = 12345;
  c = larder_store_apply_ex(store, 0, &discarded, &text, &error);
  expect_code("apply_ex of a dtype change without force", c, LARDER_INVALID_ARGUMENT, error,
              "driver_hourly_stats");
  CHECK(text == NULL, "a refused apply set its report");
  CHECK(discarded == 12345, "a refused apply set rows_discarded to %llu",
        (unsigned long long)discarded);
  /* driver_hourly_stats holds drivers 1001..1005 (materialized, 1001 pushed since) and 2001,
   * 2002 (check_snapshot_reads). */
  c = larder_store_apply_ex(store, 1, &discarded, &text, &error);
  expect_code("apply_ex of a dtype change with force", c, LARDER_OK, error, "");
  CHECK(discarded == 7, "the forced apply discarded %llu rows, want 7",
        (unsigned long long)discarded);
  expect_has("forced dtype change's report", text, "driver_hourly_stats");
  larder_free(text);
  text = NULL;
  c = store_get(store, get_trips, &text, &error);
  expect_code("get after the forced dtype change", c, LARDER_OK, error, "");
  expect_has("get after the forced dtype change", text,
             "{\"values\":[null,null,null],\"statuses\":[\"NOT_FOUND\",\"NOT_FOUND\","
             "\"NOT_FOUND\"]");
  larder_free(text);
  text = NULL;
  larder_store_close(store);

  if (failures != 0) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("c_api_test: every check passed\n");
  return 0;
}
