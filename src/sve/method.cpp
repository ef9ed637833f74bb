#include "sve/method.h"

#include "core/error.h"

namespace deftnn::sve {

const char* method_name(Method m) {
  switch (m) {
    case Method::Dense: return "dense";
    case Method::Sve: return "sve";
    case Method::SveLs: return "sve-ls";
    case Method::L1: return "l1";
  }
  DEFTNN_FAIL("bad sve::Method {}", int(m));
}

Method parse_method(const std::string& name, std::initializer_list<Method> known, const char* what) {
  std::string names;
  for (Method m : known) {
    if (name == method_name(m)) return m;
    names += (names.empty() ? "" : ", ") + std::string(method_name(m));
  }
  DEFTNN_FAIL("unknown {} '{}' (known: {})", what, name, names);
}

}  // namespace deftnn::sve
