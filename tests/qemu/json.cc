#include "json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pvscsi_qemu::json {

Value Value::array(std::vector<Value> items) {
  Value v;
  v.type_ = Type::kArray;
  v.items_ = std::move(items);
  return v;
}

Value Value::object(std::vector<std::pair<std::string, Value>> members) {
  Value v;
  v.type_ = Type::kObject;
  v.members_ = std::move(members);
  return v;
}

const Value *Value::find(const std::string &key) const {
  if (type_ != Type::kObject) {
    return nullptr;
  }
  for (const auto &m : members_) {
    if (m.first == key) {
      return &m.second;
    }
  }
  return nullptr;
}

const Value &Value::operator[](const std::string &key) const {
  static const Value null_value;
  const Value *v = find(key);
  return v != nullptr ? *v : null_value;
}

Value &Value::set(const std::string &key, Value v) {
  if (type_ != Type::kObject) {
    *this = object();
  }
  for (auto &m : members_) {
    if (m.first == key) {
      m.second = std::move(v);
      return *this;
    }
  }
  members_.emplace_back(key, std::move(v));
  return *this;
}

Value &Value::push(Value v) {
  if (type_ != Type::kArray) {
    *this = array();
  }
  items_.push_back(std::move(v));
  return *this;
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string Value::dump() const {
  switch (type_) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return bool_ ? "true" : "false";
    case Type::kNumber: {
      if (static_cast<double>(int_) == num_) {
        return std::to_string(int_);
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", num_);
      return buf;
    }
    case Type::kString:
      return quote(str_);
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < items_.size(); i++) {
        out += (i != 0 ? "," : "") + items_[i].dump();
      }
      return out + "]";
    }
    case Type::kObject: {
      std::string out = "{";
      for (size_t i = 0; i < members_.size(); i++) {
        out += (i != 0 ? "," : "") + quote(members_[i].first) + ":" + members_[i].second.dump();
      }
      return out + "}";
    }
  }
  return "null";
}

namespace {

class Parser {
 public:
  explicit Parser(const std::string &text) : s_(text) {}

  bool document(Value *out, std::string *error) {
    bool ok = value(out, 0);
    if (ok) {
      skip_ws();
      if (pos_ != s_.size()) {
        ok = fail("trailing characters after the JSON value");
      }
    }
    if (!ok && error != nullptr) {
      *error = "JSON error at byte " + std::to_string(err_pos_) + ": " + err_;
    }
    return ok;
  }

 private:
  static constexpr int kMaxDepth = 64;

  bool fail(const char *msg) {
    if (err_.empty()) {
      err_ = msg;
      err_pos_ = pos_;
    }
    return false;
  }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      pos_++;
    }
  }
  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) != 0) {
      return fail("invalid literal");
    }
    pos_ += n;
    return true;
  }

  bool value(Value *out, int depth) {
    if (depth > kMaxDepth) {
      return fail("nesting too deep");
    }
    skip_ws();
    if (pos_ >= s_.size()) {
      return fail("unexpected end of input");
    }
    char c = s_[pos_];
    if (c == '{') {
      return object(out, depth);
    }
    if (c == '[') {
      return array(out, depth);
    }
    if (c == '"') {
      std::string str;
      if (!string(&str)) {
        return false;
      }
      *out = Value(std::move(str));
      return true;
    }
    if (c == 't') {
      *out = Value(true);
      return literal("true");
    }
    if (c == 'f') {
      *out = Value(false);
      return literal("false");
    }
    if (c == 'n') {
      *out = Value();
      return literal("null");
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      return number(out);
    }
    return fail("unexpected character");
  }

  bool number(Value *out) {
    size_t start = pos_;
    bool integral = true;
    if (s_[pos_] == '-') {
      pos_++;
    }
    size_t digits = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      pos_++;
    }
    if (pos_ == digits) {
      return fail("digit expected");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      pos_++;
      size_t frac = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        pos_++;
      }
      if (pos_ == frac) {
        return fail("digit expected after '.'");
      }
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      pos_++;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) {
        pos_++;
      }
      size_t exp = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        pos_++;
      }
      if (pos_ == exp) {
        return fail("digit expected in exponent");
      }
    }
    std::string text = s_.substr(start, pos_ - start);
    if (integral) {
      *out = Value(static_cast<int64_t>(std::strtoll(text.c_str(), nullptr, 10)));
    } else {
      *out = Value(std::strtod(text.c_str(), nullptr));
    }
    return true;
  }

  static void put_utf8(std::string *out, uint32_t cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(uint32_t *cp) {
    if (pos_ + 4 > s_.size()) {
      return fail("truncated \\u escape");
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        return fail("bad hex digit in \\u escape");
      }
    }
    *cp = v;
    return true;
  }

  bool string(std::string *out) {
    pos_++;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) {
        return fail("unterminated string");
      }
      char c = s_[pos_++];
      if (c == '"') {
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return fail("control character in string");
      }
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= s_.size()) {
        return fail("unterminated escape");
      }
      char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) {
            return false;
          }
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(pos_, 2, "\\u") == 0) {
            size_t save = pos_;
            pos_ += 2;
            uint32_t lo;
            if (hex4(&lo) && lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              pos_ = save;
              err_.clear();
            }
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return fail("unknown escape");
      }
    }
  }

  bool array(Value *out, int depth) {
    pos_++;
    *out = Value::array();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      pos_++;
      return true;
    }
    while (true) {
      Value item;
      if (!value(&item, depth + 1)) {
        return false;
      }
      out->push(std::move(item));
      skip_ws();
      if (pos_ >= s_.size()) {
        return fail("unterminated array");
      }
      char c = s_[pos_++];
      if (c == ']') {
        return true;
      }
      if (c != ',') {
        pos_--;
        return fail("',' or ']' expected");
      }
    }
  }

  bool object(Value *out, int depth) {
    pos_++;
    *out = Value::object();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      pos_++;
      return true;
    }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        return fail("member name expected");
      }
      std::string key;
      if (!string(&key)) {
        return false;
      }
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') {
        return fail("':' expected");
      }
      pos_++;
      Value member;
      if (!value(&member, depth + 1)) {
        return false;
      }
      out->set(key, std::move(member));
      skip_ws();
      if (pos_ >= s_.size()) {
        return fail("unterminated object");
      }
      char c = s_[pos_++];
      if (c == '}') {
        return true;
      }
      if (c != ',') {
        pos_--;
        return fail("',' or '}' expected");
      }
    }
  }

  const std::string &s_;
  size_t pos_ = 0;
  std::string err_;
  size_t err_pos_ = 0;
};

}  // namespace

bool parse(const std::string &text, Value *out, std::string *error) {
  Value v;
  Parser p(text);
  if (!p.document(&v, error)) {
    return false;
  }
  *out = std::move(v);
  return true;
}

}  // namespace pvscsi_qemu::json
