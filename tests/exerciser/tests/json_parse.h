// A minimal strict JSON parser for the tests: checks the writer's output is valid JSON and lets
// tests look fields up. Not used by the exerciser itself.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace exerciser::testing {

struct JValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<JValue> arr;
  std::map<std::string, JValue> obj;
  bool has(const std::string &k) const { return type == Type::kObject && obj.count(k) != 0; }
  const JValue &operator[](const std::string &k) const { return obj.at(k); }
};

class JParser {
 public:
  explicit JParser(const std::string &s) : s_(s) {}
  // Parses the whole text; false (with error()) on any syntax error or trailing garbage.
  bool parse(JValue *out) {
    ws();
    if (!value(out)) return false;
    ws();
    if (i_ != s_.size()) return fail("trailing characters");
    return true;
  }
  const std::string &error() const { return err_; }

 private:
  bool fail(const std::string &why) {
    err_ = why + " at offset " + std::to_string(i_);
    return false;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      i_++;
  }
  bool lit(const char *w) {
    size_t n = std::string(w).size();
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool string(std::string *out) {
    if (i_ >= s_.size() || s_[i_] != '"') return fail("expected string");
    i_++;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c == '\\') {
        if (i_ >= s_.size()) return fail("bad escape");
        char e = s_[i_++];
        switch (e) {
          case '"':
            *out += '"';
            break;
          case '\\':
            *out += '\\';
            break;
          case '/':
            *out += '/';
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
            if (i_ + 4 > s_.size()) return fail("bad \\u escape");
            for (int k = 0; k < 4; k++)
              if (!std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) return fail("bad \\u");
            *out += char(std::strtol(s_.substr(i_, 4).c_str(), nullptr, 16));
            i_ += 4;
            break;
          }
          default:
            return fail("bad escape");
        }
      } else {
        *out += c;
      }
    }
    if (i_ >= s_.size()) return fail("unterminated string");
    i_++;
    return true;
  }
  bool number(double *out) {
    size_t start = i_;
    if (s_[i_] == '-') i_++;
    if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_])))
      return fail("bad number");
    if (s_[i_] == '0' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))
      return fail("leading zero");
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) i_++;
    if (i_ < s_.size() && s_[i_] == '.') {
      i_++;
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_])))
        return fail("bad fraction");
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) i_++;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      i_++;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) i_++;
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_])))
        return fail("bad exponent");
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) i_++;
    }
    *out = std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
    return true;
  }
  bool value(JValue *v) {
    if (i_ >= s_.size()) return fail("unexpected end");
    char c = s_[i_];
    if (c == '{') {
      i_++;
      v->type = JValue::Type::kObject;
      ws();
      if (i_ < s_.size() && s_[i_] == '}') {
        i_++;
        return true;
      }
      while (true) {
        ws();
        std::string k;
        if (!string(&k)) return false;
        if (v->obj.count(k)) return fail("duplicate key " + k);
        ws();
        if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':'");
        i_++;
        ws();
        if (!value(&v->obj[k])) return false;
        ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          i_++;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') {
          i_++;
          return true;
        }
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      i_++;
      v->type = JValue::Type::kArray;
      ws();
      if (i_ < s_.size() && s_[i_] == ']') {
        i_++;
        return true;
      }
      while (true) {
        ws();
        v->arr.emplace_back();
        if (!value(&v->arr.back())) return false;
        ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          i_++;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') {
          i_++;
          return true;
        }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v->type = JValue::Type::kString;
      return string(&v->str);
    }
    if (lit("true")) {
      v->type = JValue::Type::kBool;
      v->b = true;
      return true;
    }
    if (lit("false")) {
      v->type = JValue::Type::kBool;
      return true;
    }
    if (lit("null")) return true;
    v->type = JValue::Type::kNumber;
    return number(&v->num);
  }

  std::string s_;
  size_t i_ = 0;
  std::string err_;
};

}  // namespace exerciser::testing
