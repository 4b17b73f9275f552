#include "lifecycle/policy.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include <boost/json.hpp>

namespace berth::lifecycle {
namespace {

namespace json = boost::json;

constexpr int64_t kSecondsPerDay = 86400;
// rulePriority and countNumber are 32-bit integers on ECR's side (the model's
// LifecyclePolicyRulePriority, which preview results carry, is an Integer).
constexpr int64_t kMaxInteger = std::numeric_limits<int32_t>::max();

// ---------------------------------------------------------------------------------- parsing

// ECR answers an invalid policy with InvalidParameterException and this message shape (observed:
// "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy
// validation failure: ..."). Our constraint text names the rule instead of quoting a JSON schema.
Error Invalid(std::string_view constraint) {
  return MakeError(Errc::kInvalidArgument,
                   "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '" +
                       std::string(constraint) + "'");
}

// Smithy's length trait counts Unicode code points; invalid UTF-8 is refused later by the JSON
// parser, so counting lead bytes is enough here.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// Parse state for one rule: `where` prefixes every message ("Rule with priority 2").
class RuleParser {
 public:
  explicit RuleParser(std::string where) : where_(std::move(where)) {}

  Error Fail(std::string_view what) const { return Invalid(where_ + ": " + std::string(what)); }

  Status CheckKeys(const json::object& obj, std::string_view path,
                   std::initializer_list<std::string_view> allowed) const {
    for (const auto& kv : obj) {
      if (std::find(allowed.begin(), allowed.end(), std::string_view(kv.key())) == allowed.end()) {
        return Fail("unknown field " + Quote(Join(path, kv.key())));
      }
    }
    return Ok{};
  }

  // nullptr when absent; refuses null (ECR's schema refuses "countUnit": null and
  // "targetStorageClass": null rather than treating them as absent).
  Result<const json::value*> Field(const json::object& obj, std::string_view path,
                                   std::string_view key) const {
    auto it = obj.find(key);
    if (it == obj.end()) {
      return static_cast<const json::value*>(nullptr);
    }
    if (it->value().is_null()) {
      return Fail(Quote(Join(path, key)) + " must not be null");
    }
    return &it->value();
  }

  Result<std::optional<std::string>> String(const json::object& obj, std::string_view path,
                                            std::string_view key) const {
    BERTH_ASSIGN_OR_RETURN(const json::value* v, Field(obj, path, key));
    if (v == nullptr) {
      return std::optional<std::string>();
    }
    if (!v->is_string()) {
      return Fail(Quote(Join(path, key)) + " must be a string");
    }
    return std::optional<std::string>(std::string(v->get_string()));
  }

  Result<std::optional<int64_t>> Integer(const json::object& obj, std::string_view path,
                                         std::string_view key) const {
    BERTH_ASSIGN_OR_RETURN(const json::value* v, Field(obj, path, key));
    if (v == nullptr) {
      return std::optional<int64_t>();
    }
    // 1.0 and 1e2 are numbers, not integers (JSON Schema draft 4, which ECR's validator follows).
    if (v->is_int64()) {
      return std::optional<int64_t>(v->get_int64());
    }
    if (v->is_uint64()) {
      return std::optional<int64_t>(std::numeric_limits<int64_t>::max());  // caught by the range
    }
    return Fail(Quote(Join(path, key)) + " must be an integer");
  }

  Result<std::optional<std::vector<std::string>>> StringList(const json::object& obj,
                                                             std::string_view path,
                                                             std::string_view key) const {
    BERTH_ASSIGN_OR_RETURN(const json::value* v, Field(obj, path, key));
    if (v == nullptr) {
      return std::optional<std::vector<std::string>>();
    }
    if (!v->is_array()) {
      return Fail(Quote(Join(path, key)) + " must be an array of strings");
    }
    std::vector<std::string> out;
    for (const json::value& e : v->get_array()) {
      if (!e.is_string()) {
        return Fail(Quote(Join(path, key)) + " must be an array of strings");
      }
      out.emplace_back(e.get_string());
    }
    return std::optional<std::vector<std::string>>(std::move(out));
  }

 private:
  static std::string Join(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
  }

  std::string where_;
};

std::string_view TagStatusText(TagStatus s) {
  switch (s) {
    case TagStatus::kTagged:
      return "tagged";
    case TagStatus::kUntagged:
      return "untagged";
    case TagStatus::kAny:
      return "any";
  }
  return "";
}

std::string_view CountTypeText(CountType t) {
  switch (t) {
    case CountType::kImageCountMoreThan:
      return "imageCountMoreThan";
    case CountType::kSinceImagePushed:
      return "sinceImagePushed";
    case CountType::kSinceImagePulled:
      return "sinceImagePulled";
    case CountType::kSinceImageTransitioned:
      return "sinceImageTransitioned";
  }
  return "";
}

std::string_view StorageClassText(StorageClass c) {
  return c == StorageClass::kArchive ? "archive" : "standard";
}

// Policy values are case-sensitive: every documented example uses exactly these spellings.
template <class E, size_t N>
std::optional<E> Lookup(std::string_view s, const std::pair<std::string_view, E> (&table)[N]) {
  for (const auto& [name, value] : table) {
    if (name == s) {
      return value;
    }
  }
  return std::nullopt;
}

constexpr std::pair<std::string_view, TagStatus> kTagStatuses[] = {
    {"tagged", TagStatus::kTagged}, {"untagged", TagStatus::kUntagged}, {"any", TagStatus::kAny}};
constexpr std::pair<std::string_view, CountType> kCountTypes[] = {
    {"imageCountMoreThan", CountType::kImageCountMoreThan},
    {"sinceImagePushed", CountType::kSinceImagePushed},
    {"sinceImagePulled", CountType::kSinceImagePulled},
    {"sinceImageTransitioned", CountType::kSinceImageTransitioned}};
constexpr std::pair<std::string_view, StorageClass> kStorageClasses[] = {
    {"standard", StorageClass::kStandard}, {"archive", StorageClass::kArchive}};
constexpr std::pair<std::string_view, ActionType> kActionTypes[] = {
    {"expire", ActionType::kExpire}, {"transition", ActionType::kTransition}};

Result<Rule> ParseRule(const json::value& v, size_t index) {
  RuleParser at_index("rules[" + std::to_string(index) + "]");
  if (!v.is_object()) {
    return at_index.Fail("a rule must be a JSON object");
  }
  const json::object& obj = v.get_object();
  Rule rule;

  // The priority first: every later message names the rule by it.
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> priority,
                         at_index.Integer(obj, "", "rulePriority"));
  if (!priority) {
    return at_index.Fail("'rulePriority' is required");
  }
  if (*priority < 1 || *priority > kMaxInteger) {
    return at_index.Fail("'rulePriority' must be an integer from 1 to 2147483647");
  }
  rule.priority = *priority;
  const RuleParser p("Rule with priority " + std::to_string(rule.priority));

  BERTH_TRY(p.CheckKeys(obj, "", {"rulePriority", "description", "selection", "action"}));
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> description, p.String(obj, "", "description"));
  rule.description = description.value_or("");

  // selection
  BERTH_ASSIGN_OR_RETURN(const json::value* selection_value, p.Field(obj, "", "selection"));
  if (selection_value == nullptr) {
    return p.Fail("'selection' is required");
  }
  if (!selection_value->is_object()) {
    return p.Fail("'selection' must be an object");
  }
  const json::object& sel = selection_value->get_object();
  BERTH_TRY(p.CheckKeys(sel, "selection",
                        {"tagStatus", "tagPrefixList", "tagPatternList", "storageClass",
                         "countType", "countUnit", "countNumber"}));

  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> tag_status,
                         p.String(sel, "selection", "tagStatus"));
  if (!tag_status) {
    return p.Fail("'selection.tagStatus' is required");
  }
  std::optional<TagStatus> status = Lookup(*tag_status, kTagStatuses);
  if (!status) {
    return p.Fail("tagStatus must be 'tagged', 'untagged' or 'any', not " + Quote(*tag_status));
  }
  rule.tag_status = *status;

  BERTH_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> prefixes,
                         p.StringList(sel, "selection", "tagPrefixList"));
  BERTH_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> patterns,
                         p.StringList(sel, "selection", "tagPatternList"));

  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> storage_class,
                         p.String(sel, "selection", "storageClass"));
  if (storage_class) {
    std::optional<StorageClass> c = Lookup(*storage_class, kStorageClasses);
    if (!c) {
      return p.Fail("storageClass must be 'standard' or 'archive', not " + Quote(*storage_class));
    }
    rule.storage_class = *c;
  }

  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> count_type,
                         p.String(sel, "selection", "countType"));
  if (!count_type) {
    return p.Fail("'selection.countType' is required");
  }
  std::optional<CountType> type = Lookup(*count_type, kCountTypes);
  if (!type) {
    return p.Fail(
        "countType must be 'imageCountMoreThan', 'sinceImagePushed', 'sinceImagePulled' or "
        "'sinceImageTransitioned', not " +
        Quote(*count_type));
  }
  rule.count_type = *type;

  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> count_unit,
                         p.String(sel, "selection", "countUnit"));
  BERTH_ASSIGN_OR_RETURN(std::optional<int64_t> count_number,
                         p.Integer(sel, "selection", "countNumber"));
  if (!count_number) {
    return p.Fail("'selection.countNumber' is required");
  }
  // "Acceptable values are positive integers (0 is not an accepted value)."
  if (*count_number < 1 || *count_number > kMaxInteger) {
    return p.Fail("countNumber must be a positive integer (at most 2147483647)");
  }
  rule.count_number = *count_number;

  // action
  BERTH_ASSIGN_OR_RETURN(const json::value* action_value, p.Field(obj, "", "action"));
  if (action_value == nullptr) {
    return p.Fail("'action' is required");
  }
  if (!action_value->is_object()) {
    return p.Fail("'action' must be an object");
  }
  const json::object& act = action_value->get_object();
  BERTH_TRY(p.CheckKeys(act, "action", {"type", "targetStorageClass"}));
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> action_type, p.String(act, "action", "type"));
  if (!action_type) {
    return p.Fail("'action.type' is required");
  }
  std::optional<ActionType> action = Lookup(*action_type, kActionTypes);
  if (!action) {
    return p.Fail("action type must be 'expire' or 'transition', not " + Quote(*action_type));
  }
  rule.action = *action;
  BERTH_ASSIGN_OR_RETURN(std::optional<std::string> target,
                         p.String(act, "action", "targetStorageClass"));

  // --- tag selection ("Lifecycle policy properties": tagStatus, tagPrefixList, tagPatternList;
  // evaluation rules: "A lifecycle policy rule may specify either tagPatternList or
  // tagPrefixList, but not both." "The tagPatternList or tagPrefixList parameters may only used
  // if the tagStatus is tagged.")
  if (prefixes && patterns) {
    return p.Fail("tagPrefixList and tagPatternList cannot both be specified");
  }
  if (rule.tag_status != TagStatus::kTagged && (prefixes || patterns)) {
    return p.Fail(std::string(prefixes ? "tagPrefixList" : "tagPatternList") +
                  " may only be used when tagStatus is 'tagged', not " +
                  Quote(TagStatusText(rule.tag_status)));
  }
  if (rule.tag_status == TagStatus::kTagged && !prefixes && !patterns) {
    return p.Fail("tagStatus 'tagged' requires a tagPrefixList or a tagPatternList");
  }
  if (prefixes) {
    if (prefixes->empty()) {
      return p.Fail("tagPrefixList must not be empty");
    }
    for (const std::string& prefix : *prefixes) {
      if (prefix.empty()) {
        return p.Fail("tagPrefixList entries must not be empty");
      }
    }
    rule.tag_prefixes = std::move(*prefixes);
  }
  if (patterns) {
    if (patterns->empty()) {
      return p.Fail("tagPatternList must not be empty");
    }
    for (const std::string& pattern : *patterns) {
      if (pattern.empty()) {
        return p.Fail("tagPatternList entries must not be empty");
      }
      // "There is a maximum limit of four wildcards (*) per string."
      auto wildcards = std::count(pattern.begin(), pattern.end(), '*');
      if (wildcards > kMaxWildcardsPerPattern) {
        return p.Fail("tag pattern " + Quote(pattern) + " has " + std::to_string(wildcards) +
                      " wildcards (*); at most 4 are allowed per pattern");
      }
    }
    rule.tag_patterns = std::move(*patterns);
  }

  // --- countUnit: "Required: yes, only if countType is set to sinceImagePushed,
  // sinceImagePulled, or sinceImageTransitioned" ... "an error will occur if you specify a count
  // unit when countType is any other value."
  if (rule.count_type == CountType::kImageCountMoreThan) {
    if (count_unit) {
      return p.Fail(
          "countUnit may only be specified when countType is 'sinceImagePushed', "
          "'sinceImagePulled' or 'sinceImageTransitioned'");
    }
  } else {
    if (!count_unit) {
      return p.Fail("countUnit 'days' is required when countType is " +
                    Quote(CountTypeText(rule.count_type)));
    }
    if (*count_unit != "days") {
      return p.Fail("countUnit must be 'days', not " + Quote(*count_unit));
    }
  }

  // --- storageClass: "When using a countType of imageCountMoreThan, sinceImagePushed, or
  // sinceImagePulled, the only supported value is standard. When using a count type of
  // sinceImageTransitioned, this is required, and the only supported value is archive."
  if (rule.count_type == CountType::kSinceImageTransitioned) {
    if (!storage_class || rule.storage_class != StorageClass::kArchive) {
      return p.Fail(
          "storageClass 'archive' is required when countType is 'sinceImageTransitioned'");
    }
  } else if (rule.storage_class != StorageClass::kStandard) {
    return p.Fail("storageClass must be 'standard' when countType is " +
                  Quote(CountTypeText(rule.count_type)));
  }

  // --- action: "targetStorageClass ... Required: yes, if type is transition ... archive is the
  // only supported value." The docs do not say whether expire may carry one; ECR's schema is a
  // oneOf over {expire} and {transition, targetStorageClass}, so we refuse it.
  if (rule.action == ActionType::kTransition) {
    if (!target) {
      return p.Fail("targetStorageClass 'archive' is required when action type is 'transition'");
    }
    if (*target != "archive") {
      return p.Fail("targetStorageClass must be 'archive', not " + Quote(*target));
    }
    rule.target = StorageClass::kArchive;
  } else if (target) {
    return p.Fail("targetStorageClass may only be specified when action type is 'transition'");
  }

  // --- count type x action ("Examples of lifecycle policies"): "The sinceImagePulled count type
  // must be used with the transition action. It cannot be used with the expire action." "The
  // sinceImageTransitioned count type must be used with the expire action and the archive
  // storage class." "Images must be in archive storage for a minimum of 90 days before deletion."
  // With the storageClass rule above this also means a transition only ever selects standard
  // images.
  if (rule.count_type == CountType::kSinceImagePulled && rule.action != ActionType::kTransition) {
    return p.Fail("countType 'sinceImagePulled' can only be used with action type 'transition'");
  }
  if (rule.count_type == CountType::kSinceImageTransitioned) {
    if (rule.action != ActionType::kExpire) {
      return p.Fail(
          "countType 'sinceImageTransitioned' can only be used with action type 'expire'");
    }
    if (rule.count_number < kMinArchiveDaysBeforeExpire) {
      return p.Fail(
          "countNumber must be at least 90 when countType is 'sinceImageTransitioned' (archived "
          "images have a minimum storage duration of 90 days)");
    }
  }
  return rule;
}

std::string RuleName(const Rule& r) { return "Rule with priority " + std::to_string(r.priority); }

// Checks across rules ("Lifecycle policy evaluation rules" and "rulePriority").
Status CheckRuleSet(const std::vector<Rule>& rules) {
  // "you must give them each a unique value for rulePriority"
  std::set<int64_t> priorities;
  for (const Rule& r : rules) {
    if (!priorities.insert(r.priority).second) {
      return Invalid(RuleName(r) + ": rulePriority must be unique, but " +
                     std::to_string(r.priority) + " is used by more than one rule");
    }
  }
  for (const Rule& r : rules) {
    const std::string sc(StorageClassText(r.storage_class));
    // "A rule with a tagStatus value of any must have the highest value for rulePriority and be
    // evaluated last." Checked per storage class: the documented "Combining archive and expire
    // rules" example has an any rule for each class, and an any rule only shadows the rules
    // that select the same storage class.
    if (r.tag_status == TagStatus::kAny) {
      for (const Rule& other : rules) {
        if (other.storage_class == r.storage_class && other.priority > r.priority) {
          return Invalid(RuleName(r) +
                         ": a rule with tagStatus 'any' must have the highest rulePriority of the "
                         "rules selecting storage class '" +
                         sc + "', but " + RuleName(other) + " comes after it");
        }
      }
    }
    for (const Rule& other : rules) {
      if (&other == &r || other.storage_class != r.storage_class || other.priority > r.priority) {
        continue;
      }
      // "Only one rule selecting a specific storage class is allowed to select untagged images."
      // An any rule is not counted: the documented "Example B" has untagged and any rules.
      if (r.tag_status == TagStatus::kUntagged && other.tag_status == TagStatus::kUntagged) {
        return Invalid(RuleName(r) + ": only one rule selecting storage class '" + sc +
                       "' may select untagged images, and " + RuleName(other) + " already does");
      }
      // "The set of all rules selecting a specific storage class must contain a unique set of
      // prefixes." Read as: no two such rules have the same tagPrefixList (as a set).
      if (!r.tag_prefixes.empty() && !other.tag_prefixes.empty() &&
          std::set<std::string>(r.tag_prefixes.begin(), r.tag_prefixes.end()) ==
              std::set<std::string>(other.tag_prefixes.begin(), other.tag_prefixes.end())) {
        return Invalid(RuleName(r) + ": the rules selecting storage class '" + sc +
                       "' must each have a unique set of tag prefixes, but " + RuleName(other) +
                       " has the same tagPrefixList");
      }
    }
  }
  return Ok{};
}

// -------------------------------------------------------------------------------- evaluation

bool Selects(const Rule& rule, const Image& image) {
  if (image.storage_class != rule.storage_class) {
    return false;
  }
  switch (rule.tag_status) {
    case TagStatus::kAny:
      return true;
    case TagStatus::kUntagged:
      return image.tags.empty();
    case TagStatus::kTagged:
      break;
  }
  if (image.tags.empty()) {
    return false;
  }
  // "An image is successfully matched if all of the tags in the tagPatternList or tagPrefixList
  // value are matched against any of the image's tags."
  const bool by_prefix = !rule.tag_prefixes.empty();
  const std::vector<std::string>& entries = by_prefix ? rule.tag_prefixes : rule.tag_patterns;
  return std::all_of(entries.begin(), entries.end(), [&](const std::string& entry) {
    return std::any_of(image.tags.begin(), image.tags.end(), [&](const std::string& tag) {
      return by_prefix ? std::string_view(tag).starts_with(entry) : TagPatternMatches(entry, tag);
    });
  });
}

// "Expiration is always ordered by pushed_at_time ... If an image was archived and then
// restored at any point in the past, the image's last_activated_at is used instead of
// pushed_at_time."
int64_t OrderTime(const Image& image) { return std::max(image.pushed_at, image.last_activated_at); }

// The time a since* rule measures from; nullopt when there is none.
std::optional<int64_t> ReferenceTime(CountType type, const Image& image) {
  switch (type) {
    case CountType::kImageCountMoreThan:
      return std::nullopt;
    case CountType::kSinceImagePushed:
      return image.pushed_at;
    case CountType::kSinceImagePulled: {
      // "If an image was never pulled, the image's pushed_at_time is used instead of the
      // last_recorded_pulltime. If an image was archived and then restored at any point in the
      // past, but never pulled since the image was restored, the image's last_activated_at is
      // used instead of the last_recorded_pulltime."
      int64_t t = image.last_pulled_at != 0 ? image.last_pulled_at : image.pushed_at;
      if (image.last_activated_at != 0 && image.last_activated_at > image.last_pulled_at) {
        t = image.last_activated_at;
      }
      return t;
    }
    case CountType::kSinceImageTransitioned:
      if (image.archived_at == 0) {
        return std::nullopt;
      }
      return image.archived_at;
  }
  return std::nullopt;
}

// "all images whose pushed_at_time is older than the specified number of days": strictly older,
// so an image exactly countNumber*86400 s old is kept. Days are 86,400 s, not calendar days.
bool OlderThan(int64_t t, int64_t now, int64_t days) {
  const int64_t span = days * kSecondsPerDay;  // days <= 2^31-1: no overflow
  if (now < std::numeric_limits<int64_t>::min() + span) {
    return false;
  }
  return t < now - span;
}

enum class Kind { kNone, kExpire, kTransition };

}  // namespace

std::string_view ActionTypeName(ActionType t) {
  switch (t) {
    case ActionType::kExpire:
      return "EXPIRE";
    case ActionType::kTransition:
      return "TRANSITION";
  }
  return "";
}

std::string_view StorageClassName(StorageClass c) {
  switch (c) {
    case StorageClass::kStandard:
      return "STANDARD";
    case StorageClass::kArchive:
      return "ARCHIVE";
  }
  return "";
}

bool TagPatternMatches(std::string_view pattern, std::string_view tag) {
  // Greedy glob with one backtrack point (the last '*'): linear in practice, and at most 4 '*'.
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t star_t = 0;
  while (t < tag.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && pattern[p] == tag[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

Result<Policy> ParsePolicy(std::string_view text) {
  // Request-level constraint first, as ECR checks the parameter before its content.
  const size_t length = CodePoints(text);
  if (length < kMinPolicyTextLength) {
    return Invalid("Member must have length greater than or equal to 100 (found " +
                   std::to_string(length) + ")");
  }
  if (length > kMaxPolicyTextLength) {
    return Invalid("Member must have length less than or equal to 30720 (found " +
                   std::to_string(length) + ")");
  }

  // Strict JSON: no comments, no trailing commas, valid UTF-8. Duplicate keys: the last wins,
  // as with Jackson's defaults (which ECR's JSON Schema validator reads with).
  boost::system::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) {
    return Invalid("Lifecycle policy text is not valid JSON: " + ec.message());
  }
  if (!root.is_object()) {
    return Invalid("Lifecycle policy text must be a JSON object");
  }
  const json::object& top = root.get_object();
  for (const auto& kv : top) {
    if (kv.key() != "rules") {
      return Invalid("unknown field " + Quote(kv.key()) + " (a policy has only 'rules')");
    }
  }
  auto rules_it = top.find("rules");
  if (rules_it == top.end()) {
    return Invalid("'rules' is required");
  }
  if (!rules_it->value().is_array()) {
    return Invalid("'rules' must be an array");
  }
  const json::array& rules = rules_it->value().get_array();
  if (rules.empty()) {
    return Invalid("'rules' must contain at least one rule");
  }
  if (rules.size() > kMaxRules) {
    return Invalid("a lifecycle policy can have at most 50 rules (found " +
                   std::to_string(rules.size()) + ")");
  }

  Policy policy;
  policy.rules.reserve(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    BERTH_ASSIGN_OR_RETURN(Rule rule, ParseRule(rules[i], i));
    policy.rules.push_back(std::move(rule));
  }
  BERTH_TRY(CheckRuleSet(policy.rules));
  std::sort(policy.rules.begin(), policy.rules.end(),
            [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
  return policy;
}

std::vector<Action> Evaluate(const Policy& policy, const std::vector<Image>& images, int64_t now) {
  const size_t n = images.size();

  // Index the snapshot; a repeated digest is ignored after its first occurrence.
  std::unordered_map<std::string_view, size_t> by_digest;
  std::vector<bool> present(n, false);
  for (size_t i = 0; i < n; ++i) {
    present[i] = by_digest.emplace(images[i].digest, i).second;
  }
  auto find = [&](std::string_view digest) -> std::optional<size_t> {
    auto it = by_digest.find(digest);
    if (it == by_digest.end()) {
      return std::nullopt;
    }
    return it->second;
  };
  std::vector<std::vector<size_t>> parents(n);    // indexes listing image i as a child
  std::vector<std::vector<size_t>> referrers(n);  // images whose subject is image i
  for (size_t i = 0; i < n; ++i) {
    if (!present[i]) {
      continue;
    }
    std::set<size_t> seen_children;
    for (const std::string& child : images[i].children) {
      std::optional<size_t> c = find(child);
      if (c && *c != i && seen_children.insert(*c).second) {
        parents[*c].push_back(i);
      }
    }
    if (!images[i].subject.empty()) {
      std::optional<size_t> s = find(images[i].subject);
      if (s && *s != i) {
        referrers[*s].push_back(i);
      }
    }
  }
  auto selectable = [&](size_t i) { return present[i] && images[i].subject.empty(); };

  std::vector<const Rule*> rules;
  for (const Rule& r : policy.rules) {
    rules.push_back(&r);
  }
  std::stable_sort(rules.begin(), rules.end(),
                   [](const Rule* a, const Rule* b) { return a->priority < b->priority; });

  // 1. Every rule against the same snapshot: the images each rule would act on if nothing
  //    shadowed it, counted over everything it selects.
  // 2. The owner of an image is the highest-priority rule that selects it ("An image that
  //    matches the tagging requirements of a rule cannot be expired or archived by a rule with a
  //    lower priority"); only the owner may act on it.
  constexpr size_t kNoRule = static_cast<size_t>(-1);
  std::vector<size_t> owner(n, kNoRule);
  std::vector<size_t> rule_of(n, kNoRule);  // the rule acting on image i
  for (size_t r = 0; r < rules.size(); ++r) {
    const Rule& rule = *rules[r];
    std::vector<size_t> selected;
    for (size_t i = 0; i < n; ++i) {
      if (selectable(i) && Selects(rule, images[i])) {
        selected.push_back(i);
      }
    }
    std::vector<bool> candidate(n, false);
    if (rule.count_type == CountType::kImageCountMoreThan) {
      // "images are sorted from youngest to oldest based on pushed_at_time and then all images
      // greater than the specified count are expired or archived." Equal times: the greater
      // digest counts as the younger, so the order is total.
      std::sort(selected.begin(), selected.end(), [&](size_t a, size_t b) {
        const int64_t ta = OrderTime(images[a]);
        const int64_t tb = OrderTime(images[b]);
        if (ta != tb) {
          return ta > tb;
        }
        return images[a].digest > images[b].digest;
      });
      for (size_t k = static_cast<size_t>(rule.count_number); k < selected.size(); ++k) {
        candidate[selected[k]] = true;
      }
    } else {
      for (size_t i : selected) {
        std::optional<int64_t> t = ReferenceTime(rule.count_type, images[i]);
        candidate[i] = t && OlderThan(*t, now, rule.count_number);
      }
    }
    for (size_t i : selected) {
      if (owner[i] != kNoRule) {
        continue;  // matched by a higher-priority rule: counted above, never acted on here
      }
      owner[i] = r;
      // A transition only moves standard images (the selection guarantees it; kept explicit).
      if (candidate[i] && !(rule.action == ActionType::kTransition &&
                            images[i].storage_class != StorageClass::kStandard)) {
        rule_of[i] = r;
      }
    }
  }

  // 3. Referrers follow their subject, and index children stay while an index that lists them
  //    stays ("If an image is referenced by a manifest list, it cannot be expired or archived
  //    without the manifest list being deleted or archived first"). Dropping an action can
  //    protect more images (nested indexes, referrers), so repeat until nothing changes; every
  //    round only removes actions, so this ends.
  std::vector<Kind> kind(n, Kind::kNone);
  std::vector<size_t> via(n, kNoRule);  // the rule an action comes from (for referrers: subject's)
  std::vector<bool> is_referrer(n, false);
  std::vector<bool> blocked(n, false);  // referrers protected by the index rule
  for (bool changed = true; changed;) {
    changed = false;
    std::fill(kind.begin(), kind.end(), Kind::kNone);
    std::fill(is_referrer.begin(), is_referrer.end(), false);
    std::vector<size_t> queue;
    for (size_t i = 0; i < n; ++i) {
      if (rule_of[i] != kNoRule) {
        kind[i] =
            rules[rule_of[i]]->action == ActionType::kExpire ? Kind::kExpire : Kind::kTransition;
        via[i] = rule_of[i];
        queue.push_back(i);
      }
    }
    // Breadth-first over subject -> referrer edges. `carry` is the action a subject passes on;
    // an already-archived referrer is not transitioned again, but its own referrers still are.
    // `visited` guards against subject cycles.
    std::vector<Kind> carry(n, Kind::kNone);
    std::vector<bool> visited(n, false);
    for (size_t i : queue) {
      carry[i] = kind[i];
      visited[i] = true;
    }
    for (size_t q = 0; q < queue.size(); ++q) {
      const size_t s = queue[q];
      for (size_t r : referrers[s]) {
        if (visited[r] || blocked[r]) {
          continue;
        }
        visited[r] = true;
        carry[r] = carry[s];
        via[r] = via[s];
        if (!(carry[r] == Kind::kTransition && images[r].storage_class == StorageClass::kArchive)) {
          kind[r] = carry[r];
          is_referrer[r] = true;
        }
        queue.push_back(r);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (kind[i] == Kind::kNone) {
        continue;
      }
      for (size_t parent : parents[i]) {
        const bool ok = kind[i] == Kind::kExpire
                            ? kind[parent] == Kind::kExpire
                            : kind[parent] != Kind::kNone ||
                                  images[parent].storage_class == StorageClass::kArchive;
        if (ok) {
          continue;
        }
        if (rule_of[i] != kNoRule) {
          rule_of[i] = kNoRule;
        } else {
          blocked[i] = true;
        }
        changed = true;
        break;
      }
    }
  }

  std::vector<Action> actions;
  for (size_t i = 0; i < n; ++i) {
    if (kind[i] == Kind::kNone) {
      continue;
    }
    Action a;
    a.digest = images[i].digest;
    a.type = kind[i] == Kind::kExpire ? ActionType::kExpire : ActionType::kTransition;
    a.target = StorageClass::kArchive;
    a.rule_priority = rules[via[i]]->priority;
    a.referrer = is_referrer[i];
    actions.push_back(std::move(a));
  }
  std::unordered_map<std::string_view, int64_t> pushed;
  for (size_t i = 0; i < n; ++i) {
    if (present[i]) {
      pushed.emplace(images[i].digest, images[i].pushed_at);
    }
  }
  std::sort(actions.begin(), actions.end(), [&](const Action& a, const Action& b) {
    if (a.rule_priority != b.rule_priority) {
      return a.rule_priority < b.rule_priority;
    }
    const int64_t pa = pushed.at(a.digest);
    const int64_t pb = pushed.at(b.digest);
    if (pa != pb) {
      return pa < pb;
    }
    return a.digest < b.digest;
  });
  return actions;
}

}  // namespace berth::lifecycle
