// A small JSON writer: objects, arrays, strings (escaped), integers, doubles, booleans, null.
// Keys and values are written in the order given; commas and indentation are handled here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace exerciser {

class JsonWriter {
 public:
  explicit JsonWriter(bool pretty = true) : pretty_(pretty) {}

  JsonWriter &begin_object();
  JsonWriter &end_object();
  JsonWriter &begin_array();
  JsonWriter &end_array();
  // Inside an object: the next value's key.
  JsonWriter &key(const std::string &k);

  JsonWriter &value(const std::string &s);
  JsonWriter &value(const char *s) { return value(std::string(s)); }
  JsonWriter &value(uint64_t v);
  JsonWriter &value(int64_t v);
  JsonWriter &value(int v) { return value(int64_t(v)); }
  JsonWriter &value(unsigned v) { return value(uint64_t(v)); }
  JsonWriter &value(double v);  // NaN and infinities become null
  JsonWriter &value(bool v);
  JsonWriter &null();

  // key + value in one call.
  template <class T>
  JsonWriter &field(const std::string &k, const T &v) {
    key(k);
    return value(v);
  }

  // The document; valid once every object and array is closed.
  const std::string &str() const { return out_; }
  bool complete() const { return stack_.empty() && !out_.empty(); }

  static std::string escape(const std::string &s);

 private:
  void before_value();
  void newline();

  bool pretty_;
  std::string out_;
  struct Level {
    bool object;
    bool empty;
  };
  std::vector<Level> stack_;
  bool after_key_ = false;
};

}  // namespace exerciser
