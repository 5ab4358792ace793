#include "engine/utf8.h"

namespace kiln::engine::utf8 {
namespace {

struct SequenceCheck {
  enum Kind { valid, invalid, incomplete } kind;
  size_t length;  // bytes of the valid sequence, or of the maximal invalid subpart
};

// Strict RFC 3629 check of the sequence that starts at bytes[0].
SequenceCheck check_sequence(std::string_view bytes) {
  const auto lead = static_cast<uint8_t>(bytes[0]);
  if (lead < 0x80) return {SequenceCheck::valid, 1};
  size_t length = 0;
  uint8_t second_lo = 0x80, second_hi = 0xBF;  // the range of the second byte depends on the lead
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_lo = 0xA0;  // no overlong forms
    if (lead == 0xED) second_hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_lo = 0x90;  // no overlong forms
    if (lead == 0xF4) second_hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return {SequenceCheck::invalid, 1};
  }
  for (size_t i = 1; i < length; ++i) {
    if (i >= bytes.size()) return {SequenceCheck::incomplete, i};
    const auto byte = static_cast<uint8_t>(bytes[i]);
    const uint8_t lo = i == 1 ? second_lo : 0x80;
    const uint8_t hi = i == 1 ? second_hi : 0xBF;
    if (byte < lo || byte > hi) return {SequenceCheck::invalid, i};
  }
  return {SequenceCheck::valid, length};
}

}  // namespace

size_t sequence_length(uint8_t lead) {
  static constexpr uint8_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

std::vector<uint32_t> decode_lenient(std::string_view text) {
  std::vector<uint32_t> cpts;
  cpts.reserve(text.size());
  auto continuation = [&](size_t i) {
    return i < text.size() && (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80;
  };
  size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    auto payload = [&](size_t k) { return static_cast<uint32_t>(text[i + k]) & 0x3F; };
    if (b0 < 0x80) {
      cpts.push_back(b0);
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && continuation(i + 1)) {
      cpts.push_back(((b0 & 0x1Fu) << 6) | payload(1));
      i += 2;
    } else if ((b0 & 0xF0) == 0xE0 && continuation(i + 1) && continuation(i + 2)) {
      cpts.push_back(((b0 & 0x0Fu) << 12) | (payload(1) << 6) | payload(2));
      i += 3;
    } else if ((b0 & 0xF8) == 0xF0 && continuation(i + 1) && continuation(i + 2) &&
               continuation(i + 3)) {
      cpts.push_back(((b0 & 0x07u) << 18) | (payload(1) << 12) | (payload(2) << 6) | payload(3));
      i += 4;
    } else {
      cpts.push_back(kReplacement);
      i += 1;
    }
  }
  return cpts;
}

void append(std::string& out, uint32_t cpt) {
  if (cpt <= 0x7F) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0x10FFFF) {
    out.push_back(static_cast<char>(0xF0 | (cpt >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out.append(kReplacementUtf8);
  }
}

ValidPrefix complete_prefix(std::string_view bytes) {
  ValidPrefix result;
  result.text.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const SequenceCheck check = check_sequence(bytes.substr(i));
    switch (check.kind) {
      case SequenceCheck::valid:
        result.text.append(bytes.substr(i, check.length));
        break;
      case SequenceCheck::invalid:
        result.text.append(kReplacementUtf8);
        break;
      case SequenceCheck::incomplete:
        result.rest.assign(bytes.substr(i));
        return result;
    }
    i += check.length;
  }
  return result;
}

bool is_valid(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const SequenceCheck check = check_sequence(bytes.substr(i));
    if (check.kind != SequenceCheck::valid) return false;
    i += check.length;
  }
  return true;
}

}  // namespace kiln::engine::utf8
