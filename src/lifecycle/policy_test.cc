// Table-driven tests of the lifecycle policy parser and evaluator, written against ECR's
// documentation, not against the implementation: the "Lifecycle policy properties" page (field
// rules), "Automate the cleanup of images by using lifecycle policies" (evaluation rules),
// "Examples of lifecycle policies" (every worked example is replayed below, in its current
// tagPatternList form and, where the archived awsdocs/amazon-ecr-user-guide had one, its old
// tagPrefixList form), the service quotas (50 rules, 30,720 characters) and the botocore model
// (LifecyclePolicyText length 100..30720).
//
// Tables (LifecycleTablesTest.CountCases recounts them):
//   PolicyParseTest      ParsePolicy(): valid policies and every refusal
//   EvaluateTest         Evaluate(): the documented examples, counting, index children,
//                        referrers, pull-time fallbacks, archive and transition
//   TagPatternTest       TagPatternMatches()
#include "lifecycle/policy.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <iostream>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace berth::lifecycle {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kDay = 86'400;
constexpr int64_t kHour = 3'600;

int64_t DaysAgo(int64_t days) { return kNow - days * kDay; }
int64_t HoursAgo(int64_t hours) { return kNow - hours * kHour; }

constexpr char kPrefix[] =
    "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '";

// ------------------------------------------------------------------------------- policy text

constexpr char kExpire[] = R"({"type":"expire"})";
constexpr char kArchive[] = R"({"type":"transition","targetStorageClass":"archive"})";

// One rule as JSON text.
std::string RuleJson(int64_t priority, std::string_view selection,
                     std::string_view action = kExpire) {
  return R"({"rulePriority":)" + std::to_string(priority) + R"(,"description":"Rule )" +
         std::to_string(priority) + R"(","selection":)" + std::string(selection) + R"(,"action":)" +
         std::string(action) + "}";
}

// Pads with trailing blanks (still JSON) to at least `length` characters.
std::string Pad(std::string text, size_t length) {
  if (text.size() < length) {
    text.append(length - text.size(), ' ');
  }
  return text;
}

// A policy document; padded to the 100-character minimum so that short refusals are refused for
// their content, not their length.
std::string Doc(const std::vector<std::string>& rules) {
  std::string text = R"({"rules":[)";
  for (size_t i = 0; i < rules.size(); ++i) {
    text += (i ? "," : "") + rules[i];
  }
  return Pad(text + "]}", 100);
}

// A valid rule 1, so that the rule under test is "Rule with priority 2".
const std::string kOkRule1 = RuleJson(
    1,
    R"({"tagStatus":"tagged","tagPrefixList":["ok-"],"countType":"imageCountMoreThan","countNumber":5})");

// The rule under test, at priority 2 behind kOkRule1.
std::string Second(std::string_view selection, std::string_view action = kExpire) {
  return Doc({kOkRule1, RuleJson(2, selection, action)});
}

// The worked examples ("Examples of lifecycle policies in Amazon ECR"), verbatim but compact.
const std::string kEx1AgePattern =
    R"({"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]})";
const std::string kEx1AgeUntaggedOld =
    R"({"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]})";
const std::string kEx2Pulled =
    R"({"rules":[{"rulePriority":1,"description":"Archive images not pulled in 90 days","selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}}]})";
const std::string kEx3Transitioned =
    R"({"rules":[{"rulePriority":1,"description":"Expire images archived for more than 365 days","selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}}]})";
const std::string kEx4Count =
    R"({"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
const std::string kEx5MultiA = Doc(
    {RuleJson(
         1,
         R"({"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1})"),
     RuleJson(
         2,
         R"({"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1})")});
const std::string kEx5MultiAOld = Doc(
    {RuleJson(
         1,
         R"({"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1})"),
     RuleJson(
         2,
         R"({"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1})")});
const std::string kEx6MultiB = Doc(
    {RuleJson(
         1,
         R"({"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1})"),
     RuleJson(
         2,
         R"({"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1})")});
const std::string kEx6MultiBOld = Doc(
    {RuleJson(
         1,
         R"({"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1})"),
     RuleJson(
         2,
         R"({"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1})")});
const std::string kEx7TagsA =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*","beta*"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"},"action":{"type":"expire"}}]})";
const std::string kEx7TagsAOld =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"},"action":{"type":"expire"}}]})";
const std::string kEx8TagsB =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*","beta*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
const std::string kEx8TagsBOld =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
const std::string kEx9AllA =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
const std::string kEx10AllB =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["alpha*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},{"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
const std::string kEx10AllBOld =
    R"({"rules":[{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},{"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
const std::string kEx11ArchiveAge =
    R"({"rules":[{"rulePriority":1,"description":"Archive production images older than 30 days","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}]})";
const std::string kEx13Combined =
    R"({"rules":[{"rulePriority":1,"description":"Archive images older than 30 days","selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}},{"rulePriority":2,"description":"Expire images archived for more than 365 days","selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}}]})";

// n rules: n-1 tagged rules with distinct prefixes, then an any rule last.
std::string ManyRules(int n) {
  std::vector<std::string> rules;
  for (int i = 1; i < n; ++i) {
    rules.push_back(RuleJson(i, R"({"tagStatus":"tagged","tagPrefixList":["p)" + std::to_string(i) +
                                    R"("],"countType":"imageCountMoreThan","countNumber":1})"));
  }
  rules.push_back(
      RuleJson(n, R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100})"));
  return Doc(rules);
}

// A valid policy whose description is padded with `fill` until the text has `length`
// characters (code points).
std::string ValidOfLength(size_t length, std::string_view fill = "x") {
  const std::string head = R"({"rules":[{"rulePriority":1,"description":")";
  const std::string tail =
      R"(","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})";
  std::string text = head;
  for (size_t i = head.size() + tail.size(); i < length; ++i) {
    text += fill;
  }
  return text + tail;
}

// Test names: letters, digits and '_' only.
std::string SafeName(std::string_view name) {
  std::string n;
  for (char c : name) {
    n.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  return n;
}

template <class Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return SafeName(info.param.name);
}

template <class Case>
bool NamesAreUnique(const std::vector<Case>& cases) {
  std::set<std::string> seen;
  for (const auto& c : cases) {
    if (!seen.insert(SafeName(c.name)).second) {
      ADD_FAILURE() << "duplicate case name " << c.name;
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// ParsePolicy()

struct ParseCase {
  std::string name;
  std::string text;
  bool valid;
  std::vector<std::string> message_parts;  // each must occur in the error message
};
void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

ParseCase Ok(std::string name, std::string text) {
  return {std::move(name), std::move(text), true, {}};
}
ParseCase Bad(std::string name, std::string text, std::vector<std::string> parts) {
  return {std::move(name), std::move(text), false, std::move(parts)};
}

constexpr char kP2[] = "Rule with priority 2: ";

std::vector<ParseCase> ParseCases() {
  return {
      // --- every documented example is a valid policy
      Ok("ex1_age_pattern", kEx1AgePattern),
      Ok("ex1_age_untagged_old", kEx1AgeUntaggedOld),
      Ok("ex2_pulled_transition", kEx2Pulled),
      Ok("ex3_transitioned_archive", kEx3Transitioned),
      Ok("ex4_count_untagged", kEx4Count),
      Ok("ex5_multi_a", kEx5MultiA),
      Ok("ex5_multi_a_old", kEx5MultiAOld),
      Ok("ex6_multi_b", kEx6MultiB),
      Ok("ex6_multi_b_old", kEx6MultiBOld),
      Ok("ex7_tags_a", kEx7TagsA),
      Ok("ex7_tags_a_old", kEx7TagsAOld),
      Ok("ex8_tags_b", kEx8TagsB),
      Ok("ex8_tags_b_old", kEx8TagsBOld),
      Ok("ex9_all_a", kEx9AllA),
      Ok("ex10_untagged_and_any", kEx10AllB),
      Ok("ex10_untagged_and_any_old", kEx10AllBOld),
      Ok("ex11_archive_age", kEx11ArchiveAge),
      // Two any rules, one per storage class: "Combining archive and expire rules".
      Ok("ex13_any_per_storage_class", kEx13Combined),
      // The docs' own valid pair of patterns, 4 wildcards each.
      Ok("four_wildcards",
         Second(
             R"({"tagStatus":"tagged","tagPatternList":["*test*1*2*3","test*1*2*3*"],"countType":"imageCountMoreThan","countNumber":1})")),
      // --- valid edge cases
      Ok("priority_gaps",
         Doc({RuleJson(
                  3,
                  R"({"tagStatus":"tagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1})"),
              RuleJson(
                  17,
                  R"({"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1})"),
              RuleJson(
                  1000,
                  R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":9})")})),
      Ok("rules_out_of_order",
         Doc({RuleJson(2,
                       R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":9})"),
              RuleJson(
                  1,
                  R"({"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1})")})),
      Ok("exactly_50_rules", ManyRules(50)),
      Ok("text_exactly_30720", ValidOfLength(30720)),
      // 30,720 characters but more bytes: the limit counts characters.
      Ok("text_30720_chars_multibyte", ValidOfLength(30720, "\xc3\xa9")),
      Ok("no_description",
         Pad(R"({"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]})",
             0)),
      Ok("explicit_standard_storage_class",
         Second(
             R"({"tagStatus":"untagged","storageClass":"standard","countType":"sinceImagePushed","countUnit":"days","countNumber":3})")),
      Ok("count_transition",
         Second(R"({"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3})",
                kArchive)),
      Ok("transitioned_exactly_90_days",
         Second(
             R"({"tagStatus":"untagged","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90})")),
      Ok("prefix_and_pattern_in_different_rules",
         Second(
             R"({"tagStatus":"tagged","tagPatternList":["ok-*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":3})")),
      Ok("untagged_once_per_storage_class",
         Doc({RuleJson(
                  1,
                  R"({"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3})"),
              RuleJson(
                  2,
                  R"({"tagStatus":"untagged","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100})")})),
      Ok("same_prefixes_other_storage_class",
         Doc({RuleJson(
                  1,
                  R"({"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"sinceImagePushed","countUnit":"days","countNumber":3})"),
              RuleJson(
                  2,
                  R"({"tagStatus":"tagged","tagPrefixList":["prod"],"storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100})")})),
      Ok("overlapping_prefix_sets",
         Second(
             R"({"tagStatus":"tagged","tagPrefixList":["ok-","x"],"countType":"imageCountMoreThan","countNumber":1})")),

      // --- length (botocore LifecyclePolicyText min 100, max 30720)
      Bad("text_99_chars", std::string(99, ' '),
          {"Member must have length greater than or equal to 100"}),
      // Exactly 100 passes the length check (no valid policy is that short: this one is refused
      // for its content).
      Bad("text_exactly_100_chars", Pad(R"({"rules":[]})", 100), {"at least one rule"}),
      Bad("text_30721_chars", ValidOfLength(30721),
          {"Member must have length less than or equal to 30720"}),

      // --- JSON and document shape
      Bad("bad_json", Pad(R"({"rules":[{"rulePriority":1,)", 100), {"not valid JSON"}),
      Bad("trailing_comma", Pad(kEx9AllA.substr(0, kEx9AllA.size() - 2) + ",]}", 100),
          {"not valid JSON"}),
      Bad("comment", "/* c */" + kEx9AllA, {"not valid JSON"}),
      Bad("invalid_utf8", ValidOfLength(200, "\xff"), {"not valid JSON"}),
      Bad("top_level_array", Pad("[" + kEx9AllA + "]", 100), {"must be a JSON object"}),
      Bad("top_level_unknown_field", Pad(R"({"rules":[],"version":1})", 100),
          {"unknown field 'version'"}),
      Bad("rules_missing", Pad("{}", 100), {"'rules' is required"}),
      Bad("rules_not_array", Pad(R"({"rules":{}})", 100), {"'rules' must be an array"}),
      Bad("51_rules", ManyRules(51), {"at most 50 rules"}),
      Bad("rule_not_object", Doc({kOkRule1, "7"}), {"rules[1]: a rule must be a JSON object"}),

      // --- rulePriority
      Bad("priority_missing",
          Doc({kOkRule1,
               R"({"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}})"}),
          {"rules[1]: 'rulePriority' is required"}),
      Bad("priority_zero",
          Doc({RuleJson(
              0, R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})")}),
          {"rules[0]: 'rulePriority' must be an integer from 1"}),
      Bad("priority_negative",
          Doc({RuleJson(
              -1, R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})")}),
          {"rules[0]: 'rulePriority' must be an integer from 1"}),
      Bad("priority_too_large",
          Doc({RuleJson(
              2147483648,
              R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})")}),
          {"rules[0]: 'rulePriority' must be an integer from 1 to 2147483647"}),
      Bad("priority_fraction",
          Doc({R"({"rulePriority":1.5,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}})"}),
          {"rules[0]: 'rulePriority' must be an integer"}),
      Bad("priority_string",
          Doc({R"({"rulePriority":"1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}})"}),
          {"rules[0]: 'rulePriority' must be an integer"}),
      Bad("priority_duplicate",
          Doc({kOkRule1,
               RuleJson(
                   1,
                   R"({"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1})")}),
          {"Rule with priority 1: rulePriority must be unique"}),

      // --- unknown, null and mistyped fields
      Bad("rule_unknown_field",
          Doc({kOkRule1,
               R"({"rulePriority":2,"name":"x","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}})"}),
          {kP2, "unknown field 'name'"}),
      Bad("selection_unknown_field",
          Second(
              R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1,"tagRegex":"x"})"),
          {kP2, "unknown field 'selection.tagRegex'"}),
      Bad("action_unknown_field",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})",
                 R"({"type":"expire","when":"now"})"),
          {kP2, "unknown field 'action.when'"}),
      Bad("description_not_string",
          Doc({kOkRule1,
               R"({"rulePriority":2,"description":5,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}})"}),
          {kP2, "'description' must be a string"}),
      Bad("selection_missing", Doc({kOkRule1, R"({"rulePriority":2,"action":{"type":"expire"}})"}),
          {kP2, "'selection' is required"}),
      Bad("action_missing",
          Doc({kOkRule1,
               R"({"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}})"}),
          {kP2, "'action' is required"}),
      Bad("count_unit_null",
          Second(
              R"({"tagStatus":"any","countType":"imageCountMoreThan","countUnit":null,"countNumber":1})"),
          {kP2, "'selection.countUnit' must not be null"}),
      // Observed on ECR (cloudposse/terraform-aws-ecr#158): a null targetStorageClass is refused.
      Bad("target_null",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})",
                 R"({"type":"expire","targetStorageClass":null})"),
          {kP2, "'action.targetStorageClass' must not be null"}),

      // --- tagStatus and tag lists
      Bad("tag_status_missing", Second(R"({"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "'selection.tagStatus' is required"}),
      Bad("tag_status_uppercase",
          Second(
              R"({"tagStatus":"TAGGED","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagStatus must be 'tagged', 'untagged' or 'any'"}),
      Bad("tag_status_unknown",
          Second(R"({"tagStatus":"all","countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "not 'all'"}),
      Bad("both_lists",
          Second(
              R"({"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["b*"],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagPrefixList and tagPatternList cannot both be specified"}),
      Bad("prefix_list_on_untagged",
          Second(
              R"({"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagPrefixList may only be used when tagStatus is 'tagged'"}),
      Bad("pattern_list_on_any",
          Second(
              R"({"tagStatus":"any","tagPatternList":["a*"],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagPatternList may only be used when tagStatus is 'tagged'"}),
      Bad("tagged_without_list",
          Second(R"({"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagStatus 'tagged' requires a tagPrefixList or a tagPatternList"}),
      Bad("empty_prefix_list",
          Second(
              R"({"tagStatus":"tagged","tagPrefixList":[],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagPrefixList must not be empty"}),
      Bad("empty_pattern_entry",
          Second(
              R"({"tagStatus":"tagged","tagPatternList":["a*",""],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "tagPatternList entries must not be empty"}),
      Bad("prefix_list_not_array",
          Second(
              R"({"tagStatus":"tagged","tagPrefixList":"prod","countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "'selection.tagPrefixList' must be an array of strings"}),
      Bad("pattern_entry_not_string",
          Second(
              R"({"tagStatus":"tagged","tagPatternList":[1],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "'selection.tagPatternList' must be an array of strings"}),
      Bad("five_wildcards",
          Second(
              R"({"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "'*a*b*c*d*' has 5 wildcards"}),
      // The docs' own invalid example.
      Bad("six_wildcards_doc_example",
          Second(
              R"({"tagStatus":"tagged","tagPatternList":["test*1*2*3*4*5*6"],"countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "'test*1*2*3*4*5*6' has 6 wildcards", "at most 4"}),

      // --- countType, countUnit, countNumber
      Bad("count_type_missing", Second(R"({"tagStatus":"any","countNumber":1})"),
          {kP2, "'selection.countType' is required"}),
      Bad("count_type_unknown",
          Second(R"({"tagStatus":"any","countType":"imageCountLessThan","countNumber":1})"),
          {kP2, "countType must be", "not 'imageCountLessThan'"}),
      Bad("count_unit_on_image_count",
          Second(
              R"({"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1})"),
          {kP2, "countUnit may only be specified when countType is"}),
      Bad("count_unit_missing",
          Second(R"({"tagStatus":"any","countType":"sinceImagePushed","countNumber":1})"),
          {kP2, "countUnit 'days' is required when countType is 'sinceImagePushed'"}),
      Bad("count_unit_hours",
          Second(
              R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"hours","countNumber":1})"),
          {kP2, "countUnit must be 'days', not 'hours'"}),
      Bad("count_number_missing", Second(R"({"tagStatus":"any","countType":"imageCountMoreThan"})"),
          {kP2, "'selection.countNumber' is required"}),
      Bad("count_number_zero",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0})"),
          {kP2, "countNumber must be a positive integer"}),
      Bad("count_number_negative",
          Second(
              R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":-3})"),
          {kP2, "countNumber must be a positive integer"}),
      Bad("count_number_fraction",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1.5})"),
          {kP2, "'selection.countNumber' must be an integer"}),
      Bad("count_number_string",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":"5"})"),
          {kP2, "'selection.countNumber' must be an integer"}),

      // --- storageClass
      Bad("storage_class_unknown",
          Second(
              R"({"tagStatus":"any","storageClass":"glacier","countType":"imageCountMoreThan","countNumber":1})"),
          {kP2, "storageClass must be 'standard' or 'archive', not 'glacier'"}),
      Bad("archive_with_since_pushed",
          Second(
              R"({"tagStatus":"any","storageClass":"archive","countType":"sinceImagePushed","countUnit":"days","countNumber":100})"),
          {kP2, "storageClass must be 'standard' when countType is 'sinceImagePushed'"}),
      Bad("transitioned_without_storage_class",
          Second(
              R"({"tagStatus":"any","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100})"),
          {kP2, "storageClass 'archive' is required when countType is 'sinceImageTransitioned'"}),
      Bad("transitioned_with_standard",
          Second(
              R"({"tagStatus":"any","storageClass":"standard","countType":"sinceImageTransitioned","countUnit":"days","countNumber":100})"),
          {kP2, "storageClass 'archive' is required"}),

      // --- action
      Bad("action_type_unknown",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})",
                 R"({"type":"delete"})"),
          {kP2, "action type must be 'expire' or 'transition', not 'delete'"}),
      Bad("action_type_missing",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})", "{}"),
          {kP2, "'action.type' is required"}),
      Bad("transition_without_target",
          Second(
              R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30})",
              R"({"type":"transition"})"),
          {kP2, "targetStorageClass 'archive' is required when action type is 'transition'"}),
      Bad("transition_to_standard",
          Second(
              R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30})",
              R"({"type":"transition","targetStorageClass":"standard"})"),
          {kP2, "targetStorageClass must be 'archive', not 'standard'"}),
      Bad("target_on_expire",
          Second(R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})",
                 R"({"type":"expire","targetStorageClass":"archive"})"),
          {kP2, "targetStorageClass may only be specified when action type is 'transition'"}),
      Bad("pulled_with_expire",
          Second(
              R"({"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90})"),
          {kP2, "countType 'sinceImagePulled' can only be used with action type 'transition'"}),
      // Transition only from standard: an archive selection must be sinceImageTransitioned,
      // which must expire.
      Bad("transition_from_archive",
          Second(
              R"({"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365})",
              kArchive),
          {kP2, "countType 'sinceImageTransitioned' can only be used with action type 'expire'"}),
      Bad("transitioned_89_days",
          Second(
              R"({"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":89})"),
          {kP2, "countNumber must be at least 90"}),

      // --- across rules
      Bad("any_not_last",
          Doc({RuleJson(1,
                        R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":9})"),
               RuleJson(
                   2,
                   R"({"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1})")}),
          {"Rule with priority 1: a rule with tagStatus 'any' must have the highest rulePriority",
           "Rule with priority 2 comes after it"}),
      Bad("two_any_rules_same_class",
          Doc({kOkRule1,
               RuleJson(
                   2,
                   R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30})"),
               RuleJson(
                   3, R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":9})")}),
          {kP2, "tagStatus 'any' must have the highest rulePriority"}),
      Bad("two_untagged_rules",
          Doc({kOkRule1,
               RuleJson(
                   2,
                   R"({"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":30})"),
               RuleJson(
                   3,
                   R"({"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":9})")}),
          {"Rule with priority 3: only one rule selecting storage class 'standard' may select "
           "untagged images, and Rule with priority 2 already does"}),
      Bad("same_prefix_set_twice",
          Doc({RuleJson(
                   1,
                   R"({"tagStatus":"tagged","tagPrefixList":["prod","beta"],"countType":"imageCountMoreThan","countNumber":5})"),
               RuleJson(
                   2, R"({"tagStatus":"tagged","tagPrefixList":["beta","prod"],"countType":"sinceImagePushed","countUnit":"days","countNumber":30})")}),
          {kP2, "unique set of tag prefixes", "Rule with priority 1 has the same tagPrefixList"}),
  };
}

class PolicyParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(PolicyParseTest, AcceptsOrRefuses) {
  const ParseCase& c = GetParam();
  Result<Policy> p = ParsePolicy(c.text);
  if (c.valid) {
    EXPECT_TRUE(p.ok()) << c.text << "\n" << p.error().message;
    return;
  }
  ASSERT_FALSE(p.ok()) << "accepted: " << c.text;
  EXPECT_EQ(p.error().code, Errc::kInvalidArgument) << p.error().message;
  EXPECT_EQ(p.error().message.rfind(kPrefix, 0), 0u) << p.error().message;
  EXPECT_EQ(p.error().message.back(), '\'') << p.error().message;
  for (const auto& part : c.message_parts) {
    EXPECT_NE(p.error().message.find(part), std::string::npos)
        << "message lacks \"" << part << "\": " << p.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyParseTest, ::testing::ValuesIn(ParseCases()),
                         CaseName<ParseCase>);

// ---------------------------------------------------------------------------------------------
// Evaluate()

struct Want {
  std::string digest;
  ActionType type;
  int64_t priority;
  bool referrer = false;
};

Want E(std::string d, int64_t p) { return {std::move(d), ActionType::kExpire, p}; }
Want T(std::string d, int64_t p) { return {std::move(d), ActionType::kTransition, p}; }
Want ER(std::string d, int64_t p) { return {std::move(d), ActionType::kExpire, p, true}; }
Want TR(std::string d, int64_t p) { return {std::move(d), ActionType::kTransition, p, true}; }

struct EvalCase {
  std::string name;
  std::string policy;
  std::vector<Image> images;
  std::vector<Want> want;  // in output order
};
void PrintTo(const EvalCase& c, std::ostream* os) { *os << c.name; }

// Shorthands for the images of a case.
Image Img(std::string digest, std::vector<std::string> tags, int64_t pushed_at) {
  Image i;
  i.digest = std::move(digest);
  i.tags = std::move(tags);
  i.pushed_at = pushed_at;
  return i;
}
Image Pulled(Image i, int64_t at) {
  i.last_pulled_at = at;
  return i;
}
Image Restored(Image i, int64_t at) {
  i.last_activated_at = at;
  return i;
}
Image InArchive(Image i, int64_t archived_at) {
  i.storage_class = StorageClass::kArchive;
  i.archived_at = archived_at;
  return i;
}
Image Referring(Image i, std::string subject) {
  i.subject = std::move(subject);
  return i;
}
Image Index(Image i, std::vector<std::string> children) {
  i.children = std::move(children);
  return i;
}

// "Filtering on multiple rules": the repository of examples A and B.
std::vector<Image> MultiRulesRepo() {
  return {Img("A", {"beta-1", "prod-1"}, DaysAgo(10)), Img("B", {"beta-2", "prod-2"}, DaysAgo(9)),
          Img("C", {"beta-3"}, DaysAgo(8))};
}
// "Filtering on multiple tags in a single rule", example A.
std::vector<Image> MultiTagsARepo() {
  return {Img("A", {"alpha-1"}, DaysAgo(12)),
          Img("B", {"beta-1"}, DaysAgo(11)),
          Img("C", {"alpha-2", "beta-2"}, DaysAgo(10)),
          Img("D", {"alpha-3"}, DaysAgo(4)),
          Img("E", {"beta-3"}, DaysAgo(3)),
          Img("F", {"alpha-4", "beta-4"}, DaysAgo(2))};
}
// Example B.
std::vector<Image> MultiTagsBRepo() {
  return {Img("A", {"alpha-1", "beta-1", "gamma-1"}, DaysAgo(10)),
          Img("B", {"alpha-2", "beta-2"}, DaysAgo(9)),
          Img("C", {"alpha-3", "beta-3", "gamma-2"}, DaysAgo(8))};
}
// "Filtering on all images", example B. E is newer than D and less than a day old.
std::vector<Image> AllImagesBRepo() {
  return {Img("A", {"alpha-1", "beta-1"}, DaysAgo(4)), Img("B", {}, DaysAgo(3)),
          Img("C", {"alpha-2"}, DaysAgo(2)), Img("D", {"git hash"}, HoursAgo(23)),
          Img("E", {}, HoursAgo(22))};
}

const std::string kUntaggedOlderThan1Day = Doc({RuleJson(
    1,
    R"({"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1})")});
const std::string kUntaggedKeep1 = kEx4Count;
const std::string kAnyKeep1Transition = Doc({RuleJson(
    1, R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1})", kArchive)});
const std::string kAnyOlderThan30Transition = Doc({RuleJson(
    1, R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30})",
    kArchive)});
const std::string kTaggedOldExpire = Doc({RuleJson(
    1,
    R"({"tagStatus":"tagged","tagPatternList":["old*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":7})")});
const std::string kAnyKeep1 = kEx9AllA;
const std::string kAnyOlderThan14 = Doc({RuleJson(
    1,
    R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":14})")});

std::vector<EvalCase> EvalCases() {
  return {
      // --- "Examples of lifecycle policies in Amazon ECR", each with its repository and outcome
      // (the examples without one get a small derived repository).
      {"ex1_age_pattern",
       kEx1AgePattern,
       {Img("prod-1", {"prod-1"}, DaysAgo(20)), Img("prod-2", {"prod-2"}, DaysAgo(3)),
        Img("dev-1", {"dev-1"}, DaysAgo(30)), Img("untagged", {}, DaysAgo(30))},
       {E("prod-1", 1)}},
      {"ex1_age_untagged_old",
       kEx1AgeUntaggedOld,
       {Img("U1", {}, DaysAgo(20)), Img("U2", {}, DaysAgo(3)), Img("T", {"v1"}, DaysAgo(30))},
       {E("U1", 1)}},
      // X pulled 100 days ago; Y pulled recently; Z never pulled (push time); W restored 30 days
      // ago and not pulled since (last_activated_at); V restored before its last pull (pull time).
      {"ex2_pulled_fallbacks",
       kEx2Pulled,
       {Pulled(Img("X", {"x"}, DaysAgo(200)), DaysAgo(100)),
        Pulled(Img("Y", {"y"}, DaysAgo(200)), DaysAgo(10)), Img("Z", {}, DaysAgo(120)),
        Restored(Pulled(Img("W", {"w"}, DaysAgo(200)), DaysAgo(150)), DaysAgo(30)),
        Pulled(Restored(Img("V", {"v"}, DaysAgo(200)), DaysAgo(120)), DaysAgo(100)),
        InArchive(Img("archived", {}, DaysAgo(300)), DaysAgo(100))},
       {T("V", 1), T("X", 1), T("Z", 1)}},
      {"ex3_transitioned",
       kEx3Transitioned,
       {InArchive(Img("R", {"r"}, DaysAgo(500)), DaysAgo(400)),
        InArchive(Img("S", {}, DaysAgo(500)), DaysAgo(100)), Img("active", {}, DaysAgo(1000))},
       {E("R", 1)}},
      {"ex4_count_untagged",
       kEx4Count,
       {Img("U1", {}, DaysAgo(3)), Img("U2", {}, DaysAgo(2)), Img("U3", {}, DaysAgo(1)),
        Img("T", {"v1"}, DaysAgo(5))},
       {E("U1", 1), E("U2", 1)}},
      // "Image A has already been seen by Rule 1 and if Image B were expired it would violate
      // Rule 1 and thus is skipped." "Result: Image A is expired."
      {"ex5_multi_rules_a", kEx5MultiA, MultiRulesRepo(), {E("A", 1)}},
      {"ex5_multi_rules_a_old", kEx5MultiAOld, MultiRulesRepo(), {E("A", 1)}},
      // "Result: Images A and B are expired."
      {"ex6_multi_rules_b", kEx6MultiB, MultiRulesRepo(), {E("A", 1), E("B", 1)}},
      {"ex6_multi_rules_b_old", kEx6MultiBOld, MultiRulesRepo(), {E("A", 1), E("B", 1)}},
      // "It sees images C and F. It should mark images that are older than five days, which
      // would be Image C."
      {"ex7_multi_tags_a", kEx7TagsA, MultiTagsARepo(), {E("C", 1)}},
      {"ex7_multi_tags_a_old", kEx7TagsAOld, MultiTagsARepo(), {E("C", 1)}},
      // "It marks image A and B for expiration."
      {"ex8_multi_tags_b", kEx8TagsB, MultiTagsBRepo(), {E("A", 1), E("B", 1)}},
      {"ex8_multi_tags_b_old", kEx8TagsBOld, MultiTagsBRepo(), {E("A", 1), E("B", 1)}},
      // "It marks images A, B, and C for expiration."
      {"ex9_all_images_a",
       kEx9AllA,
       {Img("A", {"alpha-1"}, DaysAgo(4)), Img("B", {"beta-1"}, DaysAgo(3)),
        Img("C", {}, DaysAgo(2)), Img("D", {"alpha-2"}, DaysAgo(1))},
       {E("A", 1), E("B", 1), E("C", 1)}},
      // "Result: Images A, B, and D are expired." Rule 3 counts A, B, C and E although higher
      // rules matched them, and so reaches D.
      {"ex10_all_images_b", kEx10AllB, AllImagesBRepo(), {E("A", 1), E("B", 2), E("D", 3)}},
      {"ex10_all_images_b_old", kEx10AllBOld, AllImagesBRepo(), {E("A", 1), E("B", 2), E("D", 3)}},
      {"ex11_archive_by_age",
       kEx11ArchiveAge,
       {Img("prod-1", {"prod-1"}, DaysAgo(40)), Img("prod-2", {"prod-2"}, DaysAgo(5)),
        Img("untagged", {}, DaysAgo(100)),
        InArchive(Img("prod-3", {"prod-3"}, DaysAgo(400)), DaysAgo(300))},
       {T("prod-1", 1)}},
      {"ex13_archive_then_expire",
       kEx13Combined,
       {Img("P", {"p"}, DaysAgo(40)), Img("Q", {}, DaysAgo(10)),
        InArchive(Img("R", {"r"}, DaysAgo(800)), DaysAgo(400)),
        InArchive(Img("S", {}, DaysAgo(300)), DaysAgo(100))},
       {T("P", 1), E("R", 2)}},

      // --- matching, counting and shadowing
      // Rule 1 matches the prod images without marking them; rule 2 still counts them (the two
      // newest, so they use up its count of 2) but may only act on the dev images.
      {"matched_by_higher_rule_counted_not_acted",
       Doc({RuleJson(
                1,
                R"({"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":30})"),
            RuleJson(2,
                     R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2})")}),
       {Img("prod-1", {"prod-1"}, DaysAgo(2)), Img("prod-2", {"prod-2"}, DaysAgo(1)),
        Img("dev-1", {"dev-1"}, DaysAgo(8)), Img("dev-2", {"dev-2"}, DaysAgo(7)),
        Img("dev-3", {"dev-3"}, DaysAgo(6))},
       {E("dev-1", 2), E("dev-2", 2), E("dev-3", 2)}},
      // The same rule 2 over images that rule 1 matches but are old: they are counted, and
      // protected although rule 2 would take them.
      {"matched_old_images_protected",
       Doc({RuleJson(
                1,
                R"({"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":30})"),
            RuleJson(2,
                     R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2})")}),
       {Img("prod-1", {"prod-1"}, DaysAgo(10)), Img("prod-2", {"prod-2"}, DaysAgo(9)),
        Img("dev-1", {"dev-1"}, DaysAgo(8)), Img("dev-2", {"dev-2"}, DaysAgo(7)),
        Img("dev-3", {"dev-3"}, DaysAgo(1))},
       {E("dev-1", 2)}},
      {"without_higher_rule_all_counted_acted",
       Doc({RuleJson(2,
                     R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2})")}),
       {Img("prod-1", {"prod-1"}, DaysAgo(10)), Img("prod-2", {"prod-2"}, DaysAgo(9)),
        Img("dev-1", {"dev-1"}, DaysAgo(8)), Img("dev-2", {"dev-2"}, DaysAgo(7)),
        Img("dev-3", {"dev-3"}, DaysAgo(1))},
       {E("prod-1", 2), E("prod-2", 2), E("dev-1", 2)}},
      {"prefix_is_a_prefix_not_a_substring",
       Doc({RuleJson(
           1,
           R"({"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1})")}),
       {Img("production", {"production"}, DaysAgo(5)), Img("preprod", {"preprod"}, DaysAgo(5)),
        Img("prod", {"prod"}, DaysAgo(5))},
       {E("prod", 1), E("production", 1)}},
      {"pattern_contains",
       Doc({RuleJson(
           1,
           R"({"tagStatus":"tagged","tagPatternList":["*prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1})")}),
       {Img("repo-production", {"repo-production"}, DaysAgo(5)),
        Img("prod-team", {"prod-team"}, DaysAgo(4)), Img("dev", {"dev"}, DaysAgo(5))},
       {E("repo-production", 1), E("prod-team", 1)}},
      {"pattern_without_wildcard_is_exact",
       Doc({RuleJson(
           1,
           R"({"tagStatus":"tagged","tagPatternList":["latest"],"countType":"imageCountMoreThan","countNumber":1})")}),
       {Img("L1", {"latest"}, DaysAgo(5)), Img("L2", {"latest-1"}, DaysAgo(4)),
        Img("L3", {"latest", "v3"}, DaysAgo(3))},
       {E("L1", 1)}},
      // Tags are not exclusive: one tag may satisfy several entries of the list.
      {"one_tag_satisfies_two_prefixes",
       Doc({RuleJson(
           1,
           R"({"tagStatus":"tagged","tagPrefixList":["pro","prod"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1})")}),
       {Img("A", {"prod1"}, DaysAgo(5)), Img("B", {"pro1"}, DaysAgo(5))},
       {E("A", 1)}},
      {"tagged_rule_skips_untagged",
       Doc({RuleJson(
           1,
           R"({"tagStatus":"tagged","tagPatternList":["*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1})")}),
       {Img("T", {"anything"}, DaysAgo(5)), Img("U", {}, DaysAgo(5))},
       {E("T", 1)}},
      {"untagged_rule_skips_tagged",
       kUntaggedOlderThan1Day,
       {Img("T", {"v1"}, DaysAgo(5)), Img("U", {}, DaysAgo(5))},
       {E("U", 1)}},
      {"any_matches_every_image",
       kAnyOlderThan14,
       {Img("T", {"v1"}, DaysAgo(15)), Img("U", {}, DaysAgo(16)), Img("N", {"new"}, DaysAgo(2))},
       {E("U", 1), E("T", 1)}},
      {"count_not_exceeded", kAnyKeep1, {Img("only", {}, DaysAgo(100))}, {}},
      {"no_images", kAnyKeep1, {}, {}},
      // "older than": an image exactly 14 days old stays; one second more and it goes.
      {"since_pushed_boundary",
       kAnyOlderThan14,
       {Img("exact", {}, DaysAgo(14)), Img("older", {}, DaysAgo(14) - 1),
        Img("future", {}, kNow + kDay)},
       {E("older", 1)}},
      // Equal push times: the greater digest counts as the newer one.
      {"count_ties_by_digest",
       kAnyKeep1,
       {Img("sha256:c", {}, DaysAgo(1)), Img("sha256:a", {}, DaysAgo(1)),
        Img("sha256:b", {}, DaysAgo(1))},
       {E("sha256:a", 1), E("sha256:b", 1)}},
      // A restored image is ordered by last_activated_at: it counts as the newest.
      {"count_restored_image_by_activation",
       kAnyKeep1,
       {Restored(Img("restored", {}, DaysAgo(100)), DaysAgo(1)), Img("recent", {}, DaysAgo(10))},
       {E("recent", 1)}},
      // sinceImagePushed is documented on pushed_at_time alone.
      {"since_pushed_ignores_restore",
       kAnyOlderThan14,
       {Restored(Img("restored", {}, DaysAgo(100)), DaysAgo(1))},
       {E("restored", 1)}},
      {"since_pulled_never_pulled_restored",
       kEx2Pulled,
       {Restored(Img("long-ago", {}, DaysAgo(300)), DaysAgo(100)),
        Restored(Img("lately", {}, DaysAgo(300)), DaysAgo(30))},
       {T("long-ago", 1)}},
      {"since_pulled_boundary",
       kEx2Pulled,
       {Pulled(Img("exact", {}, DaysAgo(200)), DaysAgo(90)),
        Pulled(Img("older", {}, DaysAgo(200)), DaysAgo(90) - 1)},
       {T("older", 1)}},
      // An archived image with no recorded archive time is never expired by age.
      {"transitioned_without_archive_time",
       kEx3Transitioned,
       {InArchive(Img("unknown", {}, DaysAgo(1000)), 0)},
       {}},
      {"priority_gaps_reported",
       Doc({RuleJson(
                10,
                R"({"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1})"),
            RuleJson(
                20,
                R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":5})")}),
       {Img("v1", {"v1"}, DaysAgo(9)), Img("v2", {"v2"}, DaysAgo(8)), Img("u", {}, DaysAgo(7))},
       {E("v1", 10), E("u", 20)}},
      // Output: rule priority order, then oldest push first, ties by digest.
      {"output_order",
       Doc({RuleJson(
                2,
                R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":5})"),
            RuleJson(
                1,
                R"({"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":5})")}),
       {Img("t-new", {"t"}, DaysAgo(6)), Img("u-b", {}, DaysAgo(7)),
        Img("t-old", {"t"}, DaysAgo(9)), Img("u-a", {}, DaysAgo(7)), Img("u-old", {}, DaysAgo(8))},
       {E("u-old", 1), E("u-a", 1), E("u-b", 1), E("t-old", 2), E("t-new", 2)}},
      {"duplicate_digest_ignored",
       kAnyKeep1,
       {Img("A", {}, DaysAgo(5)), Img("B", {}, DaysAgo(1)), Img("A", {}, DaysAgo(0))},
       {E("A", 1)}},

      // --- storage classes and transitions
      {"standard_rule_skips_archived",
       kUntaggedOlderThan1Day,
       {InArchive(Img("archived", {}, DaysAgo(50)), DaysAgo(40)), Img("active", {}, DaysAgo(50))},
       {E("active", 1)}},
      // Archived images are neither counted nor moved again by a transition rule.
      {"transition_counts_only_standard",
       kAnyKeep1Transition,
       {Img("S1", {}, DaysAgo(5)), Img("S2", {}, DaysAgo(3)),
        InArchive(Img("A1", {}, DaysAgo(1)), DaysAgo(1))},
       {T("S1", 1)}},

      // --- image index children ("If an image is referenced by a manifest list, it cannot be
      // expired or archived without the manifest list being deleted or archived first.")
      {"index_children_protected",
       kUntaggedOlderThan1Day,
       {Index(Img("idx", {"v1"}, DaysAgo(10)), {"c1", "c2"}), Img("c1", {}, DaysAgo(10)),
        Img("c2", {}, DaysAgo(10)), Img("loose", {}, DaysAgo(10))},
       {E("loose", 1)}},
      {"index_expired_frees_its_children",
       Doc({RuleJson(
                1,
                R"({"tagStatus":"tagged","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1})"),
            RuleJson(
                2,
                R"({"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1})")}),
       {Index(Img("idx1", {"v1"}, DaysAgo(20)), {"c1"}), Img("c1", {}, DaysAgo(20)),
        Index(Img("idx2", {"v2"}, DaysAgo(5)), {"c2"}), Img("c2", {}, DaysAgo(5))},
       {E("idx1", 1), E("c1", 2)}},
      {"child_of_two_indexes_one_kept",
       kAnyKeep1,
       {Index(Img("old-idx", {"v1"}, DaysAgo(20)), {"shared"}),
        Index(Img("new-idx", {"v2"}, DaysAgo(1)), {"shared"}), Img("shared", {}, DaysAgo(20))},
       {E("old-idx", 1)}},
      // Nested: outer index kept -> inner index protected -> its child protected too.
      {"nested_index_protection_cascades",
       kUntaggedOlderThan1Day,
       {Index(Img("outer", {"release"}, DaysAgo(9)), {"inner"}),
        Index(Img("inner", {}, DaysAgo(9)), {"leaf"}), Img("leaf", {}, DaysAgo(9))},
       {}},
      {"nested_index_all_expire",
       kAnyOlderThan14,
       {Index(Img("outer", {"release"}, DaysAgo(30)), {"inner"}),
        Index(Img("inner", {}, DaysAgo(30)), {"leaf"}), Img("leaf", {}, DaysAgo(30))},
       {E("inner", 1), E("leaf", 1), E("outer", 1)}},
      {"index_transitioned_with_children",
       kAnyOlderThan30Transition,
       {Index(Img("idx", {"v1"}, DaysAgo(40)), {"c1"}), Img("c1", {}, DaysAgo(40))},
       {T("c1", 1), T("idx", 1)}},
      {"index_kept_child_not_transitioned",
       kAnyOlderThan30Transition,
       {Index(Img("idx", {"v1"}, DaysAgo(5)), {"c1"}), Img("c1", {}, DaysAgo(40))},
       {}},
      {"archived_index_child_may_transition",
       kAnyOlderThan30Transition,
       {InArchive(Index(Img("idx", {"v1"}, DaysAgo(40)), {"c1"}), DaysAgo(10)),
        Img("c1", {}, DaysAgo(40))},
       {T("c1", 1)}},
      // Deleting a child of an archived (not deleted) index would break its restore.
      {"archived_index_child_not_expired",
       kUntaggedOlderThan1Day,
       {InArchive(Index(Img("idx", {"v1"}, DaysAgo(40)), {"c1"}), DaysAgo(10)),
        Img("c1", {}, DaysAgo(40))},
       {}},

      // --- referrers (signatures, SBOMs): "Amazon ECR lifecycle policies automatically expire
      // or archive those artifacts ... of the deletion or archival of the subject image."
      {"referrer_expires_with_subject",
       kTaggedOldExpire,
       {Img("S", {"old-1"}, DaysAgo(20)), Referring(Img("sig", {}, DaysAgo(19)), "S"),
        Img("K", {"keep"}, DaysAgo(20)), Referring(Img("sig-k", {}, DaysAgo(19)), "K")},
       {E("S", 1), ER("sig", 1)}},
      {"referrers_recursive",
       kTaggedOldExpire,
       {Img("S", {"old-1"}, DaysAgo(20)), Referring(Img("sbom", {}, DaysAgo(19)), "S"),
        Referring(Img("sbom-sig", {}, DaysAgo(18)), "sbom"),
        Referring(Img("sig", {}, DaysAgo(19)), "S")},
       {E("S", 1), ER("sbom", 1), ER("sig", 1), ER("sbom-sig", 1)}},
      // A referrer takes its subject's rule priority, whatever its own age or tags.
      {"referrer_takes_subject_priority",
       Doc({RuleJson(
                1,
                R"({"tagStatus":"tagged","tagPrefixList":["keep"],"countType":"imageCountMoreThan","countNumber":100})"),
            RuleJson(
                2,
                R"({"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":5})")}),
       {Img("S", {"v1"}, DaysAgo(10)), Referring(Img("sig", {"keep-sig"}, DaysAgo(1)), "S")},
       {E("S", 2), ER("sig", 2)}},
      // Referrers are not selected, so they are not counted: with them counted, "newest-sig"
      // would be kept and both untagged images expired.
      {"referrers_not_counted",
       kUntaggedKeep1,
       {Img("U1", {}, DaysAgo(3)), Img("U2", {}, DaysAgo(1)), Img("T", {"v1"}, DaysAgo(5)),
        Referring(Img("newest-sig", {}, HoursAgo(1)), "T")},
       {E("U1", 1)}},
      {"referrer_of_kept_subject_stays",
       kUntaggedOlderThan1Day,
       {Img("T", {"v1"}, DaysAgo(50)), Referring(Img("old-sig", {}, DaysAgo(50)), "T")},
       {}},
      {"orphan_referrer_left_alone",
       kUntaggedOlderThan1Day,
       {Referring(Img("orphan", {}, DaysAgo(50)), "sha256:gone")},
       {}},
      {"referrer_transitions_with_subject",
       kAnyOlderThan30Transition,
       {Img("S", {"v1"}, DaysAgo(40)), Referring(Img("sig", {}, DaysAgo(1)), "S"),
        InArchive(Referring(Img("old-sig", {}, DaysAgo(2)), "S"), DaysAgo(1)),
        Referring(Img("old-sig-sig", {}, DaysAgo(1)), "old-sig")},
       {T("S", 1), TR("old-sig-sig", 1), TR("sig", 1)}},
      // A referrer that an image index still lists stays with the index.
      {"referrer_listed_by_kept_index",
       kTaggedOldExpire,
       {Img("S", {"old-1"}, DaysAgo(20)), Referring(Img("att", {}, DaysAgo(20)), "S"),
        Index(Img("idx", {"keep"}, DaysAgo(1)), {"att"})},
       {E("S", 1)}},
      // A protected index child does not take its referrers with it.
      {"protected_child_keeps_referrers",
       kUntaggedOlderThan1Day,
       {Index(Img("idx", {"v1"}, DaysAgo(10)), {"c1"}), Img("c1", {}, DaysAgo(10)),
        Referring(Img("c1-sig", {}, DaysAgo(10)), "c1")},
       {}},
  };
}

class EvaluateTest : public ::testing::TestWithParam<EvalCase> {};

std::string Describe(const std::vector<Action>& actions) {
  std::string s;
  for (const Action& a : actions) {
    s += "  " + std::string(ActionTypeName(a.type)) + " " + a.digest + " rule " +
         std::to_string(a.rule_priority) + (a.referrer ? " (referrer)" : "") + "\n";
  }
  return s.empty() ? "  (none)\n" : s;
}

TEST_P(EvaluateTest, ActsAsDocumented) {
  const EvalCase& c = GetParam();
  Result<Policy> policy = ParsePolicy(c.policy);
  ASSERT_TRUE(policy.ok()) << policy.error().message;
  std::vector<Action> got = Evaluate(*policy, c.images, kNow);
  std::vector<Action> want;
  for (const Want& w : c.want) {
    want.push_back(Action{.digest = w.digest,
                          .type = w.type,
                          .target = StorageClass::kArchive,
                          .rule_priority = w.priority,
                          .referrer = w.referrer});
  }
  bool same = got.size() == want.size();
  for (size_t i = 0; same && i < got.size(); ++i) {
    same = got[i].digest == want[i].digest && got[i].type == want[i].type &&
           got[i].target == StorageClass::kArchive &&
           got[i].rule_priority == want[i].rule_priority && got[i].referrer == want[i].referrer;
  }
  EXPECT_TRUE(same) << "got:\n" << Describe(got) << "want:\n" << Describe(want);
}

INSTANTIATE_TEST_SUITE_P(Cases, EvaluateTest, ::testing::ValuesIn(EvalCases()), CaseName<EvalCase>);

// ---------------------------------------------------------------------------------------------
// TagPatternMatches()

struct PatternCase {
  std::string name;
  std::string pattern;
  std::string tag;
  bool match;
};
void PrintTo(const PatternCase& c, std::ostream* os) { *os << c.name; }

std::vector<PatternCase> PatternCases() {
  // The docs' examples: "prod*" matches "prod", "prod1", "production-team1"; "*prod*" matches
  // "repo-production" and "prod-team".
  return {
      {"prefix_exact", "prod*", "prod", true},
      {"prefix_digit", "prod*", "prod1", true},
      {"prefix_long", "prod*", "production-team1", true},
      {"prefix_miss", "prod*", "preprod", false},
      {"contains_middle", "*prod*", "repo-production", true},
      {"contains_start", "*prod*", "prod-team", true},
      {"no_wildcard_exact", "latest", "latest", true},
      {"no_wildcard_longer", "latest", "latest-1", false},
      {"case_sensitive", "prod*", "Prod1", false},
      {"star_alone", "*", "anything", true},
      {"suffix", "*-rc", "1.0-rc", true},
      {"suffix_miss", "*-rc", "1.0-rc1", false},
      {"four_stars_backtrack", "*test*1*2*3", "xtestytest1a2b3", true},
      {"four_stars_miss", "test*1*2*3*", "test1-3-2", false},
      {"empty_star_runs", "a**b", "ab", true},
  };
}

class TagPatternTest : public ::testing::TestWithParam<PatternCase> {};

TEST_P(TagPatternTest, Matches) {
  const PatternCase& c = GetParam();
  EXPECT_EQ(TagPatternMatches(c.pattern, c.tag), c.match) << c.pattern << " vs " << c.tag;
}

INSTANTIATE_TEST_SUITE_P(Cases, TagPatternTest, ::testing::ValuesIn(PatternCases()),
                         CaseName<PatternCase>);

// ---------------------------------------------------------------------------------------------

TEST(LifecycleTablesTest, CountCases) {
  EXPECT_TRUE(NamesAreUnique(ParseCases()));
  EXPECT_TRUE(NamesAreUnique(EvalCases()));
  EXPECT_TRUE(NamesAreUnique(PatternCases()));
  const size_t total = ParseCases().size() + EvalCases().size() + PatternCases().size();
  std::cout << "lifecycle_test: " << ParseCases().size() << " parse + " << EvalCases().size()
            << " evaluate + " << PatternCases().size() << " pattern = " << total << " cases\n";
  EXPECT_GE(total, 60u);
}

TEST(LifecyclePolicyTest, ParseKeepsFieldsInPriorityOrder) {
  Result<Policy> p = ParsePolicy(kEx13Combined);
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->rules.size(), 2u);
  const Rule& archive = p->rules[0];
  EXPECT_EQ(archive.priority, 1);
  EXPECT_EQ(archive.description, "Archive images older than 30 days");
  EXPECT_EQ(archive.tag_status, TagStatus::kAny);
  EXPECT_EQ(archive.storage_class, StorageClass::kStandard);
  EXPECT_EQ(archive.count_type, CountType::kSinceImagePushed);
  EXPECT_EQ(archive.count_number, 30);
  EXPECT_EQ(archive.action, ActionType::kTransition);
  EXPECT_EQ(archive.target, StorageClass::kArchive);
  const Rule& expire = p->rules[1];
  EXPECT_EQ(expire.priority, 2);
  EXPECT_EQ(expire.storage_class, StorageClass::kArchive);
  EXPECT_EQ(expire.count_type, CountType::kSinceImageTransitioned);
  EXPECT_EQ(expire.count_number, 365);
  EXPECT_EQ(expire.action, ActionType::kExpire);

  Result<Policy> reordered = ParsePolicy(Doc(
      {RuleJson(9, R"({"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3})"),
       RuleJson(
           4,
           R"({"tagStatus":"tagged","tagPrefixList":["a","b"],"countType":"imageCountMoreThan","countNumber":2})")}));
  ASSERT_TRUE(reordered.ok()) << reordered.error().message;
  ASSERT_EQ(reordered->rules.size(), 2u);
  EXPECT_EQ(reordered->rules[0].priority, 4);
  EXPECT_EQ(reordered->rules[0].tag_prefixes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(reordered->rules[1].priority, 9);
}

TEST(LifecyclePolicyTest, WireNames) {
  EXPECT_EQ(ActionTypeName(ActionType::kExpire), "EXPIRE");
  EXPECT_EQ(ActionTypeName(ActionType::kTransition), "TRANSITION");
  EXPECT_EQ(StorageClassName(StorageClass::kStandard), "STANDARD");
  EXPECT_EQ(StorageClassName(StorageClass::kArchive), "ARCHIVE");
}

TEST(LifecyclePolicyTest, EvaluateIsDeterministicUnderInputOrder) {
  Result<Policy> p = ParsePolicy(kEx10AllB);
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::vector<Image> images = AllImagesBRepo();
  std::vector<Action> first = Evaluate(*p, images, kNow);
  std::reverse(images.begin(), images.end());
  std::vector<Action> second = Evaluate(*p, images, kNow);
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].digest, second[i].digest);
    EXPECT_EQ(first[i].rule_priority, second[i].rule_priority);
  }
}

}  // namespace
}  // namespace berth::lifecycle
