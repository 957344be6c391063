#include "base/log_context.h"

#include <utility>

namespace drydock {

namespace {
thread_local std::string current;
}  // namespace

ScopedLogContext::ScopedLogContext(std::string context)
    : previous_(std::exchange(current, std::move(context))) {}

ScopedLogContext::~ScopedLogContext() { current = std::move(previous_); }

const std::string& LogContext() { return current; }

}  // namespace drydock
