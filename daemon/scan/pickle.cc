// SPDX-License-Identifier: Apache-2.0
#include "scan/pickle.h"

#include <fmt/format.h>

#include <optional>
#include <vector>

namespace nbw {
namespace {

// Bounds for hostile streams. Values live in an arena indexed by number, so a
// self-referencing list (legal in pickle) costs nothing and frees in one go.
constexpr size_t kMaxValues = 4'000'000;
constexpr uint64_t kMaxOps = 200'000'000;
constexpr size_t kKeepItems = 64;    // container elements remembered (the rest counted)
constexpr size_t kKeepString = 512;  // string bytes remembered
constexpr size_t kMaxLine = 64 * 1024;
constexpr int kMaxNesting = 8;  // pickles inside pickles (joblib object arrays)

enum class K : uint8_t {
  kNone,
  kInt,
  kBool,
  kFloat,
  kStr,
  kBytes,
  kTuple,
  kList,
  kDict,
  kSet,
  kGlobal,
  kObject,
  kUnknown
};

struct Value {
  K kind = K::kUnknown;
  bool truncated = false;  // a string longer than kKeepString
  int64_t i = 0;
  std::string s;                // str/bytes contents; "module.name" for globals
  std::vector<uint32_t> items;  // tuple/list/set elements, dict k,v pairs
  uint32_t callee = 0;          // object: what was called (a value index)
  uint32_t state = 0;           // object: BUILD state, 0 = none
  int finding = -1;             // global: index of its finding, -1 if judged clean
};

class Vm {
 public:
  Vm(const ModelGuardPolicy& policy, ScanReport& report, const std::string& member, Cursor& in,
     int depth, PickleScanner& outer)
      : policy_(policy), report_(report), member_(member), in_(in), depth_(depth), outer_(outer) {
    values_.reserve(1024);
    values_.emplace_back();  // index 0: "nothing"
    // Values nothing ever looks into are shared: a float-heavy pickle pushes
    // millions of them.
    none_ = New(K::kNone);
    float_ = New(K::kFloat);
    true_ = New(K::kBool);
    values_[true_].i = 1;
    false_ = New(K::kBool);
  }
  PickleOutcome Run();

 private:
  uint32_t New(K kind) {
    if (values_.size() >= kMaxValues) throw Bounds{"more than 4M objects"};
    values_.emplace_back();
    values_.back().kind = kind;
    return static_cast<uint32_t>(values_.size() - 1);
  }
  uint32_t NewInt(int64_t v) {
    uint32_t x = New(K::kInt);
    values_[x].i = v;
    return x;
  }
  uint32_t NewStr(K kind, uint64_t len) {
    uint32_t x = New(kind);
    if (!in_.Take(len, &values_[x].s, kKeepString)) throw Malformed{"string runs past the end"};
    values_[x].truncated = len > kKeepString;
    return x;
  }
  void Push(uint32_t v) {
    if (stack_.size() > kMaxValues) throw Bounds{"stack deeper than 4M"};
    stack_.push_back(v);
  }
  uint32_t Pop() {
    if (stack_.size() <= Floor()) throw Malformed{"stack underflow"};
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t& Top() {
    if (stack_.size() <= Floor()) throw Malformed{"stack underflow"};
    return stack_.back();
  }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<uint32_t> PopMark() {
    if (marks_.empty()) throw Malformed{"no MARK on the stack"};
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  void AddItems(uint32_t container, const std::vector<uint32_t>& items) {
    auto& c = values_[container].items;
    for (uint32_t v : items) {
      if (c.size() < kKeepItems) c.push_back(v);
    }
  }
  uint32_t Memo(uint64_t key) {
    if (key < memo_.size() && memo_[key]) return memo_[key];
    throw Malformed{fmt::format("memo key {} was never stored", key)};
  }
  void Store(uint64_t key, uint32_t v) {
    if (key >= kMaxValues) throw Bounds{"memo key over 4M"};
    if (key >= memo_.size()) memo_.resize(key + 1, 0);
    memo_[key] = v;
  }
  uint64_t Num(int width) {
    uint64_t v;
    if (!in_.Le(width, v)) throw Malformed{"truncated argument"};
    return v;
  }
  std::string Line() {
    std::string l;
    if (!in_.Line(l, kMaxLine)) throw Malformed{"unterminated text argument"};
    return l;
  }
  uint32_t Global(std::string module, std::string name, uint64_t at, std::string_view how);
  void Call(uint32_t callee, uint64_t at);
  void Build(uint64_t at);
  void SkipJoblibArray(uint32_t wrapper);
  std::optional<std::string> Str(uint32_t v) const {
    if (v && values_[v].kind == K::kStr && !values_[v].truncated) return values_[v].s;
    return std::nullopt;
  }

  struct Malformed {
    std::string why;
  };
  struct Bounds {
    std::string why;
  };

  const ModelGuardPolicy& policy_;
  ScanReport& report_;
  const std::string& member_;
  Cursor& in_;
  const int depth_;
  PickleScanner& outer_;
  std::vector<Value> values_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::vector<uint32_t> memo_;
  int proto_ = 0;
  uint64_t globals_ = 0;
  uint32_t none_ = 0, float_ = 0, true_ = 0, false_ = 0;
};

uint32_t Vm::Global(std::string module, std::string name, uint64_t at, std::string_view how) {
  globals_++;
  uint32_t g = New(K::kGlobal);
  auto j = policy_.JudgeGlobal(module, name);
  values_[g].s = std::string(MapPython2Module(module)) + "." + name;
  if (j.verdict != Verdict::kClean) {
    values_[g].finding = static_cast<int>(report_.findings.size());
    report_.Add({j.verdict, "global", member_, at, values_[g].s,
                 fmt::format("{} {} ({})", how, values_[g].s, j.why)});
  }
  return g;
}

// A call of anything that is not a judged-clean global is noted on the
// global's finding: "imported" and "called" read differently to a human.
void Vm::Call(uint32_t callee, uint64_t at) {
  const Value& c = values_[callee];
  if (c.kind == K::kGlobal && c.finding >= 0 &&
      static_cast<size_t>(c.finding) < report_.findings.size() &&
      report_.findings[c.finding].global == c.s) {
    auto& d = report_.findings[c.finding].detail;
    if (d.find(", called at") == std::string::npos) d += fmt::format(", called at offset {}", at);
  }
}

void Vm::Build(uint64_t at) {
  uint32_t state = Pop();
  uint32_t& obj = Top();
  if (values_[obj].kind == K::kObject) {
    values_[obj].state = state;
    const Value& callee = values_[values_[obj].callee];
    if (callee.kind == K::kGlobal && (callee.s == "joblib.numpy_pickle.NumpyArrayWrapper")) {
      SkipJoblibArray(obj);
    }
  }
  (void)at;
}

// joblib writes an array's bytes straight after the BUILD of its wrapper and
// reads them back from the file in load_build: skip exactly that many bytes
// (plus the alignment padding), or scan the nested pickle of an object array.
void Vm::SkipJoblibArray(uint32_t wrapper) {
  const Value& st = values_[values_[wrapper].state];
  if (st.kind != K::kDict) throw Malformed{"joblib array wrapper without a state dict"};
  uint32_t shape = 0, dtype = 0, align = 0;
  bool has_align = false;
  for (size_t i = 0; i + 1 < st.items.size(); i += 2) {
    auto key = Str(st.items[i]);
    if (!key) continue;
    if (*key == "shape") shape = st.items[i + 1];
    if (*key == "dtype") dtype = st.items[i + 1];
    if (*key == "numpy_array_alignment_bytes") has_align = true, align = st.items[i + 1];
  }
  const Value& dt = values_[dtype];
  if (!shape || values_[shape].kind != K::kTuple || dt.kind != K::kObject) {
    throw Malformed{"joblib array wrapper without shape and dtype"};
  }
  // numpy.dtype(typestr, align, copy) with BUILD state (version, endian,
  // subdescr, names, fields, elsize, alignment, flags).
  std::optional<std::string> typestr;
  if (!dt.items.empty()) {
    const Value& a = values_[dt.items[0]];
    if (a.kind == K::kTuple && !a.items.empty()) typestr = Str(a.items[0]);
  }
  int64_t elsize = -1, flags = 0;
  const Value& ds = values_[dt.state];
  if (ds.kind == K::kTuple && ds.items.size() >= 8) {
    if (values_[ds.items[5]].kind == K::kInt) elsize = values_[ds.items[5]].i;
    if (values_[ds.items[7]].kind == K::kInt) flags = values_[ds.items[7]].i;
  }
  if (!typestr || typestr->empty()) throw Malformed{"joblib array dtype is not a type string"};
  if ((*typestr)[0] == 'O' || (flags & 1)) {  // NPY_ITEM_HASOBJECT: a nested pickle
    if (depth_ + 1 > kMaxNesting) throw Bounds{"pickles nested deeper than 8"};
    PickleOutcome o = outer_.ScanOne(in_, depth_ + 1);
    if (!o.stopped) throw Malformed{"joblib object array: " + o.error};
    return;
  }
  uint64_t itemsize = 0;
  if (elsize > 0) {
    itemsize = static_cast<uint64_t>(elsize);
  } else {
    uint64_t n = 0;
    for (char ch : typestr->substr(1)) {
      if (ch < '0' || ch > '9' || n > (1u << 30)) throw Malformed{"joblib array dtype size"};
      n = n * 10 + (ch - '0');
    }
    itemsize = (*typestr)[0] == 'U' ? 4 * n : n;
  }
  uint64_t count = 1;
  for (uint32_t d : values_[shape].items) {
    if (values_[d].kind != K::kInt || values_[d].i < 0) throw Malformed{"joblib array shape"};
    if (values_[d].i != 0 && count > UINT64_MAX / static_cast<uint64_t>(values_[d].i)) {
      throw Malformed{"joblib array size overflows"};
    }
    count *= static_cast<uint64_t>(values_[d].i);
  }
  if (values_[shape].items.size() >= kKeepItems) throw Bounds{"joblib array of 64+ dimensions"};
  if (itemsize != 0 && count > UINT64_MAX / itemsize)
    throw Malformed{"joblib array size overflows"};
  if (has_align && values_[align].kind == K::kInt) {
    uint64_t pad = Num(1);
    if (!in_.Skip(pad)) throw Malformed{"joblib array padding runs past the end"};
  }
  if (!in_.Skip(count * itemsize)) throw Malformed{"joblib array data runs past the end"};
}

PickleOutcome Vm::Run() {
  PickleOutcome out;
  uint64_t ops = 0;
  uint64_t at = in_.pos();
  try {
    for (;;) {
      at = in_.pos();
      if (++ops > kMaxOps) throw Bounds{"more than 200M opcodes"};
      uint8_t op;
      if (!in_.Byte(op)) throw Malformed{"ends before STOP"};
      switch (op) {
        case '.':  // STOP
          out.stopped = true;
          out.end = in_.pos();
          out.protocol = proto_;
          out.globals = globals_;
          return out;
        case 0x80: {  // PROTO
          uint64_t p = Num(1);
          if (p > 5) throw Malformed{fmt::format("unsupported protocol {}", p)};
          proto_ = static_cast<int>(p);
          break;
        }
        case 0x95:  // FRAME: a length hint
          Num(8);
          break;
        case '(':  // MARK
          marks_.push_back(stack_.size());
          break;
        case '0':  // POP
          if (stack_.size() > Floor()) {
            stack_.pop_back();
          } else {
            PopMark();  // CPython pops a mark when the stack above it is empty
          }
          break;
        case '1':  // POP_MARK
          PopMark();
          break;
        case '2':  // DUP
          Push(Top());
          break;
        case 'N': Push(none_); break;
        case 0x88: Push(true_); break;   // NEWTRUE
        case 0x89: Push(false_); break;  // NEWFALSE
        case 'I':                        // INT (text; "01"/"00" are True/False in protocol 0)
        case 'L': {
          std::string l = Line();
          int64_t v = 0;
          try {
            v = std::stoll(l, nullptr, 10);
          } catch (...) {
            if (l.empty() || l.find_first_not_of("0123456789-+L ") != std::string::npos) {
              throw Malformed{"bad integer literal"};
            }
          }
          Push(NewInt(v));
          break;
        }
        case 'J': Push(NewInt(static_cast<int32_t>(Num(4)))); break;
        case 'K': Push(NewInt(static_cast<int64_t>(Num(1)))); break;
        case 'M': Push(NewInt(static_cast<int64_t>(Num(2)))); break;
        case 0x8a:    // LONG1
        case 0x8b: {  // LONG4
          uint64_t n = Num(op == 0x8a ? 1 : 4);
          std::string bytes;
          if (!in_.Take(n, &bytes, 8)) throw Malformed{"long runs past the end"};
          int64_t v = 0;
          if (n <= 8) {
            for (size_t i = 0; i < bytes.size(); i++)
              v |= static_cast<int64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
            if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80))
              v -= int64_t{1} << (8 * n);
          }
          Push(NewInt(v));
          break;
        }
        case 'F': Line(), Push(float_); break;
        case 'G':
          if (!in_.Skip(8)) throw Malformed{"truncated argument"};
          Push(float_);
          break;
        case 'S':    // STRING: a quoted repr
        case 'V': {  // UNICODE: raw-unicode-escape
          uint32_t s = New(op == 'S' ? K::kBytes : K::kStr);
          std::string l = Line();
          if (op == 'S') {
            if (l.size() < 2 || (l.front() != '\'' && l.front() != '"') || l.back() != l.front())
              throw Malformed{"STRING argument is not quoted"};
            l = l.substr(1, l.size() - 2);
          }
          values_[s].s = l.substr(0, kKeepString);
          values_[s].truncated = l.size() > kKeepString || l.find('\\') != std::string::npos;
          Push(s);
          break;
        }
        case 'T': {  // BINSTRING: a signed length
          auto n = static_cast<int32_t>(Num(4));
          if (n < 0) throw Malformed{"negative BINSTRING length"};
          Push(NewStr(K::kBytes, static_cast<uint64_t>(n)));
          break;
        }
        case 'U': Push(NewStr(K::kBytes, Num(1))); break;
        case 'B': Push(NewStr(K::kBytes, Num(4))); break;
        case 'C': Push(NewStr(K::kBytes, Num(1))); break;
        case 0x8e: Push(NewStr(K::kBytes, Num(8))); break;  // BINBYTES8
        case 0x96: Push(NewStr(K::kBytes, Num(8))); break;  // BYTEARRAY8
        case 'X': Push(NewStr(K::kStr, Num(4))); break;     // BINUNICODE
        case 0x8c: Push(NewStr(K::kStr, Num(1))); break;    // SHORT_BINUNICODE
        case 0x8d: Push(NewStr(K::kStr, Num(8))); break;    // BINUNICODE8
        case 0x97:  // NEXT_BUFFER: out-of-band data the caller supplies
          Push(New(K::kUnknown));
          break;
        case 0x98:  // READONLY_BUFFER
          Top();
          break;
        case ')': Push(New(K::kTuple)); break;
        case ']': Push(New(K::kList)); break;
        case '}': Push(New(K::kDict)); break;
        case 0x8f: Push(New(K::kSet)); break;
        case 't':     // TUPLE
        case 'l':     // LIST
        case 0x91: {  // FROZENSET
          auto items = PopMark();
          uint32_t c = New(op == 't' ? K::kTuple : op == 'l' ? K::kList : K::kSet);
          AddItems(c, items);
          Push(c);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          size_t n = op - 0x84;
          std::vector<uint32_t> items(n);
          for (size_t i = n; i-- > 0;) items[i] = Pop();
          uint32_t c = New(K::kTuple);
          AddItems(c, items);
          Push(c);
          break;
        }
        case 'd': {  // DICT
          auto items = PopMark();
          if (items.size() % 2) throw Malformed{"odd number of items for DICT"};
          uint32_t c = New(K::kDict);
          AddItems(c, items);
          Push(c);
          break;
        }
        case 'a': {  // APPEND
          uint32_t v = Pop();
          AddItems(Top(), {v});
          break;
        }
        case 'e':     // APPENDS
        case 0x90: {  // ADDITEMS
          auto items = PopMark();
          AddItems(Top(), items);
          break;
        }
        case 's': {  // SETITEM
          uint32_t v = Pop(), k = Pop();
          AddItems(Top(), {k, v});
          break;
        }
        case 'u': {  // SETITEMS
          auto items = PopMark();
          if (items.size() % 2) throw Malformed{"odd number of items for SETITEMS"};
          AddItems(Top(), items);
          break;
        }
        case 'g': {
          std::string l = Line();
          uint64_t k = 0;
          try {
            k = std::stoull(l);
          } catch (...) {
            throw Malformed{"bad GET key"};
          }
          Push(Memo(k));
          break;
        }
        case 'h': Push(Memo(Num(1))); break;
        case 'j': Push(Memo(Num(4))); break;
        case 'p': {
          std::string l = Line();
          uint64_t k = 0;
          try {
            k = std::stoull(l);
          } catch (...) {
            throw Malformed{"bad PUT key"};
          }
          Store(k, Top());
          break;
        }
        case 'q': Store(Num(1), Top()); break;
        case 'r': Store(Num(4), Top()); break;
        case 0x94: Store(memo_.size(), Top()); break;  // MEMOIZE
        case 'c': {                                    // GLOBAL
          std::string module = Line();
          std::string name = Line();
          Push(Global(std::move(module), std::move(name), at, "GLOBAL"));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          uint32_t n = Pop(), m = Pop();
          auto module = Str(m), name = Str(n);
          if (!module || !name) {
            // The unpickler insists on two str operands; anything else we
            // cannot name, so it cannot be judged clean.
            report_.Add({Verdict::kSuspicious, "global", member_, at, "",
                         "STACK_GLOBAL operands are not plain strings"});
            Push(New(K::kGlobal));
          } else {
            Push(Global(*module, *name, at, "STACK_GLOBAL"));
          }
          break;
        }
        case 'i': {  // INST: GLOBAL + call with the marked args
          std::string module = Line();
          std::string name = Line();
          uint32_t g = Global(std::move(module), std::move(name), at, "INST");
          auto args = PopMark();
          Call(g, at);
          uint32_t o = New(K::kObject);
          values_[o].callee = g;
          AddItems(o, args);
          Push(o);
          break;
        }
        case 'o': {  // OBJ: callee is the first marked item
          auto items = PopMark();
          if (items.empty()) throw Malformed{"OBJ without a class"};
          Call(items[0], at);
          uint32_t o = New(K::kObject);
          values_[o].callee = items[0];
          items.erase(items.begin());
          AddItems(o, items);
          Push(o);
          break;
        }
        case 'R':     // REDUCE: callable, args
        case 0x81:    // NEWOBJ: cls, args
        case 0x92: {  // NEWOBJ_EX: cls, args, kwargs
          if (op == 0x92) Pop();
          uint32_t args = Pop();
          uint32_t callee = Pop();
          Call(callee, at);
          uint32_t o = New(K::kObject);
          values_[o].callee = callee;
          values_[o].items.push_back(args);
          Push(o);
          break;
        }
        case 'b': Build(at); break;
        case 0x82:
        case 0x83:
        case 0x84: {  // EXT1/2/4: a code in copyreg's extension registry
          uint64_t code = Num(op == 0x82 ? 1 : op == 0x83 ? 2 : 4);
          report_.Add({Verdict::kSuspicious, "extension", member_, at, "",
                       fmt::format("EXT{} code {}: a global named through copyreg's extension "
                                   "registry, which the scanner cannot see",
                                   op == 0x82   ? 1
                                   : op == 0x83 ? 2
                                                : 4,
                                   code)});
          Push(New(K::kGlobal));
          break;
        }
        case 'P':  // PERSID: the loader's persistent_load (torch storages)
          Line();
          Push(New(K::kUnknown));
          break;
        case 'Q':  // BINPERSID
          Pop();
          Push(New(K::kUnknown));
          break;
        default: throw Malformed{fmt::format("unknown opcode 0x{:02x}", op)};
      }
    }
  } catch (const Malformed& m) {
    out.malformed = true;
    out.error = in_.error().ok() ? fmt::format("{} at offset {}", m.why, at)
                                 : fmt::format("{} at offset {}", in_.error().message(), at);
  } catch (const Bounds& b) {
    out.malformed = true;
    out.error = fmt::format("over the scanner's bounds: {} at offset {}", b.why, at);
  }
  out.end = at;
  out.protocol = proto_;
  out.globals = globals_;
  return out;
}

}  // namespace

PickleOutcome PickleScanner::ScanOne(Cursor& in, int depth) {
  Vm vm(policy_, report_, member_, in, depth, *this);
  return vm.Run();
}

PickleOutcome PickleScanner::ScanStacked(Cursor& in) {
  PickleOutcome first;
  for (int n = 0; in.remaining() > 0; n++) {
    uint64_t start = in.pos();
    size_t findings_before = report_.findings.size();
    PickleOutcome o = ScanOne(in);
    if (n == 0) first = o;
    if (o.stopped) continue;
    if (n > 0 && o.globals == 0 && report_.findings.size() == findings_before) {
      in.Seek(start);  // not a pickle after all: raw data follows the last one
      return first;
    }
    report_.Add({Verdict::kUnscannable, "malformed", member_, o.end, "",
                 fmt::format("pickle {} is malformed: {}; the unpickler would have run "
                             "everything before this point",
                             n + 1, o.error)});
    report_.complete = false;
    return first;
  }
  return first;
}

bool LooksLikePickle(std::string_view head) {
  if (head.size() < 2) return false;
  auto b0 = static_cast<uint8_t>(head[0]);
  auto b1 = static_cast<uint8_t>(head[1]);
  if (b0 == 0x80) return b1 >= 2 && b1 <= 5;
  // Protocol 0/1 streams usually open with MARK, a GLOBAL, an empty
  // container or a string: too weak alone, callers add a name or extension.
  return b0 == '(' || b0 == 'c' || b0 == '}' || b0 == ']' || b0 == ')' || b0 == 'X' || b0 == 'U' ||
         b0 == 'S' || b0 == 'V';
}

}  // namespace nbw
