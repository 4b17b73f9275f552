#include "iam/policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <ctime>
#include <optional>

#include <boost/json.hpp>

#include "base/strings.h"

namespace berth::iam {
namespace {

namespace json = boost::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Error Bad(std::string msg) {
  return MakeError(Errc::kInvalidArgument, "Invalid policy text: " + std::move(msg));
}

// ---------------------------------------------------------------------------- operators

enum class Family { kString, kNumeric, kDate, kBool, kIp, kArn, kNull, kBinary };

struct OperatorInfo {
  std::string_view name;
  Family family;
  bool negated;
  bool like;         // wildcards in policy values
  bool ignore_case;  // StringEqualsIgnoreCase
  int compare;       // numeric/date: 0 equals, -1 less, -2 less-or-equal, 1 greater, 2 ≥
};

constexpr OperatorInfo kOperators[] = {
    {"StringEquals", Family::kString, false, false, false, 0},
    {"StringNotEquals", Family::kString, true, false, false, 0},
    {"StringEqualsIgnoreCase", Family::kString, false, false, true, 0},
    {"StringNotEqualsIgnoreCase", Family::kString, true, false, true, 0},
    {"StringLike", Family::kString, false, true, false, 0},
    {"StringNotLike", Family::kString, true, true, false, 0},
    {"NumericEquals", Family::kNumeric, false, false, false, 0},
    {"NumericNotEquals", Family::kNumeric, true, false, false, 0},
    {"NumericLessThan", Family::kNumeric, false, false, false, -1},
    {"NumericLessThanEquals", Family::kNumeric, false, false, false, -2},
    {"NumericGreaterThan", Family::kNumeric, false, false, false, 1},
    {"NumericGreaterThanEquals", Family::kNumeric, false, false, false, 2},
    {"DateEquals", Family::kDate, false, false, false, 0},
    {"DateNotEquals", Family::kDate, true, false, false, 0},
    {"DateLessThan", Family::kDate, false, false, false, -1},
    {"DateLessThanEquals", Family::kDate, false, false, false, -2},
    {"DateGreaterThan", Family::kDate, false, false, false, 1},
    {"DateGreaterThanEquals", Family::kDate, false, false, false, 2},
    {"Bool", Family::kBool, false, false, false, 0},
    {"BinaryEquals", Family::kBinary, false, false, false, 0},
    {"IpAddress", Family::kIp, false, false, false, 0},
    {"NotIpAddress", Family::kIp, true, false, false, 0},
    {"ArnEquals", Family::kArn, false, true, false, 0},
    {"ArnNotEquals", Family::kArn, true, true, false, 0},
    {"ArnLike", Family::kArn, false, true, false, 0},
    {"ArnNotLike", Family::kArn, true, true, false, 0},
    {"Null", Family::kNull, false, false, false, 0},
};

const OperatorInfo* FindOperator(std::string_view name) {
  for (const auto& op : kOperators) {
    if (op.name == name) {
      return &op;
    }
  }
  return nullptr;
}

std::optional<double> ParseNumber(std::string_view s) {
  if (s.empty() || s.size() > 64) {
    return std::nullopt;
  }
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

// ISO 8601 or epoch seconds, as seconds since the epoch (fractions kept).
std::optional<double> ParseDate(std::string_view s) {
  bool all_digits = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  if (all_digits) {
    return ParseNumber(s);
  }
  return ParseIso8601(s);
}

struct IpBytes {
  int family = 0;  // 4 or 6
  unsigned char bytes[16] = {};
};

std::optional<IpBytes> ParseIp(std::string_view s) {
  std::string t(s);
  IpBytes ip;
  if (inet_pton(AF_INET, t.c_str(), ip.bytes) == 1) {
    ip.family = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, t.c_str(), ip.bytes) == 1) {
    ip.family = 6;
    // IPv4-mapped IPv6 addresses compare as IPv4.
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.bytes, kMapped, 12) == 0) {
      std::memmove(ip.bytes, ip.bytes + 12, 4);
      ip.family = 4;
    }
    return ip;
  }
  return std::nullopt;
}

struct Cidr {
  IpBytes net;
  int bits = 0;
};

std::optional<Cidr> ParseCidr(std::string_view s) {
  Cidr c;
  std::string_view addr = s;
  std::optional<int> bits;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    addr = s.substr(0, slash);
    auto n = ParseNumber(s.substr(slash + 1));
    if (!n || *n < 0 || *n != std::floor(*n) ||
        s.substr(slash + 1).find('.') != std::string::npos) {
      return std::nullopt;
    }
    bits = static_cast<int>(*n);
  }
  std::string t(addr);
  if (inet_pton(AF_INET, t.c_str(), c.net.bytes) == 1) {
    c.net.family = 4;
    c.bits = bits.value_or(32);
    return c.bits <= 32 ? std::optional<Cidr>(c) : std::nullopt;
  }
  if (inet_pton(AF_INET6, t.c_str(), c.net.bytes) == 1) {
    c.net.family = 6;
    c.bits = bits.value_or(128);
    return c.bits <= 128 ? std::optional<Cidr>(c) : std::nullopt;
  }
  return std::nullopt;
}

bool InCidr(const IpBytes& ip, const Cidr& c) {
  if (ip.family != c.net.family) {
    return false;
  }
  int full = c.bits / 8;
  if (std::memcmp(ip.bytes, c.net.bytes, static_cast<size_t>(full)) != 0) {
    return false;
  }
  int rest = c.bits % 8;
  if (rest == 0) {
    return true;
  }
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (c.net.bytes[full] & mask);
}

// ARN matching: the six colon-separated parts are matched one by one (the resource part,
// which may itself hold colons, is the remainder).
std::vector<std::string_view> SplitArn(std::string_view arn) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < 5) {
    size_t colon = arn.find(':', start);
    if (colon == std::string_view::npos) {
      break;
    }
    parts.push_back(arn.substr(start, colon - start));
    start = colon + 1;
  }
  parts.push_back(arn.substr(start));
  return parts;
}

bool ArnMatch(std::string_view pattern, std::string_view arn) {
  if (pattern == "*") {
    return true;
  }
  auto p = SplitArn(pattern);
  auto a = SplitArn(arn);
  if (p.size() != 6 || a.size() != 6) {
    return false;
  }
  for (size_t i = 0; i < 6; ++i) {
    if (!GlobMatch(p[i], a[i], false)) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------- variables

// Substitutes ${key} policy variables. nullopt when a referenced key is absent or
// multi-valued (the element then matches nothing, as IAM documents).
std::optional<std::string> Substitute(std::string_view text, const RequestContext& ctx,
                                      bool enabled) {
  if (!enabled || text.find("${") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("${", pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    size_t close = text.find('}', open);
    if (close == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    std::string_view name = text.substr(open + 2, close - open - 2);
    if (name == "*" || name == "?" || name == "$") {
      out.append(name);
    } else {
      const auto* v = ctx.Find(name);
      if (v == nullptr || v->size() != 1) {
        return std::nullopt;
      }
      out.append(v->front());
    }
    pos = close + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------- parsing

Result<std::vector<std::string>> StringList(const json::value& v, const std::string& where) {
  std::vector<std::string> out;
  if (v.is_string()) {
    if (v.get_string().empty()) {
      return Bad(where + " must not be empty");
    }
    out.emplace_back(v.get_string());
    return out;
  }
  const json::array* a = v.if_array();
  if (a == nullptr) {
    return Bad(where + " must be a string or a list of strings");
  }
  if (a->empty()) {
    return Bad(where + " must not be an empty list");
  }
  for (const auto& e : *a) {
    if (!e.is_string() || e.get_string().empty()) {
      return Bad(where + " must hold non-empty strings");
    }
    out.emplace_back(e.get_string());
  }
  return out;
}

// Condition values may be strings, booleans or numbers (IAM accepts all three).
Result<std::vector<std::string>> ConditionValues(const json::value& v, const std::string& where) {
  auto one = [&](const json::value& e) -> Result<std::string> {
    if (e.is_string()) {
      return std::string(e.get_string());
    }
    if (e.is_bool()) {
      return std::string(e.get_bool() ? "true" : "false");
    }
    if (e.is_int64() || e.is_uint64() || e.is_double()) {
      return json::serialize(e);
    }
    return Bad(where + " values must be strings, numbers or booleans");
  };
  std::vector<std::string> out;
  if (const json::array* a = v.if_array()) {
    if (a->empty()) {
      return Bad(where + " must not be an empty list");
    }
    for (const auto& e : *a) {
      BERTH_ASSIGN_OR_RETURN(std::string s, one(e));
      out.push_back(std::move(s));
    }
    return out;
  }
  BERTH_ASSIGN_OR_RETURN(std::string s, one(v));
  out.push_back(std::move(s));
  return out;
}

bool IsAccountId(std::string_view s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c));
         });
}

Status ParsePrincipal(const json::value& v, const std::string& where, Statement& st) {
  if (v.is_string()) {
    if (v.get_string() != "*") {
      return Bad(where + " must be \"*\" or an object such as {\"AWS\": [...]}");
    }
    st.principals.emplace_back("*");
    return Ok{};
  }
  const json::object* o = v.if_object();
  if (o == nullptr || o->empty()) {
    return Bad(where + " must be \"*\" or a non-empty object");
  }
  for (const auto& kv : *o) {
    std::string sub = where + "." + std::string(kv.key());
    BERTH_ASSIGN_OR_RETURN(auto list, StringList(kv.value(), sub));
    if (kv.key() == "AWS") {
      for (auto& p : list) {
        if (p != "*" && !IsAccountId(p) && !p.starts_with("arn:aws:iam::") &&
            !p.starts_with("arn:aws:sts::")) {
          return Bad(sub + " has an invalid principal '" + p +
                     "' (expected \"*\", an account id or an IAM ARN)");
        }
        st.principals.push_back(std::move(p));
      }
    } else if (kv.key() == "Service" || kv.key() == "Federated" || kv.key() == "CanonicalUser") {
      // Valid IAM, but no such caller reaches berth: kept so they never match.
      for (auto& p : list) {
        st.principals.push_back(std::string(kv.key()) + "|" + p);
      }
    } else {
      return Bad(where + " has unknown principal type '" + std::string(kv.key()) + "'");
    }
  }
  return Ok{};
}

Status ParseCondition(const json::value& v, const std::string& where, Statement& st) {
  const json::object* c = v.if_object();
  if (c == nullptr) {
    return Bad(where + " must be an object");
  }
  for (const auto& opkv : *c) {
    std::string_view full(opkv.key().data(), opkv.key().size());
    std::string owhere = where + "." + std::string(full);
    Statement::Condition cond;
    std::string_view name = full;
    if (name.starts_with("ForAnyValue:")) {
      cond.set = Statement::Condition::Set::kForAnyValue;
      name.remove_prefix(12);
    } else if (name.starts_with("ForAllValues:")) {
      cond.set = Statement::Condition::Set::kForAllValues;
      name.remove_prefix(13);
    } else if (name.find(':') != std::string_view::npos) {
      return Bad(where + ": unknown set operator in '" + std::string(full) +
                 "' (expected ForAnyValue: or ForAllValues:)");
    }
    if (name.ends_with("IfExists") && name != "IfExists") {
      cond.if_exists = true;
      name.remove_suffix(8);
    }
    const OperatorInfo* op = FindOperator(name);
    if (op == nullptr) {
      return Bad(where + ": unknown operator '" + std::string(full) + "'");
    }
    if (op->family == Family::kNull &&
        (cond.if_exists || cond.set != Statement::Condition::Set::kNone)) {
      return Bad(where + ": operator '" + std::string(full) + "' is not allowed");
    }
    cond.op = std::string(name);
    const json::object* keys = opkv.value().if_object();
    if (keys == nullptr || keys->empty()) {
      return Bad(owhere + " must map condition keys to values");
    }
    for (const auto& kv : *keys) {
      if (kv.key().empty()) {
        return Bad(owhere + " has an empty condition key");
      }
      std::string kwhere = owhere + "." + std::string(kv.key());
      BERTH_ASSIGN_OR_RETURN(auto values, ConditionValues(kv.value(), kwhere));
      for (const auto& val : values) {
        bool ok = true;
        switch (op->family) {
          case Family::kNumeric:
            ok = ParseNumber(val).has_value();
            break;
          case Family::kDate:
            ok = ParseDate(val).has_value();
            break;
          case Family::kBool:
          case Family::kNull:
            ok = EqualsIgnoreCase(val, "true") || EqualsIgnoreCase(val, "false");
            break;
          case Family::kIp:
            ok = ParseCidr(val).has_value();
            break;
          case Family::kString:
          case Family::kArn:
          case Family::kBinary:
            break;
        }
        if (!ok) {
          return Bad(kwhere + " has a value '" + val + "' that " + std::string(op->name) +
                     " cannot compare");
        }
      }
      Statement::Condition one = cond;
      one.key = std::string(kv.key());
      one.values = std::move(values);
      st.conditions.push_back(std::move(one));
    }
  }
  return Ok{};
}

Result<Statement> ParseStatement(const json::value& v, size_t index, PolicyKind kind) {
  std::string where = "Statement[" + std::to_string(index) + "]";
  const json::object* s = v.if_object();
  if (s == nullptr) {
    return Bad(where + " must be an object");
  }
  static constexpr std::string_view kKnown[] = {"Sid",          "Effect",      "Principal",
                                                "NotPrincipal", "Action",      "NotAction",
                                                "Resource",     "NotResource", "Condition"};
  for (const auto& kv : *s) {
    if (std::find(std::begin(kKnown), std::end(kKnown),
                  std::string_view(kv.key().data(), kv.key().size())) == std::end(kKnown)) {
      return Bad(where + " has unknown element '" + std::string(kv.key()) + "'");
    }
  }
  Statement st;
  if (auto it = s->find("Sid"); it != s->end()) {
    if (!it->value().is_string()) {
      return Bad(where + ".Sid must be a string");
    }
    st.sid = std::string(it->value().get_string());
  }
  auto effect = s->find("Effect");
  if (effect == s->end() || !effect->value().is_string() ||
      (effect->value().get_string() != "Allow" && effect->value().get_string() != "Deny")) {
    return Bad(where + ".Effect must be \"Allow\" or \"Deny\"");
  }
  st.effect = effect->value().get_string() == "Allow" ? Statement::Effect::kAllow
                                                      : Statement::Effect::kDeny;

  if (s->contains("Action") == s->contains("NotAction")) {
    return Bad(where + " needs exactly one of Action or NotAction");
  }
  st.not_action = s->contains("NotAction");
  const char* akey = st.not_action ? "NotAction" : "Action";
  BERTH_ASSIGN_OR_RETURN(st.actions, StringList(s->at(akey), where + "." + akey));
  for (const auto& a : st.actions) {
    if (a != "*" && a.find(':') == std::string::npos) {
      return Bad(where + "." + akey + " has an invalid action '" + a +
                 "' (expected service:action, e.g. ecr:BatchGetImage)");
    }
  }

  if (s->contains("Resource") && s->contains("NotResource")) {
    return Bad(where + " has both Resource and NotResource");
  }
  st.has_resource = s->contains("Resource") || s->contains("NotResource");
  if (st.has_resource) {
    st.not_resource = s->contains("NotResource");
    const char* rkey = st.not_resource ? "NotResource" : "Resource";
    BERTH_ASSIGN_OR_RETURN(st.resources, StringList(s->at(rkey), where + "." + rkey));
    for (const auto& r : st.resources) {
      if (r != "*" && !r.starts_with("arn:")) {
        return Bad(where + "." + rkey + " has an invalid resource '" + r +
                   "' (expected \"*\" or an ARN)");
      }
    }
  } else if (kind == PolicyKind::kIdentity) {
    return Bad(where + " needs Resource or NotResource");
  }

  bool has_p = s->contains("Principal");
  bool has_np = s->contains("NotPrincipal");
  if (kind == PolicyKind::kIdentity) {
    if (has_p || has_np) {
      return Bad(where + " of an identity policy must not have Principal or NotPrincipal");
    }
  } else {
    if (has_p == has_np) {
      return Bad(where + " of a resource policy needs exactly one of Principal or NotPrincipal");
    }
    st.has_principal = true;
    st.not_principal = has_np;
    const char* pkey = has_np ? "NotPrincipal" : "Principal";
    BERTH_TRY(ParsePrincipal(s->at(pkey), where + "." + pkey, st));
  }
  if (auto it = s->find("Condition"); it != s->end()) {
    BERTH_TRY(ParseCondition(it->value(), where + ".Condition", st));
  }
  return st;
}

// ---------------------------------------------------------------------------- evaluation

bool PrincipalMatches(std::string_view p, const RequestContext& ctx) {
  if (p == "*") {
    return true;
  }
  if (ctx.anonymous() || p.find('|') != std::string_view::npos) {
    return false;
  }
  if (IsAccountId(p)) {
    return p == ctx.principal_account;
  }
  if (p.ends_with(":root") && p.starts_with("arn:aws:iam::")) {
    return p.substr(13, p.size() - 13 - 5) == ctx.principal_account;
  }
  return GlobMatch(p, ctx.principal_arn, false);
}

struct Evaluator {
  const RequestContext& ctx;
  bool variables;

  // Positive match of one context value against one policy value.
  bool ValueMatch(const OperatorInfo& op, const std::string& cv, const std::string& pv) const {
    switch (op.family) {
      case Family::kString: {
        auto sub = Substitute(pv, ctx, variables);
        if (!sub) {
          return false;
        }
        if (op.like) {
          return GlobMatch(*sub, cv, false);
        }
        return op.ignore_case ? EqualsIgnoreCase(*sub, cv) : *sub == cv;
      }
      case Family::kArn: {
        auto sub = Substitute(pv, ctx, variables);
        return sub && ArnMatch(*sub, cv);
      }
      case Family::kBinary:
        return pv == cv;
      case Family::kBool:
        return EqualsIgnoreCase(pv, cv);
      case Family::kIp: {
        auto ip = ParseIp(cv);
        auto cidr = ParseCidr(pv);
        return ip && cidr && InCidr(*ip, *cidr);
      }
      case Family::kNumeric:
      case Family::kDate: {
        auto a = op.family == Family::kNumeric ? ParseNumber(cv) : ParseDate(cv);
        auto b = op.family == Family::kNumeric ? ParseNumber(pv) : ParseDate(pv);
        if (!a || !b) {
          return false;
        }
        switch (op.compare) {
          case 0:
            return *a == *b;
          case -1:
            return *a < *b;
          case -2:
            return *a <= *b;
          case 1:
            return *a > *b;
          default:
            return *a >= *b;
        }
      }
      case Family::kNull:
        return false;
    }
    return false;
  }

  bool AnyPolicyValue(const OperatorInfo& op, const Statement::Condition& c,
                      const std::string& cv) const {
    for (const auto& pv : c.values) {
      if (ValueMatch(op, cv, pv)) {
        return true;
      }
    }
    return false;
  }

  bool Condition(const Statement::Condition& c) const {
    const OperatorInfo& op = *FindOperator(c.op);
    const std::vector<std::string>* values = ctx.Find(c.key);
    bool present = values != nullptr && !values->empty();
    if (op.family == Family::kNull) {
      for (const auto& pv : c.values) {
        if (EqualsIgnoreCase(pv, "true") != present) {
          return true;
        }
      }
      return false;
    }
    using Set = Statement::Condition::Set;
    if (!present) {
      if (c.if_exists || c.set == Set::kForAllValues) {
        return true;
      }
      if (c.set == Set::kForAnyValue) {
        return false;
      }
      return op.negated;
    }
    // `hit(cv)`: the context value satisfies the operator (negation applied per value).
    auto hit = [&](const std::string& cv) { return AnyPolicyValue(op, c, cv) != op.negated; };
    switch (c.set) {
      case Set::kForAllValues:
        return std::all_of(values->begin(), values->end(), hit);
      case Set::kForAnyValue:
        return std::any_of(values->begin(), values->end(), hit);
      case Set::kNone:
        break;
    }
    // Single-valued use: positive operators need some value to match; negated ones need no
    // value to match any policy value.
    bool any = std::any_of(values->begin(), values->end(),
                           [&](const std::string& cv) { return AnyPolicyValue(op, c, cv); });
    return any != op.negated;
  }

  bool Applies(const Statement& st) const {
    if (st.has_principal) {
      bool m = std::any_of(st.principals.begin(), st.principals.end(),
                           [&](const std::string& p) { return PrincipalMatches(p, ctx); });
      if (m == st.not_principal) {
        return false;
      }
    }
    bool action = std::any_of(st.actions.begin(), st.actions.end(),
                              [&](const std::string& a) { return GlobMatch(a, ctx.action, true); });
    if (action == st.not_action) {
      return false;
    }
    if (st.has_resource) {
      bool res = std::any_of(st.resources.begin(), st.resources.end(), [&](const std::string& r) {
        if (r == "*") {
          return true;
        }
        auto sub = Substitute(r, ctx, variables);
        return sub && GlobMatch(*sub, ctx.resource, false);
      });
      if (res == st.not_resource) {
        return false;
      }
    }
    return std::all_of(st.conditions.begin(), st.conditions.end(),
                       [&](const Statement::Condition& c) { return Condition(c); });
  }
};

}  // namespace

void RequestContext::Set(std::string_view key, std::vector<std::string> values) {
  keys[Lower(key)] = std::move(values);
}

void RequestContext::Set(std::string_view key, std::string value) {
  std::vector<std::string> v;
  v.push_back(std::move(value));
  Set(key, std::move(v));
}

const std::vector<std::string>* RequestContext::Find(std::string_view key) const {
  auto it = keys.find(Lower(key));
  return it == keys.end() ? nullptr : &it->second;
}

bool GlobMatch(std::string_view pattern, std::string_view text, bool ignore_case) {
  auto eq = [ignore_case](char a, char b) {
    return ignore_case ? std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b))
                       : a == b;
  };
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' || (pattern[p] != '*' && eq(pattern[p], text[t])))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

Result<Policy> Policy::Parse(std::string_view text, PolicyKind kind) {
  boost::system::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) {
    return Bad("not valid JSON (" + ec.message() + ")");
  }
  const json::object* o = root.if_object();
  if (o == nullptr) {
    return Bad("the policy must be a JSON object");
  }
  for (const auto& kv : *o) {
    if (kv.key() != "Version" && kv.key() != "Id" && kv.key() != "Statement") {
      return Bad("unknown top-level element '" + std::string(kv.key()) + "'");
    }
  }
  Policy policy;
  policy.kind_ = kind;
  if (auto it = o->find("Version"); it != o->end()) {
    if (!it->value().is_string() ||
        (it->value().get_string() != "2012-10-17" && it->value().get_string() != "2008-10-17")) {
      return Bad("Version must be \"2012-10-17\" or \"2008-10-17\"");
    }
    policy.variables_ = it->value().get_string() == "2012-10-17";
  }
  if (auto it = o->find("Id"); it != o->end() && !it->value().is_string()) {
    return Bad("Id must be a string");
  }
  auto st = o->find("Statement");
  if (st == o->end()) {
    return Bad("missing Statement");
  }
  if (st->value().is_object()) {
    BERTH_ASSIGN_OR_RETURN(Statement s, ParseStatement(st->value(), 0, kind));
    policy.statements_.push_back(std::move(s));
  } else if (st->value().is_array() && !st->value().get_array().empty()) {
    const auto& a = st->value().get_array();
    for (size_t i = 0; i < a.size(); ++i) {
      BERTH_ASSIGN_OR_RETURN(Statement s, ParseStatement(a[i], i, kind));
      policy.statements_.push_back(std::move(s));
    }
  } else {
    return Bad("Statement must be an object or a non-empty list");
  }
  return policy;
}

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kImplicitDeny:
      return "implicit deny";
    case Decision::kAllow:
      return "allow";
    case Decision::kExplicitDeny:
      return "explicit deny";
  }
  return "implicit deny";
}

Decision EvaluatePolicy(const Policy& policy, const RequestContext& ctx) {
  Evaluator ev{ctx, policy.variables_enabled()};
  bool allowed = false;
  for (const auto& st : policy.statements()) {
    if (!ev.Applies(st)) {
      continue;
    }
    if (st.effect == Statement::Effect::kDeny) {
      return Decision::kExplicitDeny;
    }
    allowed = true;
  }
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

Decision Evaluate(const PolicySet& policies, const RequestContext& ctx) {
  bool identity_allow = false;
  bool resource_allow = false;
  for (const Policy* p : policies.identity) {
    Decision d = EvaluatePolicy(*p, ctx);
    if (d == Decision::kExplicitDeny) {
      return d;
    }
    identity_allow = identity_allow || d == Decision::kAllow;
  }
  for (const Policy* p : {policies.repository, policies.registry}) {
    if (p == nullptr) {
      continue;
    }
    Decision d = EvaluatePolicy(*p, ctx);
    if (d == Decision::kExplicitDeny) {
      return d;
    }
    resource_allow = resource_allow || d == Decision::kAllow;
  }
  bool allowed = false;
  if (ctx.anonymous()) {
    allowed = resource_allow;
  } else if (ctx.resource_account.empty() || ctx.principal_account == ctx.resource_account) {
    allowed = identity_allow || resource_allow;
  } else {
    allowed = identity_allow && resource_allow;
  }
  return allowed ? Decision::kAllow : Decision::kImplicitDeny;
}

}  // namespace berth::iam
