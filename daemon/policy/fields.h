// SPDX-License-Identifier: Apache-2.0
// Fields: the names a rule's conditions use ("open.path", "proc.name", ...)
// and how each is read from an event and what the process table knows.
// Looked up once when a rule is compiled; evaluated per event without
// allocation where the value is already a string in the event. Any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "process/process_table.h"
#include "scan/model_load.h"
#include "sensor/describe.h"
#include "sensor/event.h"

namespace nbw {

// What a field evaluates to. Lists (ancestors, namespaces) match when any
// element matches.
using FieldValue =
    std::variant<std::monostate, std::string, int64_t, bool, std::vector<std::string>>;

// Files targets wrote recently (path -> the writer's argv), kept by the
// agent; lets rules see "exec of a file a target just wrote".
class RecentWrites {
 public:
  virtual ~RecentWrites() = default;
  virtual const std::string* Writer(const std::string& path) const = 0;
};

// Everything a rule may look at for one event. `args` are decoded lazily
// (sensor/describe.h): only syscall events have them.
class EvalContext {
 public:
  EvalContext(const Event& ev, const ProcessInfo* proc, const ProcessTable* table)
      : ev(ev), proc(proc), table(table) {}
  const Event& ev;
  const ProcessInfo* proc;
  const ProcessTable* table;
  const RecentWrites* writes = nullptr;
  // The model-load window this process is in (or the one a model event
  // opened), if any.
  const ModelLoad* model = nullptr;
  const std::vector<NamedArg>& Args() const;  // SyscallArgs(ev), decoded once
  const std::vector<AncestorRef>& Ancestors() const;
  // A field's value, computed once per event however many rules read it.
  const FieldValue& Cached(FieldValue (*get)(const EvalContext&)) const;

 private:
  mutable std::deque<std::pair<FieldValue (*)(const EvalContext&), FieldValue>> cache_;
  mutable std::optional<std::vector<NamedArg>> args_;
  mutable std::optional<std::vector<AncestorRef>> ancestors_;
};

using FieldGetter = FieldValue (*)(const EvalContext&);

struct FieldSpec {
  std::string_view name;
  FieldGetter get;
  std::string_view help;
};

// nullopt for an unknown name ("args.<name>" fields are FieldRef's job).
std::optional<FieldGetter> LookupField(std::string_view name);
// A syscall event's decoded argument by name ("namespaces" in args.namespaces).
FieldValue SyscallArg(const EvalContext& c, const std::string& name);

// A field as a rule names it: a getter, or a syscall argument name.
struct FieldRef {
  std::string name;
  FieldGetter get = nullptr;
  std::string arg;  // set for "args.<arg>"
  // By reference when cached: rules on hot events do not copy strings.
  FieldValue Read(const EvalContext& c) const { return get ? c.Cached(get) : SyscallArg(c, arg); }
  const FieldValue& ReadRef(const EvalContext& c, FieldValue& scratch) const {
    if (get) return c.Cached(get);
    scratch = SyscallArg(c, arg);
    return scratch;
  }
};
// Resolves "proc.name", "args.namespaces", ...; nullopt if unknown.
std::optional<FieldRef> ResolveField(std::string_view name);
const std::vector<FieldSpec>& AllFields();
std::string FieldToString(const FieldValue& v);

}  // namespace nbw
