// RE2 matches in time linear in the input (no backtracking), which is why CEL specifies it:
// a row's value can never stall a route.
#include "CRE2.h"

#include <re2/re2.h>

#include <cstring>
#include <new>
#include <string>

struct pgreflex_re2 {
    RE2 re;
    pgreflex_re2(const re2::StringPiece &pattern, const RE2::Options &options) : re(pattern, options) {}
};

static void copy_error(const std::string &message, char *error, size_t capacity) {
    if (error == nullptr || capacity == 0) return;
    size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
    std::memcpy(error, message.data(), n);
    error[n] = '\0';
}

extern "C" pgreflex_re2 *pgreflex_re2_compile(const char *pattern, size_t length, char *error, size_t error_capacity) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_encoding(RE2::Options::EncodingUTF8);
    // A pattern can come from a row; RE2 refuses one whose program outgrows this, instead of
    // taking the memory.
    options.set_max_mem(8 << 20);
    auto *compiled = new (std::nothrow) pgreflex_re2(re2::StringPiece(pattern, length), options);
    if (compiled == nullptr) {
        copy_error("out of memory", error, error_capacity);
        return nullptr;
    }
    if (!compiled->re.ok()) {
        std::string message = compiled->re.error();
        delete compiled;
        copy_error(message, error, error_capacity);
        return nullptr;
    }
    return compiled;
}

extern "C" int pgreflex_re2_partial_match(const pgreflex_re2 *re, const char *text, size_t length) {
    return RE2::PartialMatch(re2::StringPiece(text, length), re->re) ? 1 : 0;
}

extern "C" void pgreflex_re2_free(pgreflex_re2 *re) {
    delete re;
}
