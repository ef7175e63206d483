/* Compiled as C: proves larder.h is a valid C header, and drives the C API end to end.
 * Usage: c_api_smoke REPO_DIR SEGMENT_PATH. Exit 0 on success; prints what failed otherwise. */
#include <stdio.h>
#include <string.h>

#include "larder/larder.h"

static int fail(const char* what, larder_code code, char* error) {
  fprintf(stderr, "%s failed (code %d): %s\n", what, (int)code, error ? error : "(no message)");
  larder_free(error);
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c_api_smoke REPO_DIR SEGMENT_PATH\n");
    return 2;
  }
  char* error = NULL;
  larder_store* store = NULL;
  larder_code c = larder_store_open(argv[1], &store, &error);
  if (c != LARDER_OK) return fail("larder_store_open", c, error);
  c = larder_store_apply(store, NULL, &error);
  if (c != LARDER_OK) return fail("larder_store_apply", c, error);

  const char* push =
      "{\"push_source_name\":\"driver_stats_push\",\"df\":{\"driver_id\":[7],"
      "\"event_timestamp\":[\"2026-11-01T10:00:00Z\"],\"created\":[null],"
      "\"conv_rate\":[0.5],\"acc_rate\":[0.25],\"avg_daily_trips\":[12],"
      "\"top_cities\":[[\"Paris\"]]}}";
  uint64_t written = 0;
  c = larder_store_push_json(store, push, strlen(push), &written, &error);
  if (c != LARDER_OK) return fail("larder_store_push_json", c, error);
  if (written != 2) {
    fprintf(stderr, "expected 2 rows written (two views), got %llu\n", (unsigned long long)written);
    return 1;
  }

  /* An unknown push source must fail with its own code and a message. */
  const char* bad = "{\"push_source_name\":\"nope\",\"df\":{\"driver_id\":[1]}}";
  c = larder_store_push_json(store, bad, strlen(bad), NULL, &error);
  if (c != LARDER_PUSH_SOURCE_NOT_FOUND || error == NULL || strstr(error, "nope") == NULL) {
    fprintf(stderr, "unknown push source: code %d, message %s\n", (int)c, error ? error : "-");
    return 1;
  }
  larder_free(error);
  error = NULL;

  larder_reader* reader = NULL;
  c = larder_reader_attach(argv[2], &reader, &error);
  if (c != LARDER_OK) return fail("larder_reader_attach", c, error);
  const char* get =
      "{\"features\":[\"driver_hourly_stats:conv_rate\"],\"entities\":{\"driver_id\":[7,8]}}";
  char* response = NULL;
  c = larder_reader_get_online_features_json(reader, get, strlen(get), &response, &error);
  if (c != LARDER_OK) return fail("larder_reader_get_online_features_json", c, error);
  int ok = strstr(response, "\"PRESENT\",\"NOT_FOUND\"") != NULL &&
           strstr(response, "0.5") != NULL;
  if (!ok) fprintf(stderr, "unexpected response: %s\n", response);
  larder_free(response);
  larder_reader_close(reader);
  larder_store_close(store);
  return ok ? 0 : 1;
}
