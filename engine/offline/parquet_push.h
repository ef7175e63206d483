// push(to=offline) into a Parquet batch source that is a directory of part files: each push
// adds one new part file, installed atomically (docs/offline.md, "Offline pushes to a Parquet
// source").
//
// Invariants: a part file is visible under its final name only once complete and fsync'd; it
// is written under a hidden name ('.' first, which readers skip) and renamed without replacing
// anything; on any failure the hidden file is removed and no part file appears. Existing part
// files are never modified.
// Thread-safety: any number of pushes (threads or processes) may run at once: each writes its
// own file under a name of its own.
#pragma once

#include <cstdint>
#include <string>

#include "engine/offline/batch_source.h"
#include "engine/row_stager.h"
#include "larder/frame.h"
#include "larder/status.h"

namespace larder {

// True when `path` is a Parquet source pushes write part files into: an existing directory,
// or a path ending in '/' (created, with its parents, by the first push).
bool IsParquetDirectorySource(const std::string& path);

// Writes the rows of `frame` to the directory source of `bs` as one new part file. The caller
// has checked that the frame holds the batch source's columns and that its event times are
// allowed (max_future_skew); `cells` converts the frame's cells (shared with the other writers
// of the request).
//
// The part's schema is that of the directory's first part file (ParquetSourceFiles order), every
// column in its order, type and repetition, when there is one; else the batch source's columns
// (timestamp columns TIMESTAMP(MICROS, UTC); join keys and the event timestamp REQUIRED, the
// others OPTIONAL). Push columns that schema lacks are dropped; a column of it the push lacks is
// written null (refused when REQUIRED). kDataSourceError, naming the file, the column, its
// Parquet type and the dtype, when a value cannot be represented in its column (nothing is
// written); kInvalidArgument for a bad cell (CellError) or a null join key / event time;
// kIoError when writing fails. Files get exactly `file_mode`.
Status WriteParquetPart(const BatchSource& bs, const Frame& frame, ConvertedCells& cells,
                        uint32_t file_mode);

}  // namespace larder
