// An option parsed once, as the command line is read, into a typed field: the
// library's parse function (whose Error lists the known names) runs here, so
// no option string travels past the CLI and a bad name fails before any work.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

template <class T, class Parse>
CLI::Option* add_typed_option(CLI::App& cmd, const std::string& name, T& field, Parse parse, const std::string& help) {
  return cmd.add_option_function<std::string>(name, [&field, parse](const std::string& s) { field = parse(s); }, help);
}
