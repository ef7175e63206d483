// Pushes to the offline store: a push source's rows appended to its batch source's CSV file, or
// added to its directory of Parquet part files as a new part.
// Thread-safety: free functions; CSV appends serialize on the file's lock
// (engine/offline/offline_log.h); Parquet parts need none (each has a name of its own).
#pragma once

#include <string>
#include <vector>

#include "engine/row_stager.h"
#include "engine/rows/catalog.h"
#include "engine/store.h"
#include "larder/frame.h"
#include "larder/online.h"
#include "larder/status.h"

namespace larder {

// Validates `frame` for `views` exactly as an online push would (columns present, every key,
// timestamp and feature cell converts, keys within the size limit) without writing anything.
// With `cells` (made for `frame`), the conversions are kept there for the writes that follow.
// Rows whose event time lies past `latest_event_ts` are refused (max_future_skew).
Status ValidatePushFrame(const std::vector<const ViewInfo*>& views, const Frame& frame,
                         ConvertedCells* cells = nullptr,
                         TimestampMicros latest_event_ts = kNoEventTimeLimit);

// Appends `frame` to the batch source of `push_source` (repo = the feature repo's catalog): to
// its CSV file, or, for a directory of Parquet part files, as one new part file
// (engine/offline/parquet_push.h). A single-file Parquet source is refused (kDataSourceError,
// nothing written): each push would rewrite the whole file.
// The frame must hold the batch source's columns (the timestamp field, every join key and
// feature of the views reading it; the created-timestamp column may be left out); extra
// columns are ignored. Every cell is converted to its dtype before anything is written and the
// rows are written in canonical text (timestamps RFC 3339). A row whose event time lies past
// the clock plus the repo's max_future_skew is refused. Errors: kPushSourceNotFound,
// kInvalidArgument (missing columns, bad values: row and column named), kDataSourceError (the
// file's header lacks columns), kIoError, kBusy.
// With `cells` (made for `frame`), the records are rendered from its converted columns.
Result<PushResult> PushToOffline(const Catalog& repo, const std::string& push_source,
                                 const Frame& frame, int timeout_ms = 10000,
                                 ConvertedCells* cells = nullptr);

// push(to=online_and_offline): validates the request for the online views of `store`'s
// registry and for the batch source, appends it offline, then writes it online, so the online
// store never holds a row the offline log lacks. Each cell is converted once for all three
// (ConvertedCells). An online failure after the append (kStoreFull,
// kBusy) is returned; the rows then stay in the log (materialize brings them online).
Result<PushResult> PushOnlineAndOffline(Store& store, const Catalog& repo,
                                        const std::string& push_source, const Frame& frame,
                                        int timeout_ms = 10000);

}  // namespace larder
