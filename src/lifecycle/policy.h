// ECR lifecycle policies: parsing with ECR's validation, and the pure evaluator (images in,
// actions out, no I/O). Execution (deleting, archiving, scheduling) lives in registry/ and
// server/; this module only decides.
//
// Everything here is a pure function of its arguments: no globals, no clock, no I/O, so every
// function is safe to call from any thread. Results are plain values owned by the caller.
//
// Format (ECR "Lifecycle policy properties"): {"rules": [{"rulePriority": 1, "description":
// "...", "selection": {"tagStatus": "tagged"|"untagged"|"any", "tagPrefixList": [...],
// "tagPatternList": [...], "storageClass": "standard"|"archive", "countType":
// "imageCountMoreThan"|"sinceImagePushed"|"sinceImagePulled"|"sinceImageTransitioned",
// "countUnit": "days", "countNumber": N}, "action": {"type": "expire"|"transition",
// "targetStorageClass": "archive"}}]}
//
// Sources: ECR User Guide "Automate the cleanup of images by using lifecycle policies"
// (evaluation rules), "Lifecycle policy properties" (fields), "Examples of lifecycle policies"
// (the worked examples policy_test.cc replays), "Amazon ECR service quotas" (50 rules, 30,720
// characters) and the botocore model (LifecyclePolicyText: length 100..30720).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::lifecycle {

enum class TagStatus { kTagged, kUntagged, kAny };
enum class CountType {
  kImageCountMoreThan,
  kSinceImagePushed,
  kSinceImagePulled,
  kSinceImageTransitioned,
};
enum class ActionType { kExpire, kTransition };
enum class StorageClass { kStandard, kArchive };

std::string_view ActionTypeName(ActionType t);      // "EXPIRE" | "TRANSITION" (ECR's wire form)
std::string_view StorageClassName(StorageClass c);  // "STANDARD" | "ARCHIVE"

// ECR's limits on a policy text (botocore LifecyclePolicyText; ECR service quotas).
inline constexpr size_t kMinPolicyTextLength = 100;    // characters (Unicode code points)
inline constexpr size_t kMaxPolicyTextLength = 30720;  // characters (Unicode code points)
inline constexpr size_t kMaxRules = 50;
inline constexpr int kMaxWildcardsPerPattern = 4;  // '*' per tagPatternList entry
// "Archived images have a minimum storage duration of 90 days. You cannot configure lifecycle
// policies that delete images that have been in archive for less than 90 days."
inline constexpr int64_t kMinArchiveDaysBeforeExpire = 90;

struct Rule {
  int64_t priority = 0;
  std::string description;
  TagStatus tag_status = TagStatus::kAny;
  std::vector<std::string> tag_prefixes;                 // tagPrefixList
  std::vector<std::string> tag_patterns;                 // tagPatternList ('*' wildcards)
  StorageClass storage_class = StorageClass::kStandard;  // selection.storageClass
  CountType count_type = CountType::kImageCountMoreThan;
  int64_t count_number = 0;  // images, or days for the since* types
  ActionType action = ActionType::kExpire;
  StorageClass target = StorageClass::kArchive;  // action.targetStorageClass (transition)
};

struct Policy {
  std::vector<Rule> rules;  // in priority order (lowest rulePriority first)
};

// Parses and validates a lifecycle policy text as ECR does. kInvalidArgument with a message
// that names the rule at fault, e.g. "Invalid parameter at 'LifecyclePolicyText' failed to
// satisfy constraint: 'Rule with priority 2: tagPrefixList and tagPatternList cannot both be
// specified'" (api/ecr answers it as InvalidParameterException). A rule whose rulePriority is
// itself missing or invalid is named by its position instead ("rules[3]: ...").
//
// Refused, each with its own message: a text outside 100..30720 characters; text that is not
// JSON (or not UTF-8); a top level that is not an object with exactly the key "rules"; zero or
// more than 50 rules; unknown or null fields at any level; a wrong JSON type for any field;
// rulePriority missing, not an integer, < 1 or repeated; an unknown tagStatus, countType,
// countUnit, storageClass or action type (values are case-sensitive); both tag lists in one
// rule; a tag list on an untagged or any rule; a tagged rule with no (or an empty) list; an empty
// list entry; a pattern with more than 4 '*'; countUnit missing on a since* rule or present on
// imageCountMoreThan; countNumber missing, not an integer or < 1; storageClass "archive" except
// with sinceImageTransitioned (which requires it); sinceImagePulled with expire;
// sinceImageTransitioned with transition or with countNumber < 90; transition without
// targetStorageClass "archive"; targetStorageClass on expire; an any rule that is not the last
// rule selecting its storage class; two untagged rules selecting the same storage class; two
// rules selecting the same storage class with the same set of tag prefixes.
//
// On success the rules are sorted by priority. Nothing else is normalised.
Result<Policy> ParsePolicy(std::string_view text);

// Whether `tag` matches the tagPatternList entry `pattern`: '*' matches any run of characters,
// including none; every other character matches itself (case-sensitively).
bool TagPatternMatches(std::string_view pattern, std::string_view tag);

// One image (manifest) of a repository, as the evaluator sees it.
struct Image {
  std::string digest;
  std::vector<std::string> tags;
  int64_t pushed_at = 0;          // unix seconds
  int64_t last_pulled_at = 0;     // 0: never recorded
  int64_t last_activated_at = 0;  // restored from the archive; 0: never
  int64_t archived_at = 0;        // moved to the archive; 0 when never
  StorageClass storage_class = StorageClass::kStandard;
  std::string subject;                // the manifest this one refers to (signature, SBOM), or ""
  std::vector<std::string> children;  // manifests an image index lists
};

struct Action {
  std::string digest;
  ActionType type = ActionType::kExpire;
  StorageClass target = StorageClass::kArchive;  // for transitions
  int64_t rule_priority = 0;  // the rule that took it (for a referrer: its subject's rule)
  bool referrer = false;      // taken because the image it refers to was expired (or archived)
};

// Evaluates `policy` over one repository's images at time `now` (unix seconds). Pure and
// deterministic: actions come out in rule-priority order, then oldest push first.
//
// Semantics (ECR's "Lifecycle policy evaluation rules"):
//  - A rule selects the images of its storage class that meet its tag requirement (tagged: at
//    least one tag, and every list entry matches some tag; untagged: no tags; any: all).
//    Referrers (non-empty `subject`) are never selected or counted by rules.
//  - Every rule is evaluated against the same snapshot; an image is acted on only by the
//    highest-priority rule that selects it, and only if that rule's count criterion holds.
//    Lower-priority rules still count it (imageCountMoreThan).
//  - imageCountMoreThan N keeps the N newest selected images (newest by push time, or by
//    last_activated_at for an image restored from the archive; ties: the greater digest is the
//    newer) and acts on the rest. since* N acts when the reference time is more than N*86400 s
//    before `now`: push time; last pull, else push time, replaced by last_activated_at when the
//    image was restored after its last pull; archive time (an archived image with
//    archived_at == 0 is never expired by age).
//  - An image listed in `children` of an image index is not acted on unless every index listing
//    it is expired too (for a transition: expired, transitioned or already archived).
//  - The referrers of an acted-on image get the same action (recursively; transitions skip
//    referrers already archived), with `referrer` set and the subject's rule priority, unless
//    the index rule above protects them. Referrers whose subject is absent are left alone.
//  - A transition never targets an image that is already archived.
//  - Digests are expected unique; a repeated digest is ignored after its first occurrence.
std::vector<Action> Evaluate(const Policy& policy, const std::vector<Image>& images, int64_t now);

}  // namespace berth::lifecycle
