#include "cli/config_file.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

#include "video/url_redaction.h"

namespace sluice::cli {
namespace {

// One `key: value` of a config file, before it is checked against the command.
struct Entry {
  std::string key;
  int line = 0;                     // 1-based
  std::vector<std::string> values;  // empty: null or [], which leaves the option unset
};

const CLI::App* parsed_leaf(const CLI::App& root) {
  const CLI::App* app = &root;
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  return app;
}

// "serve", "bench backend": the command's words after "sluice".
std::vector<std::string> command_path(const CLI::App& command) {
  std::vector<std::string> path;
  for (const CLI::App* app = &command; app != nullptr && app->get_parent() != nullptr;
       app = app->get_parent()) {
    path.insert(path.begin(), app->get_name());
  }
  return path;
}

std::string command_words(const CLI::App& command) {
  return fmt::format("{}", fmt::join(command_path(command), " "));
}

bool is_flag(const CLI::Option& opt) {
  return opt.get_expected_max() == 0;  // a flag takes no value
}

bool is_list(const CLI::Option& opt) {
  return opt.get_items_expected_max() > 1;
}

// The options a config file may set, in --help order: all but help and the non-configurable.
std::vector<const CLI::Option*> config_options(const CLI::App& app) {
  return app.get_options([&app](const CLI::Option* opt) {
    return opt != app.get_help_ptr() && opt != app.get_help_all_ptr() && opt->get_configurable() &&
           !opt->get_single_name().empty();
  });
}

// A key names an option by its long name (any of them), a one-letter short name, or a
// positional's name: what CLI11 itself looks up for a config item.
const CLI::Option* find_option(const CLI::App& app, const std::string& key) {
  for (const CLI::Option* opt : config_options(app)) {
    if (opt->check_lname(key) || (key.size() == 1 && opt->check_sname(key)) ||
        (opt->get_positional() && opt->check_name(key))) {
      return opt;
    }
  }
  return nullptr;
}

bool is_toml(const std::string& file) {
  return file.size() >= 5 && file.compare(file.size() - 5, 5, ".toml") == 0;
}

[[noreturn]] void fail(const std::string& file, int line, const std::string& message) {
  throw CLI::ConfigError(fmt::format("{}:{}: {}", file, line, message));
}

std::vector<Entry> read_yaml(const std::string& text, const std::string& file) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(file, e.mark.line + 1, e.msg);
  }
  if (!doc || doc.IsNull()) return {};
  if (!doc.IsMap()) fail(file, doc.Mark().line + 1, "expected `key: value` lines (a YAML mapping)");
  std::vector<Entry> entries;
  std::map<std::string, int> seen;
  for (const auto& kv : doc) {
    const int line = kv.first.Mark().line + 1;
    if (!kv.first.IsScalar()) fail(file, line, "a key must be a plain name");
    Entry e{kv.first.Scalar(), line, {}};
    if (const auto [it, fresh] = seen.emplace(e.key, line); !fresh) {
      fail(file, line, fmt::format("'{}' is given twice (first on line {})", e.key, it->second));
    }
    const YAML::Node& v = kv.second;
    if (v.IsScalar()) {
      e.values.push_back(v.Scalar());
    } else if (v.IsSequence()) {
      for (const auto& item : v) {
        if (!item.IsScalar())
          fail(file, item.Mark().line + 1, fmt::format("'{}' must be a list of plain values", e.key));
        e.values.push_back(item.Scalar());
      }
    } else if (v.IsMap()) {
      fail(file, line,
           fmt::format("'{}' holds a nested mapping; options are flat `key: value` pairs", e.key));
    }  // null: the option stays unset
    entries.push_back(std::move(e));
  }
  return entries;
}

std::optional<std::string> toml_scalar(const toml::node& n) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = n.as_boolean()) return std::string(b->get() ? "true" : "false");
  std::ostringstream os;
  if (const auto* d = n.as_date()) {
    os << *d;
  } else if (const auto* t = n.as_time()) {
    os << *t;
  } else if (const auto* dt = n.as_date_time()) {
    os << *dt;
  } else {
    return std::nullopt;
  }
  return os.str();
}

std::vector<Entry> read_toml(const std::string& text, const std::string& file) {
  toml::table table;
  try {
    table = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    fail(file, static_cast<int>(e.source().begin.line), std::string(e.description()));
  }
  std::vector<Entry> entries;
  for (const auto& [key, node] : table) {
    Entry e{std::string(key.str()), static_cast<int>(key.source().begin.line), {}};
    if (node.is_table()) {
      fail(file, e.line, fmt::format("'{}' is a table; options are flat `key = value` pairs", e.key));
    } else if (const auto* array = node.as_array()) {
      for (const auto& item : *array) {
        auto value = toml_scalar(item);
        if (!value) fail(file, e.line, fmt::format("'{}' must be an array of plain values", e.key));
        e.values.push_back(std::move(*value));
      }
    } else {
      e.values.push_back(toml_scalar(node).value_or(""));
    }
    entries.push_back(std::move(e));
  }
  // A TOML table is ordered by key: report problems in the order of the file.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.line < b.line; });
  return entries;
}

std::string unknown_key_message(const CLI::App& command, const std::string& key) {
  const std::string words = command_words(command);
  std::string hint;
  std::string dashed = key;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  while (!dashed.empty() && dashed.front() == '-') dashed.erase(dashed.begin());
  if (dashed != key && find_option(command, dashed) != nullptr)
    hint = fmt::format(" (did you mean '{}'?)", dashed);
  return fmt::format(
      "unknown key '{}' for sluice {}{}; the keys are the long options of `sluice {} --help` "
      "without their dashes",
      key, words, hint, words);
}

// Secrets inside URLs (a camera's or Redis' password, a signed query) are printed as ***.
std::string yaml_scalar(const std::string& value) {
  YAML::Emitter out;
  out << video::redact_text(value, video::UserInfo::kMask);
  return out.c_str();
}

// CLI11 prints a list default as "[a,b]".
std::vector<std::string> parse_list_default(std::string text) {
  std::vector<std::string> items;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::string effective_value(const CLI::Option& opt) {
  if (is_flag(opt)) {
    bool on = false;
    if (opt.count() > 0) {
      try {
        on = opt.as<bool>();
      } catch (const CLI::Error&) {
        on = true;
      }
    } else {
      on = opt.get_default_str() == "true" || opt.get_default_str() == "1";
    }
    return on ? "true" : "false";
  }
  if (is_list(opt)) {
    const auto values = opt.count() > 0 ? opt.results() : parse_list_default(opt.get_default_str());
    YAML::Emitter out;
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& v : values) out << video::redact_text(v, video::UserInfo::kMask);
    out << YAML::EndSeq;
    return out.c_str();
  }
  if (opt.count() > 0 && !opt.results().empty()) return yaml_scalar(opt.results().back());
  if (!opt.get_default_str().empty()) return yaml_scalar(opt.get_default_str());
  return "null";
}

}  // namespace

std::vector<CLI::ConfigItem> FileConfig::from_config(std::istream& input) const {
  const std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
  const CLI::Option* option = root_.get_config_ptr();
  const std::string file = option != nullptr && option->count() > 0 ? option->as<std::string>() : "config";
  const CLI::App* command = parsed_leaf(root_);
  if (command == &root_) {
    throw CLI::ConfigError(
        fmt::format("{}: --config goes with a command, as in: sluice serve --config {}", file, file));
  }
  const auto entries = is_toml(file) ? read_toml(text, file) : read_yaml(text, file);
  std::vector<CLI::ConfigItem> items;
  for (const auto& e : entries) {
    const CLI::Option* opt = find_option(*command, e.key);
    if (opt == nullptr) fail(file, e.line, unknown_key_message(*command, e.key));
    if (e.values.empty()) continue;  // null or []: the default stays
    if (!is_list(*opt) && e.values.size() > 1) {
      fail(file, e.line, fmt::format("'{}' takes one value, not a list of {}", e.key, e.values.size()));
    }
    CLI::ConfigItem item;
    item.parents = command_path(*command);
    item.name = opt->get_single_name();
    item.inputs = e.values;
    items.push_back(std::move(item));
  }
  return items;
}

std::string FileConfig::to_config(const CLI::App* app, bool, bool, std::string) const {
  return effective_config_yaml(*app);
}

std::string effective_config_yaml(const CLI::App& command) {
  const std::string words = command_words(command);
  std::string out = fmt::format(
      "# sluice {}: the effective configuration (command line, then --config file, then defaults).\n"
      "# Use it with: sluice {} --config FILE\n"
      "# Secrets in URLs (user:password@, and token, key, sig, password, ... query values) are hidden as "
      "***:\n"
      "# put them back before using this file.\n",
      words, words);
  for (const CLI::Option* opt : config_options(command)) {
    out += '\n';
    std::stringstream description(opt->get_description());
    for (std::string line; std::getline(description, line);) out += fmt::format("# {}\n", line);
    if (!is_flag(*opt) && !opt->get_default_str().empty())
      out +=
          fmt::format("# default: {}\n", video::redact_text(opt->get_default_str(), video::UserInfo::kMask));
    out += fmt::format("{}: {}\n", opt->get_single_name(), effective_value(*opt));
  }
  return out;
}

void install_config_files(CLI::App& root) {
  root.set_config("--config", "",
                  "Read the command's options from this YAML file (TOML if it ends in .toml): keys are the "
                  "long option names without dashes; options on the command line win. Goes after the "
                  "command: sluice serve --config examples/serve.yaml");
  root.config_formatter(std::make_shared<FileConfig>(root));
  root.allow_config_extras(CLI::config_extras_mode::error);
  auto print = std::make_shared<bool>(false);
  root.add_flag("--print-config", *print,
                "Print the command's effective configuration (defaults < --config file < command line) as "
                "YAML, and exit without running it");
  root.parse_complete_callback([&root, print] {
    if (!*print) return;
    const CLI::App* command = parsed_leaf(root);
    if (command == &root)
      throw CLI::ValidationError("--print-config", "name a command: sluice serve --print-config");
    std::fputs(effective_config_yaml(*command).c_str(), stdout);
    throw CLI::Success();
  });

  // Every command (and group of commands) passes --config and --print-config up to the root.
  std::vector<CLI::App*> pending = root.get_subcommands([](CLI::App*) { return true; });
  while (!pending.empty()) {
    CLI::App* command = pending.back();
    pending.pop_back();
    if (command->get_name().empty() || command->get_name() == "config") continue;
    command->fallthrough();
    const auto children = command->get_subcommands([](CLI::App*) { return true; });
    pending.insert(pending.end(), children.begin(), children.end());
    if (!children.empty()) continue;
    for (CLI::Option* opt : command->get_options()) {
      if (opt->get_default_str().empty()) opt->capture_default_str();
      if (opt->get_default_str() == "[]") opt->default_str("");
    }
    const std::string words = command_words(*command);
    const std::string footer = command->get_footer();
    command->footer(fmt::format(
        "{}{}Every option can also come from a file: sluice {} --config FILE (YAML, or TOML for *.toml; keys "
        "are the long names without dashes, and the command line wins). --print-config shows the effective "
        "configuration.",
        footer, footer.empty() ? "" : "\n\n", words));
  }
}

}  // namespace sluice::cli
