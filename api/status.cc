#include "larder/status.h"

namespace larder {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kConfigError: return "ConfigError";
    case ErrorCode::kFeatureViewNotFound: return "FeatureViewNotFound";
    case ErrorCode::kFeatureNotFound: return "FeatureNotFound";
    case ErrorCode::kFeatureServiceNotFound: return "FeatureServiceNotFound";
    case ErrorCode::kPushSourceNotFound: return "PushSourceNotFound";
    case ErrorCode::kMissingJoinKey: return "MissingJoinKey";
    case ErrorCode::kStoreNotFound: return "StoreNotFound";
    case ErrorCode::kCorruptStore: return "CorruptStore";
    case ErrorCode::kIncompatibleStore: return "IncompatibleStore";
    case ErrorCode::kStoreFull: return "StoreFull";
    case ErrorCode::kIoError: return "IoError";
    case ErrorCode::kBusy: return "Busy";
    case ErrorCode::kUnsupported: return "Unsupported";
    case ErrorCode::kInternal: return "Internal";
    case ErrorCode::kDataSourceNotFound: return "DataSourceNotFound";
    case ErrorCode::kDataSourceError: return "DataSourceError";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace larder
