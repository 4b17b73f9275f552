// Printing a RunResult: a human-readable summary, or one JSON object (for bench/compare.py).
#pragma once

#include <cstdint>
#include <string>

#include "loadgen/runner.h"

namespace berth::bench {

std::string FormatText(const RunResult& r);
std::string FormatJson(const RunResult& r);
std::string HumanSize(uint64_t bytes);

}  // namespace berth::bench
