// One column chunk of Larder's Parquet writer (parquet_writer.h): the column's values checked
// against its schema, and rows of it encoded as one v1 data page (RLE levels, PLAIN values),
// compressed, with what the footer says about the chunk.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/parquet/encodings.h"
#include "engine/parquet/parquet_writer.h"
#include "larder/status.h"

namespace larder::parquet {

// Definition levels of a column (see the layout in parquet_writer.h): a null row is 0; a list's
// own level is `list_def` (an empty list), an element adds 1 and a present element 1 more when
// elements are optional. max_def is the level of a present value.
struct Levels {
  int list_def = 0;
  int max_def = 0;
  int max_rep = 0;
};
Levels LevelsOf(const WriteColumn& c);

// kInvalidArgument naming the column unless `c` holds `rows` rows of values `s` can take.
Status CheckColumn(const WriteColumn& s, const Column& c, size_t rows);

// Min / max of the non-null values (Statistics.min_value / max_value); NaN is left out.
struct MinMax {
  bool any = false;
  int64_t imin = 0, imax = 0;
  double fmin = 0, fmax = 0;
  void Int(int64_t v);
  void Real(double v);
};

// What row `r` of `c` adds to its column's page: level entries, and a bound on the page's
// uncompressed bytes (PLAIN values, plus at most 2 bytes per level entry for each of the
// repetition and definition levels: an RLE run of one entry).
struct PageCost {
  size_t entries = 0;
  size_t bytes = 0;
};
PageCost RowPageCost(const WriteColumn& s, const Column& c, size_t r);

// The most one row group's page of a column may hold: what Larder's reader accepts
// (encodings.h: kMaxPageValues level entries, kMaxPageBytes uncompressed), less a margin for
// the level streams' length prefixes.
inline constexpr size_t kMaxWrittenPageEntries = kMaxPageValues;
inline constexpr size_t kMaxWrittenPageBytes = kMaxPageBytes - 1024;

// What the footer says about one written column chunk.
struct Chunk {
  int64_t offset = 0;
  int64_t compressed = 0;    // page header + compressed page
  int64_t uncompressed = 0;  // page header + page
  int64_t entries = 0;       // level entries (num_values)
  int64_t nulls = 0;
  MinMax mm;
};

// Encodes rows [first, first + n) of `c` (checked by CheckColumn) as one data page compressed
// with `codec`, appends it to `*file` and describes it in `*ch`.
Status WriteChunk(const WriteColumn& s, const Column& c, size_t first, size_t n, int32_t codec,
                  std::string* file, Chunk* ch);

void AppendRaw(const void* p, size_t n, std::string* out);

}  // namespace larder::parquet
