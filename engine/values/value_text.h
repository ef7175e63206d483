// Text forms of values and cells for the offline store: the canonical CSV text a batch-source
// file holds (which the CSV readers parse back to the same value), cells for output frames,
// JSON for cells, and entity-key bytes built from CSV text or cells.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "larder/frame.h"
#include "larder/status.h"
#include "larder/types.h"

namespace larder {

// Appends the canonical text of a non-null value (not CSV-quoted): integers in decimal,
// floats as the shortest text that reads back exactly (Float32 as a float), "true"/"false",
// strings as is, bytes as base64, timestamps as RFC 3339 (FormatTimestamp), arrays as JSON
// (non-finite floats as the strings "nan", "inf", "-inf").
void AppendValueText(const Value& v, std::string* out);

// A value as a cell of an output frame: Int32/Int64 → kInt, Float32/Float64 → kDouble (a
// Float32 as the double nearest its shortest decimal text, so 0.44f gives 0.44), Bool → kBool,
// String → kString, Bytes → kBytes, UnixTimestamp → kString (RFC 3339), arrays → kArray,
// null → kNull.
Cell ValueToCell(const Value& v);

// The text of a non-null cell for a CSV field (not quoted): strings as is, bytes as base64,
// numbers and booleans as JSON spells them, arrays as JSON.
void AppendCellText(const Cell& c, std::string* out);
// A cell as a JSON value (bytes as base64 strings; non-finite doubles as "NaN" etc.).
void AppendCellJson(const Cell& c, std::string* out);

// Entity-key bytes for the offline store's own maps (not the segment's key layout): the same
// entity gives the same bytes whether it comes from CSV text or a cell. Integers are range-
// checked for Int32; Bytes keys are base64 in text. Errors say why the value does not fit
// (the caller adds file, line and column). A null key is an error.
Status AppendKeyPartFromText(std::string_view text, bool is_null, ScalarType type,
                             std::string* key);
Status AppendKeyPartFromCell(const Cell& c, ScalarType type, std::string* key);
// The same from typed values (Parquet): an integer for an Int32 / Int64 key (range-checked for
// Int32), the bytes of a String / Bytes key.
Status AppendKeyPartFromInt(int64_t v, ScalarType type, std::string* key);
void AppendKeyPartFromBytes(std::string_view bytes, std::string* key);

// Parses a timestamp field of a batch-source file; null is an error ("timestamp is null").
Result<TimestampMicros> ParseTimestampField(std::string_view text, bool is_null);

}  // namespace larder
