// A small JSON value, parser and writer for QMP (host-side test code). Enough for QMP's
// messages: objects, arrays, strings (with \u escapes), numbers, true/false/null.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pvscsi_qemu::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::kBool), bool_(b) {}
  Value(int v) : type_(Type::kNumber), num_(v), int_(v) {}
  Value(int64_t v) : type_(Type::kNumber), num_(static_cast<double>(v)), int_(v) {}
  Value(uint64_t v) : Value(static_cast<int64_t>(v)) {}
  Value(unsigned v) : Value(static_cast<int64_t>(v)) {}
  Value(double v) : type_(Type::kNumber), num_(v), int_(static_cast<int64_t>(v)) {}
  Value(const char *s) : type_(Type::kString), str_(s) {}
  Value(std::string s) : type_(Type::kString), str_(std::move(s)) {}

  static Value array(std::vector<Value> items = {});
  static Value object(std::vector<std::pair<std::string, Value>> members = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_string() const { return type_ == Type::kString; }
  bool as_bool() const { return type_ == Type::kBool && bool_; }
  int64_t as_int() const { return type_ == Type::kNumber ? int_ : 0; }
  double as_double() const { return type_ == Type::kNumber ? num_ : 0; }
  const std::string &as_string() const { return str_; }  // empty unless a string
  const std::vector<Value> &items() const { return items_; }
  const std::vector<std::pair<std::string, Value>> &members() const { return members_; }

  // Object member lookup; nullptr when absent or not an object.
  const Value *find(const std::string &key) const;
  // Member access that yields a null value when absent: v["error"]["desc"].as_string().
  const Value &operator[](const std::string &key) const;

  // Builders (return *this for chaining).
  Value &set(const std::string &key, Value v);
  Value &push(Value v);

  // Compact serialization, one line.
  std::string dump() const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double num_ = 0;
  int64_t int_ = 0;
  std::string str_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Parses one JSON document. On failure returns false and sets *error to a message that names the
// byte offset; never throws on bad input.
bool parse(const std::string &text, Value *out, std::string *error);

// Quotes and escapes a string for JSON.
std::string quote(const std::string &s);

}  // namespace pvscsi_qemu::json
