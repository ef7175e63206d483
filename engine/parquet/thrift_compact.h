// Thrift's compact protocol, as Parquet uses it for its footer and page headers: a reader that
// walks fields of a struct (skipping the ones the caller does not ask for) and a writer for the
// few structs Larder's own Parquet writer emits.
//
// The reader treats its input as hostile: every length is checked against the bytes left,
// nesting is bounded (kMaxDepth) and list sizes are checked against the bytes left before the
// caller allocates for them.
// Thread-safety: a reader or writer belongs to one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "larder/status.h"

namespace larder::parquet {

// Compact-protocol wire types.
enum class TType : uint8_t {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

class CompactReader {
 public:
  static constexpr int kMaxDepth = 32;

  CompactReader(const uint8_t* data, size_t size) : p_(data), end_(data + size), begin_(data) {}

  // Reads the next field header of the current struct. Returns false at its stop byte.
  // Call BeginStruct() before the first field of a nested struct and EndStruct() after its
  // stop byte (the top-level struct needs neither).
  Result<bool> NextField(int16_t* id, TType* type);
  Status BeginStruct();
  void EndStruct();

  Result<bool> ReadBool(TType type);  // the value lives in the field header for fields
  Result<int8_t> ReadByte();
  Result<int32_t> ReadI32();
  Result<int64_t> ReadI64();
  Result<std::string_view> ReadBinary();
  // A list header: element type and size (checked: size <= bytes left, every element takes at
  // least one byte except booleans, which take one byte each in lists).
  Result<uint32_t> ReadListHeader(TType* elem);
  // Skips a value of `type` (structs, lists, maps recursively).
  Status Skip(TType type);

  size_t consumed() const { return static_cast<size_t>(p_ - begin_); }
  size_t left() const { return static_cast<size_t>(end_ - p_); }

 private:
  Result<uint64_t> ReadVarint();
  Status SkipDepth(TType type, int depth);
  Status Corrupt(const char* what) const;

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  int16_t last_id_ = 0;
  int16_t stack_[kMaxDepth] = {};
  int depth_ = 0;
};

class CompactWriter {
 public:
  explicit CompactWriter(std::string* out) : out_(out) {}

  void FieldI32(int16_t id, int32_t v);
  void FieldI64(int16_t id, int64_t v);
  void FieldBool(int16_t id, bool v);
  void FieldBinary(int16_t id, std::string_view v);
  // Opens a struct-typed field; close it with EndStruct().
  void BeginStructField(int16_t id);
  // Opens a list-typed field of `n` elements of `elem` type.
  void BeginListField(int16_t id, TType elem, uint32_t n);
  // Inside a list of structs: opens the next element; close it with EndStruct().
  void BeginListStruct();
  void ListI32(int32_t v);
  void ListBinary(std::string_view v);
  void EndStruct();  // writes the stop byte and restores the enclosing struct's field ids

 private:
  void Header(int16_t id, TType type);
  void Varint(uint64_t v);

  std::string* out_;
  int16_t last_id_ = 0;
  int16_t stack_[CompactReader::kMaxDepth] = {};
  int depth_ = 0;
};

}  // namespace larder::parquet
