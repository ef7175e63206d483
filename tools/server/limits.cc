#include "tools/server/limits.h"

#include "tools/server/routes.h"

namespace larder::server {

std::optional<Reply> CheckEntities(size_t rows, const ClientLimits& limits) {
  if (rows <= limits.max_entities) return std::nullopt;
  return HttpErrorReply(413, "TooManyEntities",
                        "the request asks for " + std::to_string(rows) +
                            " entity rows, more than the limit of " +
                            std::to_string(limits.max_entities) +
                            " per request (--max-entities): split it into smaller requests");
}

std::optional<Reply> CheckEntityCells(size_t cells, const ClientLimits& limits) {
  if (cells <= limits.max_values) return std::nullopt;
  return HttpErrorReply(413, "TooManyValues",
                        "the request's entities hold up to " + std::to_string(cells) +
                            " values (columns x rows, nested values included), more than the "
                            "limit of " +
                            std::to_string(limits.max_values) +
                            " (--max-values): send only the join keys, in smaller requests");
}

std::optional<Reply> CheckValues(size_t columns, size_t rows, const ClientLimits& limits) {
  const uint64_t values = uint64_t{columns} * rows;
  if (values <= limits.max_values) return std::nullopt;
  return HttpErrorReply(413, "TooManyValues",
                        "the reply would hold " + std::to_string(columns) + " columns x " +
                            std::to_string(rows) + " entity rows = " + std::to_string(values) +
                            " values, more than the limit of " + std::to_string(limits.max_values) +
                            " (--max-values): ask for fewer features or entities per request");
}

Reply ReplyTooLarge(uint64_t bytes, const ClientLimits& limits) {
  return HttpErrorReply(413, "ReplyTooLarge",
                        "the reply would be " + std::to_string(bytes) +
                            " bytes, more than the limit of " +
                            std::to_string(limits.max_reply_bytes) +
                            " per reply (--max-reply-bytes): ask for fewer entities per request");
}

Reply Overloaded(uint64_t queued, const ClientLimits& limits, bool cutting) {
  const std::string stall_s = std::to_string(limits.stall_timeout.count() / 1000) + "." +
                              std::to_string(limits.stall_timeout.count() % 1000 / 100);
  return HttpErrorReply(
      503, "Overloaded",
      std::to_string(queued) +
          " bytes of replies are waiting for clients to read them, the limit is " +
          std::to_string(limits.max_queued_bytes) + " (--max-queued-bytes): " +
          (cutting ? "replies that did not move for " + stall_s +
                         " s (--stall-timeout) are being cut to make room: retry shortly"
                   : "retry later"));
}

}  // namespace larder::server
